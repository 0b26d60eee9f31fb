"""The engines of one replay as a graph, run in event-time order.

Every output goes to every engine of the run that reads its topic. Engines run in stages, in
topological order of the graph (an engine that writes a topic before the engines that read
it); the engines of a cycle (strategy -> orders -> execution -> executions -> strategy) form
one stage and run together.

- An engine outside a cycle gets its whole input in one event-time order, in batches: the
  source rows (input order at equal times) merged with the outputs of earlier stages. Its
  readers run once it has finished and flushed, so it may date an output before the event
  that made it known (a bar's ts_event is its end; the trade that closes it comes later).
  Engines that read only source topics run while the source is read; source rows that a
  later stage reads are kept until it runs.
- The engines of a cycle run instant by instant (one ts_event at a time): the instant's input
  rows, then in rounds the outputs dated at that instant, then `on_time`. There an output
  dated before the instant that caused it is an error naming the engine: it would reach an
  engine that has already processed newer events. Instants whose input rows every engine of
  the cycle that reads them declares quiet (`Engine.quiet_rows`: it concludes nothing from
  them), before the next instant that is not quiet or that has an output of the cycle due,
  go over in one batch, when no engine of the cycle is time-driven (has its own `on_time`):
  they emit nothing, and batch invariance makes the result the same (a quiet row that emits
  is an error naming the engine). So a trade tape reaches the paper venue in batches between
  the instants at which orders work.
- At equal ts_event, events are ordered by causal depth (source topics first, then each
  stage's outputs), then topic name, then key, then producing engine, then the order its
  engine emitted them for that key; so an engine never receives an event older than one it
  has processed, and the order does not depend on batch sizes. One exception: the inputs an
  engine joins (`@handles(topic, joined=True)`: readings whose latest at or before an
  event's time it joins in, as features joins VPIN into bars) come before its other inputs
  of the same ts_event, so a reading dated at a bar's end is joined into that bar, whether
  the input or an earlier stage has it (in a cycle, one the cycle makes at that instant
  comes in a later round). Such an engine is not fed while the source is read (its source
  rows are kept and merged like outputs): there, equal times keep the input's order.
- Outputs carry `ts_init = ts_event`: a replay has no processing time, and the test clock's
  time at a batch would depend on how the input was batched.
"""

from __future__ import annotations

import heapq
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from processors import Emit, Engine
from streams.catalog import Catalog
from streams.clock import TestClock
from streams.codec import Columns, event_columns
from streams.exceptions import NautilusError

log = logging.getLogger(__name__)
# Progress of the stages that run after the source is read: (the stage's engine names joined
# by "+", rows of its input handed over so far, rows of its input from outside it).
StageProgress = Callable[[str, int, int], None]
MAX_ROUNDS_PER_INSTANT = 10_000
_NEVER = int(np.iinfo(np.int64).max)


class ReplayOrderError(NautilusError):
    """An engine in a cycle dated an output before the event that caused it, or a cycle does
    not settle at one instant."""


@dataclass(frozen=True, slots=True)
class Source:
    """Rows of one topic, sorted by ts_event."""

    topic: str
    columns: Columns

    def __len__(self) -> int:
        return len(self.columns["ts_event"])


@dataclass(slots=True)
class _Stage:
    engines: list[Engine]
    cyclic: bool
    streaming: bool = False  # reads only source topics and runs while they are read

    @property
    def inputs(self) -> set[str]:
        return {t for e in self.engines for t in e.inputs}

    @property
    def outputs(self) -> set[str]:
        return {t for e in self.engines for t in e.outputs}

    @property
    def joined(self) -> set[str]:
        return {t for e in self.engines for t in e.joined}


