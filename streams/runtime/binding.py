"""One engine bound to the log: the per-batch protocol, independent of Faust's API.

The binding consumes its engine's inputs as routed by streams/runtime/partitioning.py: an
input keyed by the engine's state key directly, any other through its repartition topic. A
record's origin is where it entered the platform, (topic, partition, offset): its own
coordinates on a direct input, the `nautilus-origin` header on a re-keyed one. For every
micro-batch of one consumed topic:

1. decode the values straight to columns; rows that fail go to logic.deadletter;
2. drop rows already applied (a re-delivery after a crash, or a record re-keyed twice): per
   state partition, the binding knows the newest origin offset it handled from each origin
   partition; each key's state is written with those offsets, so it says exactly which
   records it includes, and a restarted worker skips those;
3. `engine.process` the rest and publish its outputs, waiting for the broker's acks;
4. write the state of each key the batch changed to the state table, once, and wait for the
   changelog's acks;
5. return, so the caller acks the batch and its offsets may be committed.

Killed between 3 and 4, the batch is re-processed from the previous state: its outputs are
produced again with the same deterministic ids (at-least-once, idempotent). Killed between 4
and 5 (or in the middle of 4), each key's restored offsets make its re-delivered rows
no-ops: no state is doubled.

Outputs produced again are new records to the engines that read them (new offsets), so step 2
also drops, per key, a record of a model with a `SEQUENCE` (bars, VPIN readings, feature
vectors: one symbol's records strictly increasing in those fields) that is not after the
newest of that topic the key's state has applied; the newest is written with the state (a
key whose state a record left unchanged is not written, and a copy of that record changes
it no more).
Without it a bar published twice was applied twice by the features engine and the strategies
(found by tests/streams/runtime/test_graph_kills.py: an SMA a bar early, an order a bar
early). Records of other models re-published carry ids their readers recognise (fills:
processors/kit/applied.py; orders: processors/execution/seen.py).

A broadcast input (records of no key, read whole by every worker: streams/runtime/
broadcast.py) takes a shorter path, `handle_broadcast`: decode, process, publish, write the
changed keys' state. No offsets are kept for it: its handler is idempotent per key, and the
topic is re-read from the start on every start. Keyed batches wait until every broadcast
input has been read to the end it had at the start (`broadcast_caught_up`).

Why the offsets are stored per key although they are kept per partition: a crash in the
middle of step 4 leaves some keys of a batch written and others not, so after a restart the
keys of one partition may include different records. Records of one origin partition reach
a state partition in origin-offset order (a re-keyed run repeats a stretch of them, never
skips one), so "every record of this key up to origin offset N" describes a key's state
exactly.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Iterable, MutableMapping, Sequence

import numpy as np
import orjson
import pandas as pd

from processors.base import Emit, Engine
from streams import codec
from streams.catalog import Catalog
from streams.clock import Clock
from streams.runtime.counters import Counters
from streams.runtime.partitioning import InputRoute, StatePlan
from streams.runtime.records import (
    PARTITIONER,
    Outgoing,
    Publisher,
    SourceRecord,
    dead_letter,
)
from streams.runtime.repartition import origin_of
from streams.schema import MODELS

log = logging.getLogger(__name__)

StateTable = MutableMapping[bytes, bytes]
AppliedOffsets = dict[str, int]  # origin "topic/partition" -> newest origin offset included


class EngineBinding:
    """Feeds batches of the log to one engine, persists its state, counts what happens."""

    def __init__(
        self,
        engine: Engine,
        *,
        plan: StatePlan,
        catalog: Catalog,
        table: StateTable,
        publisher: Publisher,
        clock: Clock,
        partition_of: Callable[[str], int],
        assigned: Callable[[], set[int]],
        read_changelog: Callable[[], Iterable[tuple[bytes | None, bytes | None]]],
    ) -> None:
        self.engine = engine
        self.plan = plan
        self.counters = Counters()
        self._routes = {route.consumed: route for route in plan.routes}
        self._catalog = catalog
        self._table = table
        self._publisher = publisher
        self._clock = clock
        self.partition_of = functools.cache(partition_of)
        self._assigned = assigned
        self._read_changelog = read_changelog
        self._restored_partitions: set[int] = set()
        # per state partition: origin -> newest origin offset handled (applied or skipped)
        self._handled: dict[int, AppliedOffsets] = {}
        # per state partition: origin -> an offset no key's applied offset exceeds
        self._ceiling: dict[int, AppliedOffsets] = {}
        # per key: what its state includes (written with it to the state table)
        self._applied: dict[str, AppliedOffsets] = {}
        # per key: the sequence (model's SEQUENCE fields) of the newest record applied, by topic
        self._newest: dict[str, dict[str, list]] = {}
        self._sequences = {
            route.topic: fields for route in plan.routes
            if plan.key_field == "symbol"
            and (fields := MODELS[catalog[route.topic].value].SEQUENCE) is not None
        }
        # per key: how many times its state was written; the newest record has the highest
        self._writes: dict[str, int] = {}
        self._next_offset: dict[tuple[str, int], int] = {}
        # per (consumed topic, partition): the newest ts_event taken from it
        self._newest_ts: dict[tuple[str, int], int] = {}
        self._lock = asyncio.Lock()
        self._broadcast_behind = {route.topic for route in plan.broadcast}
        self._broadcast_read = asyncio.Event()
        if not self._broadcast_behind:
            self._broadcast_read.set()

    @property
    def name(self) -> str:
        return self.engine.name

    @property
    def consumed_topics(self) -> frozenset[str]:
        """The topics this binding reads: direct inputs and repartition topics."""
        return self.plan.consumed_topics

    def next_offsets(self) -> dict[tuple[str, int], int]:
        """Next offset to process per (consumed topic, partition) seen by this binding."""
        return dict(self._next_offset)

    def event_time_reached(self) -> int | None:
        """The newest ts_event of the partition furthest behind, of those that gave records
        (None before any): catching up on a backlog (a backfill, a restart), partitions
        progress unevenly, and one already at the live edge says nothing of the others."""
        return min(self._newest_ts.values(), default=None)

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
            if self.partition_of(key) not in missing:
                continue
            value = orjson.loads(raw_value)
            # The newest state is the one written last (its write count), wherever the log
            # holds it: Tansu compacts by rewriting records at new offsets.
            if key not in newest or value["writes"] > newest[key]["writes"]:
                newest[key] = value
        for key, value in newest.items():
            self.engine.restore(key, value["state"])
            applied = self._restored_offsets(key, value)
            self._applied[key] = applied
            self._raise_ceiling(self.partition_of(key), applied)
            self._writes[key] = int(value["writes"])
            self._newest[key] = dict(value.get("newest", {}))
        self.engine.take_dirty()
        self._restored_partitions |= missing
        self.counters.status = "running"
        log.info("engine state restored engine=%s partitions=%s keys=%d changelog_records=%d",
                 self.name, sorted(missing), len(newest), len(records))

    def _restored_offsets(self, key: str, value: dict) -> AppliedOffsets:
        if "applied" in value:
            return {origin: int(offset) for origin, offset in value["applied"].items()}
        # written before offsets were kept per origin partition: {input topic: offset}, by
        # engines whose inputs were all keyed like their state (one partition per key)
        partition = self.partition_of(key)
        return {f"{topic}/{partition}": int(offset) for topic, offset in value["offsets"].items()}

    def _raise_ceiling(self, partition: int, offsets: AppliedOffsets) -> None:
        ceiling = self._ceiling.setdefault(partition, {})
        for origin, offset in offsets.items():
            if offset > ceiling.get(origin, -1):
                ceiling[origin] = offset

    async def revoke(self, partitions: set[int]) -> None:
        """These partitions moved away: drop their keys' state (restored again if they return).

        Waits for a batch in flight to finish writing its state, so a later restore reads it.
        """
        async with self._lock:
            self._forget(partitions)

    async def hold(self, partitions: set[int]) -> None:
        """A rebalance ended with `partitions` assigned: drop the state of every other one.

        Between `revoke` and the new assignment the worker may restore partitions it is about
        to lose: a tick restores what the consumer still reports as assigned (the old
        assignment, until the new one arrives), and a batch restores its own partitions. Left
        marked restored, such a partition would not be restored again when it comes back,
        after another worker changed its keys' state: its records would be applied to stale
        (or empty) state, losing what the other worker did (seen: a worker that handed half
        its partitions to a newcomer, which was then killed, took them back without their
        state, and the bars open at the kill and VPIN readings of their symbols were lost).
        """
        async with self._lock:
            self._forget(set(range(self.plan.partitions)) - partitions)

    def _forget(self, partitions: set[int]) -> None:
        if not partitions:  # every batch asks (see `handle`): no pass over every key for none
            return
        for key in list(self.engine.keys()):
            if self.partition_of(key) in partitions:
                self.engine.forget(key)
        for key in [k for k in self._applied if self.partition_of(k) in partitions]:
            del self._applied[key]
            self._writes.pop(key, None)
        for key in [k for k in self._newest if self.partition_of(k) in partitions]:
            del self._newest[key]
        for partition in partitions:
            self._handled.pop(partition, None)
            self._ceiling.pop(partition, None)
        for tp in [tp for tp in self._next_offset if tp[1] in partitions]:
            del self._next_offset[tp]
        for tp in [tp for tp in self._newest_ts if tp[1] in partitions]:
            del self._newest_ts[tp]
        self._restored_partitions -= partitions

    # ---- batches -------------------------------------------------------------------------

    def broadcast_caught_up(self, topic: str) -> None:
        """Broadcast input `topic` has been read to the end it had at the start."""
        self._broadcast_behind.discard(topic)
        if not self._broadcast_behind:
            self._broadcast_read.set()

    async def handle_broadcast(self, topic: str, records: Sequence[SourceRecord]) -> None:
        """Process one fetch of a broadcast input: applied to the keys of the partitions
        assigned now (restored first), outputs and state acked before it returns."""
        if not records:
            return
        async with self._lock:
            await self.restore()
            self.counters.events_in += len(records)
            columns, invalid = codec.decode_columns(self._catalog[topic].value,
                                                    [r.value for r in records])
            out = [self._dead_letter(topic, records[rej.index].partition,
                                     records[rej.index].offset, records[rej.index], rej.reason)
                   for rej in invalid]
            if len(columns["ts_event"]):
                valid = np.delete(np.arange(len(records)), [rej.index for rej in invalid])

                def dead_letters(reason: str) -> list[Outgoing]:
                    return [self._dead_letter(topic, records[i].partition, records[i].offset,
                                              records[i], reason) for i in valid.tolist()]

                out += self._process(topic, columns, dead_letters)
            await self._commit_outputs(out)

    async def handle(self, topic: str, records: Sequence[SourceRecord]) -> None:
        """Process one micro-batch of a consumed topic (see the module docstring)."""
        if not records:
            return
        await self._broadcast_read.wait()
        async with self._lock:
            # A batch's partitions are restored even when a rebalance has just taken them
            # away: its records are still applied to their keys' true state (an output may
            # repeat, with the same id), never to an empty one.
            partitions = {r.partition for r in records}
            await self.restore(partitions)
            started = time.perf_counter()
            await self._handle(self._routes[topic], records)
            self.counters.observe_batch((time.perf_counter() - started) * 1e3)
            # taken away meanwhile: not kept restored (see `hold`)
            self._forget(partitions - self._assigned())

    async def _handle(self, route: InputRoute, records: Sequence[SourceRecord]) -> None:
        n = len(records)
        partitions = np.fromiter((r.partition for r in records), np.int64, n)
        offsets = np.fromiter((r.offset for r in records), np.int64, n)
        self._track_offsets(route.consumed, partitions, offsets)
        self.counters.events_in += n
        origin_partitions, origin_offsets, no_origin = self._origins(
            route, records, partitions, offsets
        )
        columns, invalid = codec.decode_columns(
            self._catalog[route.topic].value, [r.value for r in records]
        )
        rejected = {rej.index: rej.reason for rej in invalid}
        rows = np.delete(np.arange(n), sorted(rejected))  # the rows `columns` holds
        if len(rows):
            self._note_event_times(route.consumed, partitions[rows], columns["ts_event"])
        if no_origin:  # decoded, but not to be applied
            keep = ~np.isin(rows, list(no_origin))
            columns = {name: col[keep] for name, col in columns.items()}
            rows = rows[keep]
            rejected = {**no_origin, **rejected}
        out = [
            self._dead_letter(route.topic, int(origin_partitions[i]), int(origin_offsets[i]),
                              records[i], reason)
            for i, reason in sorted(rejected.items())
        ]
        if len(rows):
            fresh = self._unapplied(
                route.topic, columns[self.plan.key_field], partitions[rows],
                origin_partitions[rows], origin_offsets[rows],
            )
            if route.topic in self._sequences:  # of the rows not re-delivered
                fresh[fresh] = self._after_newest(
                    route.topic, {name: col[fresh] for name, col in columns.items()})
            if not fresh.all():
                columns = {name: col[fresh] for name, col in columns.items()}
                rows = rows[fresh]
            if len(rows):
                def dead_letters(reason: str) -> list[Outgoing]:
                    return [self._dead_letter(route.topic, int(origin_partitions[i]),
                                              int(origin_offsets[i]), records[i], reason)
                            for i in rows.tolist()]

                out += self._process(route.topic, columns, dead_letters)
        await self._commit_outputs(out)

    def _origins(
        self, route: InputRoute, records: Sequence[SourceRecord], partitions: np.ndarray,
        offsets: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
        """Origin partition and offset of each record, and the records without an origin
        (only a producer other than the runtime's can write those to a repartition topic)."""
        if not route.repartitioned:
            return partitions, offsets, {}
        origin_partitions, origin_offsets = partitions.copy(), offsets.copy()
        no_origin = {}
        for i, record in enumerate(records):
            try:
                origin_partitions[i], origin_offsets[i] = origin_of(record)
            except ValueError as exc:
                no_origin[i] = str(exc)
        return origin_partitions, origin_offsets, no_origin

    def _note_event_times(self, topic: str, partitions: np.ndarray, ts: np.ndarray) -> None:
        for partition in np.unique(partitions).tolist():
            newest = int(ts[partitions == partition].max())
            key = (topic, partition)
            self._newest_ts[key] = max(newest, self._newest_ts.get(key, newest))

    def _track_offsets(self, topic: str, partitions: np.ndarray, offsets: np.ndarray) -> None:
        """Remember each partition's next offset; report offsets that jumped forward."""
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

    def _unapplied(
        self, topic: str, keys: np.ndarray, partitions: np.ndarray,
        origin_partitions: np.ndarray, origin_offsets: np.ndarray,
    ) -> np.ndarray:
        """Which rows are not in their key's state yet; remembers them as handled.

        Per (state partition, origin partition): rows beyond every key's applied offset
        are fresh at once (the steady state); only after a restart or a re-keyed repeat
        are rows compared with their own key's applied offsets.
        """
        fresh = np.ones(len(origin_offsets), dtype=bool)
        groups = (partitions << 32) | origin_partitions
        for group in np.unique(groups).tolist():
            partition, origin = group >> 32, f"{topic}/{group & 0xFFFFFFFF}"
            rows = groups == group
            offsets = origin_offsets[rows]
            ceiling = self._ceiling.setdefault(partition, {})
            if int(offsets.min()) <= ceiling.get(origin, -1):
                fresh[rows] = self._fresh_by_key(keys[rows], offsets, origin)
            newest = int(offsets.max())
            handled = self._handled.setdefault(partition, {})
            handled[origin] = max(newest, handled.get(origin, -1))
            ceiling[origin] = max(newest, ceiling.get(origin, -1))
        self._count_skipped(topic, int((~fresh).sum()), "re-delivered")
        return fresh

    def _after_newest(self, topic: str, columns: codec.Columns) -> np.ndarray:
        """Which rows come after the newest record of `topic` their key has applied (the
        others were published again: see the module docstring); remembers the newest."""
        fields = self._sequences[topic]
        keys = columns[self.plan.key_field].tolist()
        after = np.ones(len(keys), dtype=bool)
        for i, (key, *sequence) in enumerate(
                zip(keys, *(columns[f].tolist() for f in fields), strict=True)):
            newest = self._newest.setdefault(key, {})
            if topic in newest and sequence <= newest[topic]:
                after[i] = False
            else:  # written with the key's state: the state written includes this row
                newest[topic] = sequence
        self._count_skipped(topic, int((~after).sum()), "re-published")
        return after

    def _count_skipped(self, topic: str, skipped: int, why: str) -> None:
        if skipped:
            self.counters.redelivered_skipped += skipped
            log.info("skipping %s records engine=%s topic=%s count=%d",
                     why, self.name, topic, skipped)

    def _fresh_by_key(self, keys: np.ndarray, offsets: np.ndarray, origin: str) -> np.ndarray:
        inverse, uniq = pd.factorize(keys)
        applied = np.array(
            [self._applied.get(k, {}).get(origin, -1) for k in uniq], dtype=np.int64
        )
        return offsets > applied[inverse]

    def _process(
        self, topic: str, columns: codec.Columns,
        dead_letters: Callable[[str], list[Outgoing]],
    ) -> list[Outgoing]:
        try:
            emits = self.engine.process(topic, columns)
        except Exception as exc:  # a bug must not stop the worker: keep the rows, say why
            rows = len(columns["ts_event"])
            log.exception("engine failed on a batch engine=%s rows=%d", self.name, rows)
            self.counters.errors += 1
            self.counters.status = "degraded"
            return dead_letters(f"engine {self.name} failed: {type(exc).__name__}: {exc}")
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
        return [(e.topic, e.key.encode(), codec.encode(e.value),
                 None if e.partition_key is None else self._partition(e.topic, e.partition_key))
                for e in emits]

    def _partition(self, topic: str, key: str) -> int:
        """The partition of `topic` that records keyed `key` go to (murmur2, as the
        producer's default partitioner and Faust's)."""
        every = list(range(self._catalog[topic].partitions))
        return int(PARTITIONER(key.encode(), every, every))

    def _dead_letter(
        self, topic: str, partition: int, offset: int, record: SourceRecord, reason: str
    ) -> Outgoing:
        return dead_letter(topic, partition, offset, record, reason, self._clock.timestamp_ns(),
                           self.counters)

    async def _commit_outputs(self, out: list[Outgoing]) -> None:
        """Outputs acked first, then state written and acked: see the module docstring."""
        acks = [await self._publisher.send(topic, key, value, partition=partition)
                for topic, key, value, partition in out]
        if acks:
            await asyncio.gather(*acks)
        dirty = self.engine.take_dirty()
        for key in sorted(dirty):
            self._writes[key] = self._writes.get(key, 0) + 1
            self._table[key.encode()] = orjson.dumps({
                "writes": self._writes[key],
                "applied": self._applied_now(key),
                "newest": self._newest.get(key, {}),
                "state": self.engine.snapshot(key),
            })
        if dirty:
            await self._publisher.flush()

    def _applied_now(self, key: str) -> AppliedOffsets:
        """What `key`'s state includes now: every record of it handled in its partition,
        and what its restored state included."""
        applied = dict(self._applied.get(key, {}))
        for origin, offset in self._handled.get(self.partition_of(key), {}).items():
            if offset > applied.get(origin, -1):
                applied[origin] = offset
        self._applied[key] = applied
        return applied
