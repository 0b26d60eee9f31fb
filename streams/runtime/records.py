"""What the runtime consumes and produces: records, the publisher, dead letters."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from typing import Protocol

from aiokafka.partitioner import DefaultPartitioner

from streams import codec
from streams.runtime.counters import Counters

log = logging.getLogger(__name__)

Outgoing = tuple[str, bytes, bytes, int | None]  # topic, key, value, partition (None: the key's)
Header = tuple[str, bytes]
PARTITIONER = DefaultPartitioner()  # murmur2 of the key: aiokafka's producer's, and Faust's


class SourceRecord(Protocol):
    """One consumed record, as Kafka clients deliver it (aiokafka's ConsumerRecord is one);
    `timestamp` is the record's time in ms."""

    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def headers(self) -> Sequence[Header]: ...


class Publisher(Protocol):
    """Sends records: awaiting `send` enqueues one (in call order) and returns an awaitable
    that resolves when the broker acked it. `partition` None: murmur2 of the key."""

    async def send(
        self, topic: str, key: bytes, value: bytes, *, partition: int | None = None,
        timestamp_ms: int | None = None, headers: list[Header] | None = None,
    ) -> Awaitable[object]: ...

    async def flush(self) -> None: ...


def dead_letter(
    topic: str, partition: int, offset: int, record: SourceRecord, reason: str, now_ns: int,
    counters: Counters,
) -> Outgoing:
    """The logic.deadletter record of `record`, read from `topic` `partition` at `offset`
    (its source coordinates, which differ from the record's own once it was re-keyed);
    counted in `counters` and logged, so a bad record is never silent."""
    counters.dead_letters += 1
    log.warning("dead-lettered topic=%s partition=%d offset=%d reason=%s",
                topic, partition, offset, reason)
    letter = codec.dead_letter(
        topic=topic, partition=partition, offset=offset, key=record.key, value=record.value,
        reason=reason, ts_event=record.timestamp * 1_000_000, ts_init=now_ns,
    )
    return ("logic.deadletter", topic.encode(), codec.encode(letter), None)
