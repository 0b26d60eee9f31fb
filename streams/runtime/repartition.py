"""Re-key an input topic by an engine's state key (the group_by of Faust and Quix Streams).

`Repartitioner` consumes the original topic in batches, reads the engine's key field from
each value, and produces the record unchanged to the engine's repartition topic (see
streams/runtime/partitioning.py), keyed by that field, on the partition the key hashes to
(murmur2), with the record's timestamp. Each re-keyed record carries its origin, the source
topic/partition/offset, in the header `nautilus-origin` (`topic/partition/offset`).

Delivery: the handler returns only once every re-keyed record is acked, so the source offsets
are committed after that (at-least-once). A worker killed in between re-keys those records
again on restart: they reach the repartition topic twice, at new offsets, with the same
origin; the engine's binding remembers what it applied by origin, so the second copy is a
no-op (streams/runtime/binding.py). A value whose key field cannot be read goes to
logic.deadletter with its source coordinates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import orjson

from streams.clock import Clock
from streams.runtime.counters import Counters
from streams.runtime.partitioning import InputRoute
from streams.runtime.records import Outgoing, Publisher, SourceRecord, dead_letter

ORIGIN_HEADER = "nautilus-origin"


def origin_header(topic: str, partition: int, offset: int) -> tuple[str, bytes]:
    return ORIGIN_HEADER, f"{topic}/{partition}/{offset}".encode()


def origin_of(record: SourceRecord) -> tuple[int, int]:
    """The source partition and offset a re-keyed record came from."""
    for name, value in record.headers:
        if name == ORIGIN_HEADER:
            _, partition, offset = value.decode().rsplit("/", 2)
            return int(partition), int(offset)
    raise ValueError(f"record at offset {record.offset} has no {ORIGIN_HEADER} header")


class Repartitioner:
    """Re-keys one input of one engine into the engine's repartition topic."""

    def __init__(
        self,
        *,
        engine: str,
        route: InputRoute,
        key_field: str,
        partition_of: Callable[[str], int],
        publisher: Publisher,
        clock: Clock,
        counters: Counters,
    ) -> None:
        self.engine = engine
        self.route = route
        self._key_field = key_field
        self._partition_of = partition_of
        self._publisher = publisher
        self._clock = clock
        self._counters = counters
        self._next_offset: dict[tuple[str, int], int] = {}

    def next_offsets(self) -> dict[tuple[str, int], int]:
        """Next offset to re-key per (source topic, partition) seen."""
        return dict(self._next_offset)

    async def handle(self, topic: str, records: Sequence[SourceRecord]) -> None:
        """Re-key one batch of the source topic; returns once every record is acked."""
        acks = []
        letters: list[Outgoing] = []
        for record in records:
            try:
                key = self._key_of(record.value)
            except ValueError as exc:
                reason = f"cannot re-key for engine {self.engine} by {self._key_field}: {exc}"
                letters.append(dead_letter(topic, record.partition, record.offset, record,
                                           reason, self._clock.timestamp_ns(), self._counters))
                continue
            acks.append(await self._publisher.send(
                self.route.consumed, key.encode(), record.value,
                partition=self._partition_of(key), timestamp_ms=record.timestamp,
                headers=[origin_header(topic, record.partition, record.offset)],
            ))
        for out_topic, key_bytes, value, partition in letters:
            acks.append(await self._publisher.send(out_topic, key_bytes, value,
                                                   partition=partition))
        if acks:
            await asyncio.gather(*acks)
        for record in records:
            self._next_offset[(topic, record.partition)] = record.offset + 1

    def _key_of(self, value: bytes) -> str:
        try:
            doc = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON: {exc}") from None
        key = doc.get(self._key_field) if isinstance(doc, dict) else None
        if not isinstance(key, str) or not key:
            raise ValueError(f"{self._key_field} must be a non-empty string, got {key!r}")
        return key
