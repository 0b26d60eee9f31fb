"""Deterministic in-process replay: the engines as a graph, test clocks, event-time order.

Inputs become runs of columns of one topic in one event-time order (ties keep input order).
Files are read a chunk at a time and merged as they are read (`streams.feeds.files`), so
memory does not grow with their size; a topic range is read whole and merged in memory. Every
output goes on to the engines of the run that read its topic, in event-time order, cycles
included (`streams.graph` says in what order and why). `streams.outputs` writes the outputs
per topic, in a canonical order (ts_event, key, then emission order), so the same input gives
byte-identical files, whatever the batch size.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from processors import Emit, Engine
from streams import kafka
from streams.catalog import Catalog
from streams.codec import Columns, decode_columns
from streams.feeds.badrows import BadRows
from streams.feeds.files import FileOptions, market_runs
from streams.feeds.progress import Progress
from streams.graph import GraphRun, Merged, Source, StageProgress, new_engines
from streams.settings import EngineParams, get_settings

log = logging.getLogger(__name__)
DEFAULT_BATCH_ROWS = 65_536
__all__ = ["DEFAULT_BATCH_ROWS", "ReplayResult", "Source", "file_runs", "replay_runs",
           "replayable_topics", "run_replay", "topic_source"]


@dataclass(slots=True)
class ReplayResult:
    """Every output of a replay by topic, in canonical order, how many input events, and the
    input rows of the topics the caller asked to keep (`kept`, each topic's runs joined)."""

    outputs: dict[str, list[Emit]] = field(default_factory=dict)
    events_in: int = 0
    kept: dict[str, Columns] = field(default_factory=dict)

    def rows(self, topic: str) -> list[dict]:
        return [e.value.model_dump(mode="json") for e in self.outputs.get(topic, [])]


def run_replay(
    sources: Iterable[Source],
    engine_classes: list[type[Engine]],
    params: EngineParams,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Callable[[int, int], None] | None = None,
    catalog: Catalog | None = None,
    stage_progress: StageProgress | None = None,
    keep: Collection[str] = (),
) -> ReplayResult:
    """Feed whole `sources` through fresh engines in event-time order; collect every output.
    `progress` hears (rows read, rows in all); `stage_progress` and `keep` as in
    `replay_runs`."""
    merged = Merged(list(sources))

    def runs() -> Iterator[Source]:
        for lo in range(0, len(merged), batch_rows):
            hi = min(len(merged), lo + batch_rows)
            yield from merged.runs(lo, hi)
            if progress:
                progress(hi, len(merged))

    return replay_runs(runs(), engine_classes, params, batch_rows=batch_rows, catalog=catalog,
                       stage_progress=stage_progress, keep=keep)


def replay_runs(
    runs: Iterable[Source],
    engine_classes: list[type[Engine]],
    params: EngineParams,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    catalog: Catalog | None = None,
    stage_progress: StageProgress | None = None,
    keep: Collection[str] = (),
) -> ReplayResult:
    """Feed runs that are already in one event-time order (each of one topic) through fresh
    engines as a graph, and collect every output.

    Each engine sees only its own inputs, in batches of up to `batch_rows`; after each batch
    time passes to just before the batch's last event time (more events of that time may
    follow); at the end it flushes, and its outputs (flushed ones too) reach the engines
    that read them. An engine without settings (a test's) runs with its parameter model's
    defaults. `stage_progress` hears how far each stage that runs after the input is read
    has got; the input rows of the topics in `keep` come back in `kept` (a bar file's bars,
    which no engine outputs, for the report).
    """
    catalog = catalog or Catalog.load(get_settings().topics_file)
    engines = new_engines(engine_classes, {cls.name: getattr(params, cls.name, None)
                                           for cls in engine_classes})
    graph = GraphRun(engines, catalog, batch_rows, stage_progress)
    kept: dict[str, list[Columns]] = defaultdict(list)

    def tapped() -> Iterator[Source]:
        for run in runs:
            if run.topic in keep:
                kept[run.topic].append(run.columns)
            yield run

    outputs = graph.run(tapped())
    joined = {topic: {name: np.concatenate([part[name] for part in parts])
                      for name in parts[0]} for topic, parts in kept.items()}
    return ReplayResult(outputs=outputs, events_in=graph.events_in, kept=joined)


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
    each (every catalog model decodes to columns)."""
    readers: dict[str, list[str]] = defaultdict(list)
    for engine in engines:
        for topic in engine.inputs:
            readers[topic].append(engine.name)
    return {t.name: readers[t.name] for t in catalog if t.name in readers}


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
