"""Deterministic in-process replay: the same engines, a TestClock, event-time order.

Inputs become runs of columns of one topic in one event-time order (ties keep input order),
and each run is fed to the engines that read that topic. Files are read a chunk at a time and
merged as they are read (`streams.feeds.files`), so memory does not grow with their size; a
topic range is read whole and merged in memory. After each run the TestClock advances to the
run's last event time and the engines' time-driven closes fire; at the end every engine
flushes what is still open. Outputs are written per topic, in a canonical order
(ts_event, key, then emission order), so the same input gives byte-identical files.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import torch

from processors import Emit, Engine
from streams import kafka
from streams.clock import TestClock
from streams.codec import Columns, decode_columns
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
    runs: Iterable[Source], engine_classes: list[type[Engine]], params: EngineParams
) -> ReplayResult:
    """Feed runs that are already in one event-time order (each of one topic) through fresh
    engines: after each run the clock moves to its last event and time-driven closes fire."""
    clock = TestClock(0)
    device = torch.device("cpu")
    engines = [cls(getattr(params, cls.name), clock, device) for cls in engine_classes]
    readers: dict[str, list[Engine]] = defaultdict(list)
    for engine in engines:
        for topic in engine.inputs:
            readers[topic].append(engine)
    emitted: list[Emit] = []
    events_in = 0
    for run in runs:
        events_in += len(run)
        last_ts = int(run.columns["ts_event"][-1])
        if last_ts > clock.timestamp_ns():
            clock.advance_to(last_ts)
        for engine in readers.get(run.topic, []):
            emitted += engine.process(run.topic, run.columns)
        for engine in engines:
            emitted += engine.on_time(clock.timestamp_ns())
    for engine in engines:
        emitted += engine.flush()
    result = ReplayResult(events_in=events_in)
    for emit in emitted:
        result.outputs.setdefault(emit.topic, []).append(emit)
    return result


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


def write_outputs(result: ReplayResult, topics: list[str], out_dir: Path) -> dict[str, Path]:
    """Write `<topic>.parquet` and `<topic>.csv` for every output topic (empty ones too).

    Rows are in canonical order: ts_event, then key, then emission order. Prices stay exact
    decimal strings in CSV and decimals in Parquet; nested values are JSON text.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for topic in topics:
        emits = sorted(
            result.outputs.get(topic, []), key=lambda e: (e.value.ts_event, e.key)
        )
        frame = pd.DataFrame([_flat_row(e) for e in emits])
        parquet, csv = out_dir / f"{topic}.parquet", out_dir / f"{topic}.csv"
        frame.to_parquet(parquet, index=False)
        frame.to_csv(csv, index=False, lineterminator="\n")
        written[topic] = parquet
    return written


def _flat_row(emit: Emit) -> dict[str, object]:
    row = emit.value.model_dump(mode="python")
    return {
        k: orjson.dumps(v).decode() if isinstance(v, dict | list) else v for k, v in row.items()
    }


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


def topic_source(
    brokers: str, topic: str, model_name: str, from_ns: int | None, to_ns: int | None
) -> Source:
    """The records of `topic` with `from_ns <= ts_event < to_ns`, sorted by event time.

    Reads the whole retained topic (record timestamps are produce times, not event times,
    so they cannot narrow the read); rows that do not decode are reported and skipped.
    """
    values = [value for _, _, _, value in kafka.read_all(brokers, topic)]
    columns, rejected = decode_columns(model_name, values)
    if rejected:
        log.warning("undecodable records skipped topic=%s count=%d first=%s",
                    topic, len(rejected), rejected[0].reason)
    ts = columns["ts_event"]
    keep = np.ones(len(ts), bool)
    if from_ns is not None:
        keep &= ts >= from_ns
    if to_ns is not None:
        keep &= ts < to_ns
    order = np.flatnonzero(keep)
    order = order[np.argsort(ts[order], kind="stable")]
    return Source(topic, {name: col[order] for name, col in columns.items()})
