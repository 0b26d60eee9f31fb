"""Deterministic in-process replay: the same engines, a TestClock, event-time order.

Inputs become runs of columns of one topic in one event-time order (ties keep input order),
and each engine gets the runs of the topics it reads, joined into batches (a topic it does
not read does not cut them). Files are read a chunk at a time and merged as they are read
(`streams.feeds.files`), so memory does not grow with their size; a topic range is read whole
and merged in memory. After each batch the TestClock advances to its last event time and the
engine's time-driven closes fire; at the end every engine flushes what is still open.
`streams.outputs` writes the outputs per topic, in a canonical order (ts_event, key, then
emission order), so the same input gives byte-identical files.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from processors import Emit, Engine
from streams import kafka
from streams.catalog import Catalog
from streams.clock import TestClock
from streams.codec import COLUMNAR_MODELS, Columns, decode_columns
from streams.feeds.badrows import BadRows
from streams.feeds.files import FileOptions, market_runs
from streams.feeds.progress import Progress
from streams.settings import EngineParams

log = logging.getLogger(__name__)
DEFAULT_BATCH_ROWS = 65_536


@dataclass(frozen=True, slots=True)
class Source:
    """Rows of one topic, sorted by ts_event."""

    topic: str
    columns: Columns

    def __len__(self) -> int:
        return len(self.columns["ts_event"])


@dataclass(slots=True)
class ReplayResult:
    outputs: dict[str, list[Emit]] = field(default_factory=dict)
    events_in: int = 0

    def rows(self, topic: str) -> list[dict]:
        return [e.value.model_dump(mode="json") for e in self.outputs.get(topic, [])]


def run_replay(
    sources: Iterable[Source],
    engine_classes: list[type[Engine]],
    params: EngineParams,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayResult:
    """Feed whole `sources` through fresh engines in event-time order; collect every output."""
    merged = _Merged([s for s in sources if len(s)])

    def runs() -> Iterator[Source]:
        for lo in range(0, len(merged), batch_rows):
            hi = min(len(merged), lo + batch_rows)
            for source, columns in merged.runs(lo, hi):
                yield Source(source.topic, columns)
            if progress:
                progress(hi, len(merged))

    return replay_runs(runs(), engine_classes, params)


def replay_runs(
    runs: Iterable[Source],
    engine_classes: list[type[Engine]],
    params: EngineParams,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> ReplayResult:
    """Feed runs that are already in one event-time order (each of one topic) through fresh
    engines, and collect every output.

    Each engine sees only its own inputs: consecutive runs of one of its topics are joined
    into one batch (up to `batch_rows`), so a run of another topic, which it does not read,
    does not cut its batches. After each batch the engine's time-driven closes fire at the
    batch's last event time; at the end every engine flushes.
    """
    clock = TestClock(0)
    device = torch.device("cpu")
    feeds = [_EngineFeed(cls(getattr(params, cls.name), clock, device), clock, batch_rows)
             for cls in engine_classes]
    readers: dict[str, list[_EngineFeed]] = defaultdict(list)
    for feed in feeds:
        for topic in feed.engine.inputs:
            readers[topic].append(feed)
    emitted: list[Emit] = []
    events_in = 0
    for run in runs:
        events_in += len(run)
        for feed in readers.get(run.topic, []):
            emitted += feed.add(run)
    for feed in feeds:
        emitted += feed.finish()
    result = ReplayResult(events_in=events_in)
    for emit in emitted:
        result.outputs.setdefault(emit.topic, []).append(emit)
    return result


class _EngineFeed:
    """One engine's pending batch: runs of one of its topics, joined until the topic changes
    or `batch_rows` is reached."""

    def __init__(self, engine: Engine, clock: TestClock, batch_rows: int) -> None:
        self.engine, self._clock, self._batch_rows = engine, clock, batch_rows
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
        if last_ts > self._clock.timestamp_ns():
            self._clock.advance_to(last_ts)
        assert self._topic is not None
        out = self.engine.process(self._topic, columns)
        return out + self.engine.on_time(last_ts)


class _Merged:
    """All sources' rows in one event-time order (ties keep input order)."""

    def __init__(self, sources: list[Source]) -> None:
        self._sources = sources
        if not sources:
            self._src = self._row = np.empty(0, np.int64)
            return
        ts = np.concatenate([s.columns["ts_event"] for s in sources])
        src = np.concatenate([np.full(len(s), i, np.int64) for i, s in enumerate(sources)])
        row = np.concatenate([np.arange(len(s)) for s in sources])
        order = np.lexsort((row, src, ts))
        self._src, self._row = src[order], row[order]

    def __len__(self) -> int:
        return len(self._src)

    def runs(self, lo: int, hi: int) -> Iterator[tuple[Source, Columns]]:
        """Consecutive rows of one source within positions [lo, hi), as its columns."""
        src, row = self._src[lo:hi], self._row[lo:hi]
        cuts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
        ends = np.r_[cuts[1:], len(src)]
        for a, b in zip(cuts, ends, strict=True):
            source = self._sources[int(src[a])]
            rows = row[a:b]
            yield source, {name: col[rows] for name, col in source.columns.items()}


