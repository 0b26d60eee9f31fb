"""Training samples from the logic.features and logic.factors records of replay or backtest
outputs.

`read_features` reads `DIR/logic.features.parquet` of each output directory, and
`DIR/logic.factors.parquet` where the directory has it (streams/outputs.py writes them: a row
per symbol per closed bar, `values` as JSON text), and joins a symbol's feature and factor
records of one bar (same symbol and ts_event) into one set of named inputs. A name in both
topics is an error (features are lower-case, factors upper-case: none is today). A bar with
a record of one topic only has that topic's names. `build_samples` turns the rows into
time-ordered samples per symbol, with no look-ahead:

- the bars of a model are those with a record of a topic its inputs come from (a bar of
  logic.factors only is no bar of a model on features only);
- the inputs of the sample at bar t are the inputs of bars t-L+1..t (L: the sequence
  length, 1 for `linear` and `mlp` by default), consecutive bars of the symbol that all carry
  every chosen input (a window across a bar missing one is no sample: a model on a factor
  gets no sample at a bar without that factor);
- its target `ret_N` is the forward return over the next N bars, from bar t's close to bar
  t+N's: prod(1 + ret_1) over bars t+1..t+N, minus 1 (`ret_1`, the features engine's close over
  previous close, must be among the records' values);
- `last` is the naive "last value" forecast: the return over the N bars up to t, prod(1 +
  ret_1) over bars t-N+1..t, minus 1;
- with the target `sign_N`, the target and the last value are the signs (-1, 0, 1) of those
  returns.

A (symbol, ts_event) of a topic found in more than one input is taken from the first and
counted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pyarrow.parquet as pq
from numpy.lib.stride_tricks import sliding_window_view

from processors.ml.exceptions import TrainingDataError
from processors.ml.inputs import FACTORS_TOPIC, FEATURES_TOPIC

FEATURES_FILE = "logic.features.parquet"
FACTORS_FILE = "logic.factors.parquet"
RETURN_FEATURE = "ret_1"
TARGET_PATTERN = re.compile(r"(ret|sign)_([1-9][0-9]*)")
DEFAULT_COVERAGE = 0.9  # a feature is used by default when at least this share of rows has it


@dataclass(frozen=True, slots=True)
class FeatureRows:
    """Bars, sorted by (symbol, ts_event), one per (symbol, ts_event): the values of their
    logic.features and logic.factors records joined."""

    symbols: np.ndarray  # str objects
    ts_event: np.ndarray  # int64 ns
    values: list[dict[str, float]]
    duplicates: int  # records dropped as already read from an earlier input
    # each input name -> its topic; each bar's topics (those with a record of the bar)
    sources: dict[str, str]
    topics: list[frozenset[str]]
    records: dict[str, int]  # topic -> records read

    def of_topics(self, topics: frozenset[str]) -> FeatureRows:
        """The bars with a record of one of `topics`."""
        keep = [i for i, bar in enumerate(self.topics) if bar & topics]
        if len(keep) == len(self.topics):
            return self
        return FeatureRows(self.symbols[keep], self.ts_event[keep],
                           [self.values[i] for i in keep], self.duplicates, self.sources,
                           [self.topics[i] for i in keep], self.records)


@dataclass(frozen=True, slots=True)
class Samples:
    """Samples in (ts_event, symbol) order: `inputs` (n, L, features) unnormalised."""

    features: tuple[str, ...]
    inputs: np.ndarray
    target: np.ndarray
    last: np.ndarray
    ts_event: np.ndarray
    symbols: np.ndarray

    def __len__(self) -> int:
        return len(self.target)

    def take(self, rows: np.ndarray) -> Samples:
        return Samples(self.features, self.inputs[rows], self.target[rows], self.last[rows],
                       self.ts_event[rows], self.symbols[rows])

    def digest(self) -> str:
        """sha256 of the samples: feature names, inputs, targets, times and symbols."""
        h = hashlib.sha256()
        h.update("\0".join(self.features).encode())
        for array in (self.inputs, self.target, self.ts_event):
            h.update(np.ascontiguousarray(array).tobytes())
        h.update("\0".join(self.symbols.tolist()).encode())
        return h.hexdigest()


def horizon_bars(target: str) -> int:
    """N of a target `ret_N` or `sign_N`."""
    match = TARGET_PATTERN.fullmatch(target)
    if match is None:
        raise TrainingDataError(f"target must be ret_N (the forward return over N bars, "
                                f"e.g. ret_5) or sign_N (its sign), not {target!r}")
    return int(match.group(2))


def is_sign(target: str) -> bool:
    """Whether `target` is the sign of the forward return (`sign_N`)."""
    return target.startswith("sign_")


def read_features(directories: Sequence[Path]) -> FeatureRows:
    """The bars of the output directories' logic.features records, joined with their
    logic.factors records where a directory has them, in (symbol, ts_event) order."""
    by_topic: dict[str, dict[tuple[str, int], dict[str, float]]] = {
        FEATURES_TOPIC: {}, FACTORS_TOPIC: {}}
    duplicates = 0
    for directory in directories:
        if not (directory / FEATURES_FILE).is_file():
            raise TrainingDataError(f"{directory}: no {FEATURES_FILE}; give a replay or "
                                    "backtest output directory whose engines ran features")
        for topic, name in ((FEATURES_TOPIC, FEATURES_FILE), (FACTORS_TOPIC, FACTORS_FILE)):
            if (directory / name).is_file():
                duplicates += _read_records(directory / name, by_topic[topic])
    if not by_topic[FEATURES_TOPIC]:
        raise TrainingDataError("the inputs hold no logic.features records")
    sources = _sources(by_topic)
    bars: dict[tuple[str, int], tuple[dict[str, float], set[str]]] = {}
    for topic, records in by_topic.items():
        for key, values in records.items():
            joined, topics = bars.setdefault(key, ({}, set()))
            joined.update(values)
            topics.add(topic)
    keys = sorted(bars)
    return FeatureRows(np.array([k[0] for k in keys], dtype=object),
                       np.array([k[1] for k in keys], dtype=np.int64),
                       [bars[k][0] for k in keys], duplicates, sources,
                       [frozenset(bars[k][1]) for k in keys],
                       {topic: len(records) for topic, records in by_topic.items()})


def _read_records(path: Path, seen: dict[tuple[str, int], dict[str, float]]) -> int:
    """Add the records of one topic's file to `seen`; how many were there already."""
    table = pq.read_table(path, columns=["symbol", "ts_event", "values"]).to_pydict()
    duplicates = 0
    for symbol, ts, text in zip(table["symbol"], table["ts_event"], table["values"],
                                strict=True):
        key = (symbol, int(ts))
        if key in seen:
            duplicates += 1
            continue
        seen[key] = orjson.loads(text)
    return duplicates


