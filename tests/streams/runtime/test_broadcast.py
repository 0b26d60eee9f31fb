"""A broadcast input's backlog reaches the engine in event-time order: engines that fold bars
period by period must not depend on how fetches interleaved the partitions."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence

from confluent_kafka.admin import NewTopic

from streams import codec, kafka
from streams.runtime.broadcast import BroadcastReader
from streams.runtime.records import SourceRecord
from tests.factories import MINUTE_NS, T0, event

PARTITIONS = 2


async def test_the_backlog_is_handed_over_in_event_time_order_across_partitions(
    kafka_brokers: str,
) -> None:
    # Arrange: a topic of two partitions, each holding one symbol's bars of the same ten
    # minutes (a fetch returns them partition by partition)
    topic = f"test-broadcast-{uuid.uuid4().hex[:8]}"
    client = kafka.admin(kafka_brokers)
    for future in client.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        future.result()
    producer = kafka.producer(kafka_brokers)
    for partition, symbol in enumerate(("AAA", "BBB")):
        for minute in range(1, 11):
            bar = event("Bar", symbol=symbol, ts_event=T0 + minute * MINUTE_NS,
                        start_ns=T0 + (minute - 1) * MINUTE_NS,
                        bar_id=f"{symbol}@1m@{T0 + (minute - 1) * MINUTE_NS}")
            producer.produce(topic, key=symbol.encode(), value=codec.encode(bar),
                             partition=partition)
    assert producer.flush(15) == 0
    handed: list[SourceRecord] = []
    caught_up = asyncio.Event()

    async def handle(_: str, records: Sequence[SourceRecord]) -> None:
        handed.extend(records)

    reader = BroadcastReader(brokers=kafka_brokers, topic=topic, partitions=PARTITIONS,
                             handle=handle, caught_up=lambda _: caught_up.set(),
                             max_records=7, fetch_max_wait_ms=20)

    # Act: read until caught up
    task = asyncio.create_task(reader.run())
    try:
        await asyncio.wait_for(caught_up.wait(), 60)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # Assert: all twenty, minute by minute, AAA before BBB within a minute (partition order)
    bars = [codec.decode("Bar", r.value) for r in handed]
    assert [(b.ts_event, b.symbol) for b in bars] == [
        (T0 + minute * MINUTE_NS, symbol) for minute in range(1, 11) for symbol in ("AAA", "BBB")]
