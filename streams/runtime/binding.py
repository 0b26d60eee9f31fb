"""One engine bound to the log: the per-batch protocol, independent of Faust's API.

For every micro-batch of one input topic:

1. decode the values straight to columns; rows that fail go to logic.deadletter;
2. drop rows already applied (a re-delivery after a crash: each key's state remembers, per
   input topic, the offset of the last record applied to it, and a key lives on exactly one
   partition of each input topic);
3. `engine.process` the rest and publish its outputs, waiting for the broker's acks;
4. write the state of each key the batch changed to the state table, once, and wait for the
   changelog's acks;
5. return, so the caller acks the batch and its offsets may be committed.

Killed between 3 and 4, the batch is re-processed from the previous state: its outputs are
produced again with the same deterministic ids (at-least-once, idempotent). Killed between 4
and 5, the restored offsets make the re-delivered rows no-ops: no state is doubled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Protocol

import numpy as np
import orjson
import pandas as pd

from processors.base import Emit, Engine
from streams import codec
from streams.catalog import Catalog
from streams.clock import Clock
from streams.runtime.counters import Counters

log = logging.getLogger(__name__)


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


class Publisher(Protocol):
    """Sends records: awaiting `send` enqueues one (in call order) and returns an awaitable
    that resolves when the broker acked it."""

    async def send(self, topic: str, key: bytes, value: bytes) -> Awaitable[object]: ...

    async def flush(self) -> None: ...


StateTable = MutableMapping[bytes, bytes]
Outgoing = tuple[str, bytes, bytes]  # topic, key, value


class EngineBinding:
    """Feeds batches of the log to one engine, persists its state, counts what happens."""

    def __init__(
        self,
        engine: Engine,
        *,
        catalog: Catalog,
        table: StateTable,
        publisher: Publisher,
        clock: Clock,
        partition_of: Callable[[str], int],
        assigned: Callable[[], set[int]],
        read_changelog: Callable[[], Iterable[tuple[bytes | None, bytes | None]]],
    ) -> None:
        self.engine = engine
        self.counters = Counters()
        self._catalog = catalog
        self._table = table
        self._publisher = publisher
        self._clock = clock
        self._partition_of = partition_of
        self._assigned = assigned
        self._read_changelog = read_changelog
        self._restored_partitions: set[int] = set()
        # per key: input topic -> offset of the last record applied to the key's state
        self._applied: dict[str, dict[str, int]] = {}
        # per key: how many times its state was written; the newest record has the highest
        self._writes: dict[str, int] = {}
        self._next_offset: dict[tuple[str, int], int] = {}
        self._lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self.engine.name

    def next_offsets(self) -> dict[tuple[str, int], int]:
        """Next offset to process per (topic, partition) seen by this binding."""
        return dict(self._next_offset)

    # ---- lifecycle ---------------------------------------------------------------------

    async def restore(self, also: set[int] | None = None) -> None:
        """Load the state of every key of each newly assigned partition from the changelog.

        Per partition, so any sequence of assignments (a restarted worker first shares the
        group with its dead predecessor, then gets everything) restores each key exactly once.
        The changelog topic, read to its true end, is the source, not the table Faust
        recovered: Faust's recovery stops at the end offsets ListOffsets reports, which Tansu
        0.6 reports short, and it takes the last record in log order, which Tansu's compaction
        (it rewrites records at new offsets) does not keep in write order.
        """
        missing = (self._assigned() | (also or set())) - self._restored_partitions
        if not missing:
            return
        records = await asyncio.to_thread(lambda: list(self._read_changelog()))
        newest: dict[str, dict] = {}
        for raw_key, raw_value in records:
            if raw_key is None or raw_value is None:
                continue
            key = raw_key.decode()
            if self._partition_of(key) not in missing:
                continue
            value = orjson.loads(raw_value)
            # The newest state is the one written last (its write count), wherever the log
            # holds it: Tansu compacts by rewriting records at new offsets.
            if key not in newest or value["writes"] > newest[key]["writes"]:
                newest[key] = value
        for key, value in newest.items():
            self.engine.restore(key, value["state"])
            self._applied[key] = {t: int(o) for t, o in value["offsets"].items()}
            self._writes[key] = int(value["writes"])
        restored = len(newest)
        self.engine.take_dirty()
        self._restored_partitions |= missing
        self.counters.status = "running"
        log.info("engine state restored engine=%s partitions=%s keys=%d changelog_records=%d",
                 self.name, sorted(missing), restored, len(records))

    async def revoke(self, partitions: set[int]) -> None:
        """These partitions moved away: drop their keys' state (restored again if they return).

        Waits for a batch in flight to finish writing its state, so a later restore reads it.
        """
        async with self._lock:
            self._forget(partitions)

    def _forget(self, partitions: set[int]) -> None:
        for key in list(self.engine.keys()):
            if self._partition_of(key) in partitions:
                self.engine.forget(key)
                self._applied.pop(key, None)
                self._writes.pop(key, None)
        for tp in [tp for tp in self._next_offset if tp[1] in partitions]:
            del self._next_offset[tp]
        self._restored_partitions -= partitions

    # ---- batches -------------------------------------------------------------------------

    async def handle(self, topic: str, records: Sequence[SourceRecord]) -> None:
        """Process one micro-batch of `topic` (see the module docstring for the protocol)."""
        if not records:
            return
        async with self._lock:
            # A batch's partitions are restored even when a rebalance has just taken them
            # away: its records are still applied to their keys' true state (an output may
            # repeat, with the same id), never to an empty one.
            await self.restore({r.partition for r in records})
            started = time.perf_counter()
            await self._handle(topic, records)
            elapsed_ms = (time.perf_counter() - started) * 1e3
            self.counters.batches += 1
            self.counters.last_batch_ms = elapsed_ms
            self.counters.process_ms_total += elapsed_ms

    async def _handle(self, topic: str, records: Sequence[SourceRecord]) -> None:
        spec = self._catalog[topic]
        offsets = np.fromiter((r.offset for r in records), np.int64, len(records))
        self._track_offsets(topic, records, offsets)
        self.counters.events_in += len(records)
        columns, rejected = codec.decode_columns(spec.value, [r.value for r in records])
        out = [self._dead_letter(topic, records[rej.index], rej.reason) for rej in rejected]
        good = records
        if rejected:
            bad = {rej.index for rej in rejected}
            good = [r for i, r in enumerate(records) if i not in bad]
            offsets = np.delete(offsets, sorted(bad))
        if good:
            columns, offsets = self._skip_applied(topic, columns, offsets, spec.key)
            if len(offsets):
                out += self._process(topic, columns, offsets, good, spec.key)
        await self._commit_outputs(out)

    def _track_offsets(
        self, topic: str, records: Sequence[SourceRecord], offsets: np.ndarray
    ) -> None:
        """Remember each partition's next offset; report offsets that jumped forward."""
        partitions = np.fromiter((r.partition for r in records), np.int64, len(records))
        for partition in np.unique(partitions).tolist():
            mine = offsets[partitions == partition]
            expected = np.empty_like(mine)
            expected[1:] = mine[:-1] + 1
            known = self._next_offset.get((topic, partition))
            expected[0] = mine[0] if known is None else known
            for i in np.flatnonzero(mine > expected).tolist():
                self._offset_gap(topic, partition, int(expected[i]), int(mine[i]))
            self._next_offset[(topic, partition)] = int(mine[-1]) + 1

    def _offset_gap(self, topic: str, partition: int, expected: int, got: int) -> None:
        """Offsets jumped within one assignment. On a topic with delete cleanup and plain
        producers this means records were skipped on their way to the engine (the race
        streams/runtime/recovery.py closes was one such cause); transaction markers and
        compaction also leave gaps. Counted and logged, so a loss is never silent."""
        self.counters.offset_gaps += 1
        log.warning(
            "offsets jumped engine=%s topic=%s partition=%d expected=%d got=%d",
            self.name, topic, partition, expected, got,
        )

    def _skip_applied(
        self, topic: str, columns: codec.Columns, offsets: np.ndarray, key_field: str
    ) -> tuple[codec.Columns, np.ndarray]:
        keys = columns[key_field]
        inverse, uniq = pd.factorize(keys)
        applied = np.array(
            [self._applied.get(k, {}).get(topic, -1) for k in uniq], dtype=np.int64
        )
        fresh = offsets > applied[inverse]
        skipped = int((~fresh).sum())
        if skipped:
            self.counters.redelivered_skipped += skipped
            log.info("skipping re-delivered records engine=%s count=%d", self.name, skipped)
            columns = {name: col[fresh] for name, col in columns.items()}
            offsets = offsets[fresh]
        return columns, offsets

    def _process(
        self,
        topic: str,
        columns: codec.Columns,
        offsets: np.ndarray,
        good: Sequence[SourceRecord],
        key_field: str,
    ) -> list[Outgoing]:
        try:
            emits = self.engine.process(topic, columns)
        except Exception as exc:  # a bug must not stop the worker: keep the rows, say why
            log.exception("engine failed on a batch engine=%s rows=%d", self.name, len(offsets))
            self.counters.errors += 1
            self.counters.status = "degraded"
            wanted = set(offsets.tolist())
            reason = f"engine {self.name} failed: {type(exc).__name__}: {exc}"
            return [self._dead_letter(topic, r, reason) for r in good if r.offset in wanted]
        # a key's records are on one partition, in offset order: its newest is its maximum
        newest = pd.Series(offsets).groupby(columns[key_field], sort=False).max()
        for key, offset in newest.items():
            self._applied.setdefault(key, {})[topic] = int(offset)
        self.counters.last_event_ts = int(columns["ts_event"].max())
        return self._publish(emits)

    async def tick(self, now_ns: int) -> None:
        """Let time pass on the engine (time-driven closes); publish and persist the result.

        Called only once the table's changelog has been recovered, so a restarted worker with
        no new input still restores its state and closes what is due.
        """
        async with self._lock:
            await self.restore()
            await self._commit_outputs(self._publish(self.engine.on_time(now_ns)))

    # ---- outputs and state -----------------------------------------------------------------

    def _publish(self, emits: list[Emit]) -> list[Outgoing]:
        self.counters.events_out += len(emits)
        return [(e.topic, e.key.encode(), codec.encode(e.value)) for e in emits]

    def _dead_letter(self, topic: str, record: SourceRecord, reason: str) -> Outgoing:
        self.counters.dead_letters += 1
        now = self._clock.timestamp_ns()
        letter = codec.dead_letter(
            topic=topic, partition=record.partition, offset=record.offset,
            key=record.key, value=record.value, reason=reason,
            ts_event=record.timestamp * 1_000_000, ts_init=now,
        )
        log.warning(
            "dead-lettered topic=%s partition=%d offset=%d reason=%s",
            topic, record.partition, record.offset, reason,
        )
        return ("logic.deadletter", topic.encode(), codec.encode(letter))

    async def _commit_outputs(self, out: list[Outgoing]) -> None:
        """Outputs acked first, then state written and acked: see the module docstring."""
        acks = [await self._publisher.send(topic, key, value) for topic, key, value in out]
        if acks:
            await asyncio.gather(*acks)
        dirty = self.engine.take_dirty()
        for key in sorted(dirty):
            self._writes[key] = self._writes.get(key, 0) + 1
            self._table[key.encode()] = orjson.dumps({
                "writes": self._writes[key],
                "offsets": self._applied.get(key, {}),
                "state": self.engine.snapshot(key),
            })
        if dirty:
            await self._publisher.flush()
