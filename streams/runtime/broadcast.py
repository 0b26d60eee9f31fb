"""Read a broadcast input whole, in every worker, outside the consumer group.

A broadcast input (`@handles(topic, broadcast=True)`, processors/base.py) holds records of
no key that every instance of its engine needs: the bars that mark the positions of an
engine keyed by account. Group consumption would split its partitions between the workers,
so `BroadcastReader` reads all of them with a consumer of its own (no group id, nothing
committed), from the earliest record on every start, and hands each fetch to the binding.

Why from the earliest record, with no offsets kept: a broadcast handler is idempotent per key
(a record a key's state includes changes nothing), and the state the engine derives from the
topic alone (the newest close per symbol) belongs to no key, so re-reading is what rebuilds
it; the cost is reading the topic's retention once per start. Until the reader has reached
the end the topic had when it started, the binding holds its keyed inputs back
(`EngineBinding.broadcast_caught_up`), so a restarted worker marks its fills with what the
topic holds, as the uninterrupted one did.

That backlog is handed over in event-time order (ts_event, then partition and offset), not
fetch by fetch: a fetch returns each partition's records in runs, so an hour of one
partition's bars could come before the first minute of another's, and engines that fold bars
period by period (processors/kit/returns.py: a bar of a period already folded is late and
ignored) would then depend on how fetches happened to interleave. The backlog is held in
memory until the end is reached. After that, records are handed over as fetched.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.runtime.records import SourceRecord

log = logging.getLogger(__name__)


class BroadcastReader:
    """Reads every partition of `topic` from the start and hands each fetch to `handle`;
    calls `caught_up(topic)` once it has reached the end it found."""

    def __init__(
        self, *, brokers: str, topic: str, partitions: int,
        handle: Callable[[str, Sequence[SourceRecord]], Awaitable[None]],
        caught_up: Callable[[str], None], max_records: int, fetch_max_wait_ms: int,
    ) -> None:
        self.topic = topic
        self._brokers = brokers
        self._partitions = [TopicPartition(topic, p) for p in range(partitions)]
        self._handle = handle
        self._caught_up = caught_up
        self._max_records = max_records
        self._fetch_max_wait_ms = fetch_max_wait_ms

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._brokers, group_id=None, enable_auto_commit=False,
            auto_offset_reset="earliest", fetch_max_wait_ms=self._fetch_max_wait_ms,
            max_poll_records=self._max_records,
        )
        await consumer.start()
        try:
            consumer.assign(self._partitions)
            await consumer.seek_to_beginning(*self._partitions)
            log.info("reading broadcast input whole topic=%s partitions=%d", self.topic,
                     len(self._partitions))
            backlog: list[SourceRecord] = []
            behind = True
            while True:
                fetched = await consumer.getmany(*self._partitions, timeout_ms=1_000,
                                                 max_records=self._max_records)
                records = [r for tp in self._partitions for r in fetched.get(tp, [])]
                if behind:
                    backlog += records
                elif records:
                    await self._handle(self.topic, records)
                if behind and await self._at_end(consumer):
                    behind = False
                    ordered = in_event_time_order(backlog)
                    backlog = []
                    for start in range(0, len(ordered), self._max_records):
                        await self._handle(self.topic, ordered[start:start + self._max_records])
                    log.info("broadcast input caught up topic=%s records=%d", self.topic,
                             len(ordered))
                    self._caught_up(self.topic)
        finally:
            await consumer.stop()

    async def _at_end(self, consumer: AIOKafkaConsumer) -> bool:
        """Every partition read to the high watermark its latest fetch response gave (the
        true end, unlike Tansu's ListOffsets: see streams.kafka.true_highs)."""
        for tp in self._partitions:
            high = consumer.highwater(tp)
            if high is None or await consumer.position(tp) < high:
                return False
        return True


def in_event_time_order(records: Sequence[SourceRecord]) -> list[SourceRecord]:
    """`records` by (ts_event, partition, offset); a value without a readable ts_event sorts
    first, to be dead-lettered by the handler as before."""
    def order(record: SourceRecord) -> tuple[int, int, int]:
        try:
            ts = orjson.loads(record.value)["ts_event"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            ts = None
        return (ts if isinstance(ts, int) else -1, record.partition, record.offset)

    return sorted(records, key=order)
