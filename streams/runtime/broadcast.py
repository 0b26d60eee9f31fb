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
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

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
            read, behind = 0, True
            while True:
                fetched = await consumer.getmany(*self._partitions, timeout_ms=1_000,
                                                 max_records=self._max_records)
                records = [r for tp in self._partitions for r in fetched.get(tp, [])]
                if records:
                    await self._handle(self.topic, records)
                    read += len(records)
                if behind and await self._at_end(consumer):
                    behind = False
                    log.info("broadcast input caught up topic=%s records=%d", self.topic, read)
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