def stages(engines: Sequence[Engine]) -> list[_Stage]:
    """The engines' strongly connected components in topological order (producers first);
    among independent engines the given order is kept (Tarjan's algorithm, deterministic)."""
    readers = {i: [j for j, r in enumerate(engines) if set(e.outputs) & set(r.inputs)]
               for i, e in enumerate(engines)}
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    found: list[list[int]] = []

    def visit(v: int) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in readers[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            found.append(sorted(component))

    for v in reversed(range(len(engines))):  # Tarjan emits components readers-first
        if v not in index:
            visit(v)
    found.reverse()
    return [_Stage([engines[i] for i in c], cyclic=len(c) > 1 or c[0] in readers[c[0]])
            for c in found]


@dataclass(slots=True)
class GraphRun:
    """One replay of `engines` over source runs; `run` returns every output by topic."""

    engines: list[Engine]
    catalog: Catalog
    batch_rows: int
    progress: StageProgress | None = None
    events_in: int = 0
    _stages: list[_Stage] = field(default_factory=list)
    _depth: dict[str, int] = field(default_factory=dict)
    # topic -> producing engine's index -> its outputs of the topic, in emission order
    _emitted: dict[str, dict[int, list[Emit]]] = field(default_factory=dict)
    _held: list[Source] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stages = stages(self.engines)
        produced = {t for e in self.engines for t in e.outputs}
        for number, stage in enumerate(self._stages):
            stage.streaming = not (stage.cyclic or stage.inputs & produced or stage.joined)
            for topic in stage.outputs:
                self._depth[topic] = max(self._depth.get(topic, 0), number + 1)

    def run(self, runs: Iterable[Source]) -> dict[str, list[Emit]]:
        streaming = [s for s in self._stages if s.streaming]
        feeds = {id(s): _EngineFeed(s.engines[0], self.batch_rows) for s in streaming}
        readers: dict[str, list[_EngineFeed]] = defaultdict(list)
        for stage in streaming:
            for topic in stage.engines[0].inputs:
                readers[topic].append(feeds[id(stage)])
        held = {t for s in self._stages if not s.streaming for t in s.inputs}
        for run in runs:
            self.events_in += len(run)
            for feed in readers.get(run.topic, []):
                self._record(feed.engine, feed.add(run))
            if run.topic in held:
                self._held.append(run)
        for stage in self._stages:
            if stage.streaming:
                self._record(stage.engines[0], feeds[id(stage)].finish())
            elif stage.cyclic:
                self._run_cycle(stage)
            else:
                self._run_engine(stage)
        return {topic: self._ordered(topic) for topic in sorted(self._emitted)}

    # ---- outputs ----------------------------------------------------------------------

    def _record(self, engine: Engine, emits: list[Emit]) -> list[Emit]:
        """Keep `emits` (with ts_init = ts_event) by topic and producer, in emission order."""
        producer = self.engines.index(engine)
        for emit in emits:
            value = emit.value
            # The value was made by the engine for this emission and is shared with no one:
            # stamped in place (the model is frozen), a copy per output cost a sixth of a
            # VPIN replay.
            object.__setattr__(value, "ts_init", value.ts_event)
            self._emitted.setdefault(emit.topic, {}).setdefault(producer, []).append(emit)
        return emits

    def _ordered(self, topic: str) -> list[Emit]:
        """The outputs of `topic` in their deterministic order: ts_event, key, producing
        engine, emission order (a stable sort of the producers' lists taken in turn)."""
        by_producer = self._emitted[topic]
        emits = [emit for producer in sorted(by_producer) for emit in by_producer[producer]]
        return sorted(emits, key=lambda emit: (emit.value.ts_event, emit.key))

    def _sources(self, stage: _Stage) -> list[Source]:
        """What `stage` gets from outside it, in the order that breaks ties of ts_event: the
        kept source rows (input order), then each earlier stage's outputs by (depth, topic),
        each sorted; the topics the stage joins before all the others."""
        topics = stage.inputs
        out = [run for run in self._held if run.topic in topics]
        for topic in sorted(topics & set(self._emitted), key=lambda t: (self._depth[t], t)):
            out.append(Source(topic, self._columns(topic, self._ordered(topic))))
        joined = stage.joined
        return sorted(out, key=lambda source: source.topic not in joined)  # stable

    def _columns(self, topic: str, emits: list[Emit]) -> Columns:
        return event_columns(self.catalog[topic].value, [e.value for e in emits])

    # ---- stages -------------------------------------------------------------------------

    def _run_engine(self, stage: _Stage) -> None:
        engine = stage.engines[0]
        merged = Merged(self._sources(stage))
        feed = _EngineFeed(engine, self.batch_rows)
        for lo in range(0, len(merged), self.batch_rows):
            hi = min(len(merged), lo + self.batch_rows)
            for run in merged.runs(lo, hi):
                self._record(engine, feed.add(run))
            self._report(stage, hi, len(merged))
        self._record(engine, feed.finish())

    def _run_cycle(self, stage: _Stage) -> None:
        outside = Merged(self._sources(stage))  # before the cycle emits anything
        cycle = _Cycle(self, stage, stage.inputs & stage.outputs)
        times = outside.ts
        pos = 0
        while pos < len(outside) or cycle.pending:
            due = cycle.next_ns if cycle.pending else _NEVER
            quiet_end = cycle.quiet_end(outside, pos, due, self.batch_rows)
            if quiet_end > pos:
                cycle.hand_over(outside, pos, quiet_end)
                pos = quiet_end
                self._report(stage, pos, len(outside))
                continue
            now = min(int(times[pos]) if pos < len(outside) else due, due)
            end = int(np.searchsorted(times, now, side="right"))
            cycle.instant(now, list(outside.runs(pos, end)))
            pos = end
            self._report(stage, pos, len(outside))
        for engine in stage.engines:
            cycle.flush(engine)

    def _report(self, stage: _Stage, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress("+".join(e.name for e in stage.engines), done, total)


class _Cycle:
    """The engines of one cycle, run one instant at a time (see the module docstring)."""

    def __init__(self, run: GraphRun, stage: _Stage, internal: set[str]) -> None:
        self._run, self._stage, self._internal = run, stage, internal
        self._heap: list[tuple[tuple, int, Emit]] = []
        self._pushed = 0
        self._now = -1
        time_driven = any(type(e).on_time is not Engine.on_time for e in stage.engines)
        # outside topics whose rows can be quiet: every engine of the cycle reading them says
        self._quiet_topics = set() if time_driven else {
            topic for topic in stage.inputs
            if all(type(e).quiet_rows is not Engine.quiet_rows
                   for e in stage.engines if topic in e.inputs)}

    @property
    def pending(self) -> bool:
        return bool(self._heap)

    @property
    def next_ns(self) -> int:
        return self._heap[0][0][0]

    def instant(self, now: int, outside: list[Source]) -> None:
        self._now = now
        for engine in self._stage.engines:
            _advance(engine.clock, now)
        runs = outside
        for _ in range(MAX_ROUNDS_PER_INSTANT):
            for engine in self._stage.engines:
                for run in runs:
                    if run.topic in engine.inputs:
                        self._emit(engine, engine.process(run.topic, run.columns))
            runs = self._due(now)
            if not runs:
                for engine in self._stage.engines:
                    self._emit(engine, engine.on_time(now))
                runs = self._due(now)
                if not runs:
                    return
        names = ", ".join(e.name for e in self._stage.engines)
        raise ReplayOrderError(f"the cycle of {names} did not settle in "
                               f"{MAX_ROUNDS_PER_INSTANT} rounds at ts_event={now}")

    def quiet_end(self, outside: Merged, pos: int, due: int, most: int) -> int:
        """The end of the whole instants of `outside` from `pos` on, dated before `due`,
        whose rows are all quiet (about `most` rows at most); `pos` when the first is not.
        Windows double from one instant, so finding the end costs about the rows it spans."""
        if pos >= len(outside) or outside.topic_at(pos) not in self._quiet_topics:
            return pos
        times = outside.ts
        stop = int(np.searchsorted(times, due, side="left"))
        end, window = pos, 1
        while end < stop and end - pos < most:
            hi = int(np.searchsorted(times, times[min(stop, end + window) - 1], side="right"))
            quiet = self._quiet(outside, end, hi)
            if not quiet.all():
                first = end + int(np.argmin(quiet))
                return int(np.searchsorted(times, times[first], side="left"))
            end, window = hi, 2 * window
        return end

    def _quiet(self, outside: Merged, lo: int, hi: int) -> np.ndarray:
        """Whether each row of `outside` in [lo, hi) is quiet for every engine reading it
        (one question per source and engine: quietness does not change over quiet rows)."""
        quiet = np.zeros(hi - lo, dtype=bool)
        for run, at in outside.by_source(lo, hi):
            if run.topic not in self._quiet_topics:
                return quiet
            mine = np.ones(len(run), dtype=bool)
            for engine in self._stage.engines:
                if mine.any() and run.topic in engine.inputs:
                    mine &= engine.quiet_rows(run.topic, run.columns)
            quiet[at] = mine
        return quiet

    def hand_over(self, outside: Merged, lo: int, hi: int) -> None:
        """The quiet rows [lo, hi) of `outside` to the engines reading them, the clocks at the
        last row's time: to each engine its rows in order, a batch per run of one source
        among them (rows of topics it does not read do not cut a run)."""
        self._now = int(outside.ts[hi - 1])
        for engine in self._stage.engines:
            _advance(engine.clock, self._now)
        for engine in self._stage.engines:
            for run in outside.runs(lo, hi, set(engine.inputs)):
                if engine.process(run.topic, run.columns):
                    raise ReplayOrderError(
                        f"engine {engine.name} emitted for rows of {run.topic} that it "
                        "declared quiet (quiet_rows): a quiet row concludes nothing")

    def flush(self, engine: Engine) -> None:
        """End of input: `engine` flushes; its outputs reach the cycle's readers at once."""
        self._emit(engine, engine.flush())
        while self._heap:
            self.instant(self.next_ns, [])

    def _emit(self, engine: Engine, emits: list[Emit]) -> None:
        for emit in emits:
            if emit.value.ts_event < self._now:
                raise ReplayOrderError(
                    f"engine {engine.name} emitted {emit.topic} key={emit.key} with "
                    f"ts_event={emit.value.ts_event}, before the event that caused it "
                    f"(ts_event={self._now}): in a cycle an output is never dated before its "
                    "cause")
        for emit in self._run._record(engine, emits):
            if emit.topic in self._internal:
                order = (emit.value.ts_event, emit.topic, emit.key)
                heapq.heappush(self._heap, (order, self._pushed, emit))
                self._pushed += 1

    def _due(self, now: int) -> list[Source]:
        """The cycle's outputs dated `now`, as one run per topic (topic, then key order)."""
        due: dict[str, list[Emit]] = defaultdict(list)
        while self._heap and self._heap[0][0][0] == now:
            emit = heapq.heappop(self._heap)[2]
            due[emit.topic].append(emit)
        return [Source(topic, self._run._columns(topic, emits)) for topic, emits in due.items()]


class _EngineFeed:
    """One engine's pending batch: runs of one of its topics, joined until the topic changes
    or `batch_rows` is reached. After each batch the engine's clock moves to the batch's last
    event time and time passes to just before it (`on_time(last - 1)`): more events of that
    time may follow in the next batch (another topic's, or past `batch_rows`), so only what
    is due before it may close, as in a cycle, where `on_time(now)` comes once the whole
    instant is in."""

    def __init__(self, engine: Engine, batch_rows: int) -> None:
        self.engine, self._batch_rows = engine, batch_rows
        self._topic: str | None = None
        self._pending: list[Columns] = []
        self._rows = 0

    def add(self, run: Source) -> list[Emit]:
        out = self._process() if run.topic != self._topic else []
        self._topic = run.topic
        self._pending.append(run.columns)
        self._rows += len(run)
        return out + (self._process() if self._rows >= self._batch_rows else [])

    def finish(self) -> list[Emit]:
        return self._process() + self.engine.flush()

    def _process(self) -> list[Emit]:
        if not self._pending:
            return []
        parts, self._pending, self._rows = self._pending, [], 0
        columns = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        last_ts = int(columns["ts_event"][-1])
        _advance(self.engine.clock, last_ts)
        assert self._topic is not None
        out = self.engine.process(self._topic, columns)
        return out + self.engine.on_time(last_ts - 1)


def _advance(clock: object, ts_ns: int) -> None:
    assert isinstance(clock, TestClock)
    if ts_ns > clock.timestamp_ns():
        clock.advance_to(ts_ns)


class Merged:
    """Sources' rows in one event-time order; at equal times by source (the order given),
    then row."""

    def __init__(self, sources: list[Source]) -> None:
        self._sources = [s for s in sources if len(s)]
        if not self._sources:
            self.ts = self._src = self._row = np.empty(0, np.int64)
            return
        ts = np.concatenate([s.columns["ts_event"] for s in self._sources])
        src = np.concatenate([np.full(len(s), i, np.int64) for i, s in enumerate(self._sources)])
        row = np.concatenate([np.arange(len(s)) for s in self._sources])
        order = np.lexsort((row, src, ts))
        self.ts, self._src, self._row = ts[order], src[order], row[order]

    def __len__(self) -> int:
        return len(self._src)

    def topic_at(self, pos: int) -> str:
        """The topic of the row at position `pos`."""
        return self._sources[int(self._src[pos])].topic

    def runs(self, lo: int, hi: int, topics: set[str] | None = None) -> Iterator[Source]:
        """Consecutive rows of one source within positions [lo, hi), as its columns; with
        `topics`, of the sources of those topics only (rows of others do not cut a run)."""
        src, row = self._src[lo:hi], self._row[lo:hi]
        if topics is not None:
            keep = np.isin(src, [i for i, s in enumerate(self._sources) if s.topic in topics])
            src, row = src[keep], row[keep]
        if not len(src):
            return
        cuts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
        ends = np.r_[cuts[1:], len(src)]
        for a, b in zip(cuts, ends, strict=True):
            yield self._source_rows(int(src[a]), row[a:b])

    def by_source(self, lo: int, hi: int) -> Iterator[tuple[Source, np.ndarray]]:
        """Each source's rows within positions [lo, hi) as its columns, with their positions
        (less lo), sources in the order given."""
        src, row = self._src[lo:hi], self._row[lo:hi]
        for i in np.unique(src).tolist():
            at = np.flatnonzero(src == i)
            yield self._source_rows(i, row[at]), at

    def _source_rows(self, i: int, rows: np.ndarray) -> Source:
        source = self._sources[i]
        return Source(source.topic, {name: col[rows] for name, col in source.columns.items()})


def new_engines(
    engine_classes: Sequence[type[Engine]], params_of: dict[str, object]
) -> list[Engine]:
    """Fresh engines, each with its own test clock (engines of later stages start at the
    beginning of time again) on the CPU."""
    device = torch.device("cpu")
    engines = []
    for cls in engine_classes:
        params = params_of.get(cls.name)
        if params is None:
            params = cls.params_model()
        engines.append(cls(params, TestClock(0), device))  # type: ignore[arg-type]
    return engines