def file_runs(
    paths: Sequence[Path],
    options: FileOptions,
    bad_rows: BadRows,
    progress: Progress | None = None,
    topics: Collection[str] | None = None,
) -> Iterator[Source]:
    """Market files as runs in one event-time order, read a chunk at a time.

    Files are never loaded whole: each is read in chunks, rows out of order by up to
    `options.max_backwards_ms` are put in order, rows further back are bad rows (reported
    to `bad_rows`, fatal when it is strict), and the files are merged as they are read.
    """
    for run in market_runs(paths, options, bad_rows, progress, topics):
        yield Source(run.topic, run.columns)


def replayable_topics(catalog: Catalog, engines: Iterable[type[Engine]]) -> dict[str, list[str]]:
    """The catalog topics a replay can feed to `engines` -> the names of the engines that read
    each: topics an engine reads whose value model decodes to columns."""
    readers: dict[str, list[str]] = defaultdict(list)
    for engine in engines:
        for topic in engine.inputs:
            readers[topic].append(engine.name)
    return {t.name: readers[t.name] for t in catalog
            if t.name in readers and t.value in COLUMNAR_MODELS}


@dataclass(frozen=True, slots=True)
class TopicRead:
    """The records of one topic in a time range, and how many records were read to find them."""

    source: Source
    scanned: int
    rejected: int


def topic_source(
    brokers: str, topic: str, model_name: str, from_ns: int | None, to_ns: int | None
) -> TopicRead:
    """The records of `topic` with `from_ns <= ts_event < to_ns`, in event-time order (ties in
    partition, then offset order, so the same log gives the same order).

    Reads the whole retained topic: record timestamps are produce times, not event times (a
    file fed today carries last year's events), so they cannot narrow the read. Rows that do
    not decode are logged and skipped.
    """
    records = list(kafka.read_all(brokers, topic))
    columns, rejected = decode_columns(model_name, [value for _, _, _, value in records])
    partition = np.array([r[0] for r in records], np.int64)
    offset = np.array([r[1] for r in records], np.int64)
    if rejected:
        log.warning("undecodable records skipped topic=%s count=%d first=%s",
                    topic, len(rejected), rejected[0].reason)
        decoded = np.ones(len(records), bool)
        decoded[[r.index for r in rejected]] = False
        partition, offset = partition[decoded], offset[decoded]
    ts = columns["ts_event"]
    keep = np.ones(len(ts), bool)
    if from_ns is not None:
        keep &= ts >= from_ns
    if to_ns is not None:
        keep &= ts < to_ns
    rows = np.flatnonzero(keep)
    order = rows[np.lexsort((offset[rows], partition[rows], ts[rows]))]
    source = Source(topic, {name: col[order] for name, col in columns.items()})
    return TopicRead(source, scanned=len(records), rejected=len(rejected))