def _sources(by_topic: dict[str, dict[tuple[str, int], dict[str, float]]]) -> dict[str, str]:
    """Each input name -> the topic whose records carry it; TrainingDataError for a name
    that records of both carry (which one would a model read?)."""
    sources: dict[str, str] = {}
    both: set[str] = set()
    for topic, records in by_topic.items():
        names = {name for values in records.values() for name in values}
        both |= {name for name in names if sources.get(name, topic) != topic}
        sources.update(dict.fromkeys(names, topic))
    if both:
        raise TrainingDataError(
            f"input name(s) {', '.join(sorted(both))} in both {FEATURES_TOPIC} and "
            f"{FACTORS_TOPIC} records: a model's inputs need distinct names (rename the "
            "factor in the factor catalog, factors.yaml)")
    return sources


def default_features(rows: FeatureRows) -> tuple[str, ...]:
    """Every feature at least DEFAULT_COVERAGE of the rows carry, sorted."""
    counts: dict[str, int] = {}
    for values in rows.values:
        for name in values:
            counts[name] = counts.get(name, 0) + 1
    least = DEFAULT_COVERAGE * len(rows.values)
    return tuple(sorted(name for name, n in counts.items() if n >= least))


def build_samples(rows: FeatureRows, features: Sequence[str], horizon: int,
                  sequence_length: int = 1, sign: bool = False) -> Samples:
    """The samples of every symbol (see the module docstring), in (ts_event, symbol) order;
    `sign`: the target and the last value are the signs of those returns (-1, 0, 1)."""
    if not features:
        raise TrainingDataError("no features to train on")
    rows = rows.of_topics(frozenset(rows.sources[n] for n in features if n in rows.sources))
    parts: list[tuple[np.ndarray, ...]] = []
    starts = np.flatnonzero(np.r_[True, rows.symbols[1:] != rows.symbols[:-1]])
    for start, stop in zip(starts, [*starts[1:], len(rows.symbols)], strict=True):
        values = rows.values[start:stop]
        matrix = np.array([[v.get(name, np.nan) for name in features] for v in values],
                          dtype=np.float64).reshape(len(values), len(features))
        returns = np.array([v.get(RETURN_FEATURE, np.nan) for v in values], dtype=np.float64)
        made = _symbol_samples(matrix, returns, horizon, sequence_length)
        if made is not None:
            windows, target, last, at = made
            parts.append((windows, target, last, rows.ts_event[start:stop][at],
                          rows.symbols[start:stop][at]))
    if not parts:
        raise TrainingDataError(
            f"no samples: no symbol has {sequence_length} consecutive bars with every feature "
            f"({', '.join(features)}) and {horizon} bars of {RETURN_FEATURE} after them")
    inputs, target, last, ts, symbols = (np.concatenate(p) for p in zip(*parts, strict=True))
    if sign:
        target, last = np.sign(target), np.sign(last)
    order = np.lexsort((symbols.astype(str), ts))
    return Samples(tuple(features), inputs[order], target[order], last[order], ts[order],
                   symbols[order])


def _symbol_samples(matrix: np.ndarray, returns: np.ndarray, horizon: int,
                    sequence_length: int) -> tuple[np.ndarray, ...] | None:
    """One symbol's windows, targets, last values and the rows they are at."""
    bars = len(returns)
    if bars < max(sequence_length, horizon) + horizon:
        return None
    growth = sliding_window_view(1.0 + returns, horizon).prod(axis=1) - 1.0  # bars i..i+N-1
    target = np.full(bars, np.nan)
    target[:bars - horizon] = growth[1:]  # bars t+1..t+N
    last = np.full(bars, np.nan)
    last[horizon - 1:] = growth  # bars t-N+1..t
    windows = np.full((bars, sequence_length, matrix.shape[1]), np.nan)
    windows[sequence_length - 1:] = sliding_window_view(
        matrix, sequence_length, axis=0).transpose(0, 2, 1)
    usable = (~np.isnan(windows).any(axis=(1, 2)) & ~np.isnan(target) & ~np.isnan(last))
    at = np.flatnonzero(usable)
    if len(at) == 0:
        return None
    return windows[at], target[at], last[at], at
