"""Chunks of market rows, and how the chunks of several files come out in event-time order.

Files are read in chunks, so nothing sorts a whole file. Instead, per file, `TimeOrder`:

- holds rows until no later row may come before them, then lets them out sorted (ties in
  file order). A row may come up to `max_backwards_ms` after a later-timed row of its file;
  a row further back is a bad row ("time goes backwards").
- holds at most `max_held_rows` rows: past that it lets the oldest out early, and a row that
  comes later but belongs before them is a bad row too. Memory stays bounded even where the
  limit spans millions of rows (a dense tape and a generous limit).

`merge_inputs` merges the ordered chunks of several inputs into one order: by ts_event, then
by the order the inputs were given, then by line. An input is read only as far as needed to
know that nothing earlier can come from it, so memory holds about a chunk per input.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from streams.feeds.cells import Rejects

NS_PER_MS = 1_000_000
MAX_HELD_ROWS = 100_000
_MIN = np.iinfo(np.int64).min
Step = list["MarketChunk"]
Index = np.ndarray | slice


@dataclass(frozen=True, eq=False)
class MarketChunk:
    """Valid rows of one topic as codec columns, with exact price texts and line numbers.

    `columns` has the names and dtypes `streams.codec.decode_columns` gives; `price_text`
    maps each price column to its exact decimal strings as an arrow array (depth: a list of
    10 per row, null where a level is empty), turned into Python strings only when events
    are built.
    """

    topic: str
    columns: dict[str, np.ndarray]
    price_text: dict[str, pa.Array]
    lines: np.ndarray

    def __len__(self) -> int:
        return int(self.lines.size)

    @property
    def ts(self) -> np.ndarray:
        return self.columns["ts_event"]

    def take(self, index: Index) -> MarketChunk:
        if isinstance(index, slice):
            start, stop, _ = index.indices(len(self))
            texts = {k: v.slice(start, stop - start) for k, v in self.price_text.items()}
        else:
            texts = {k: v.take(index) for k, v in self.price_text.items()}
        columns = {k: v[index] for k, v in self.columns.items()}
        return MarketChunk(self.topic, columns, texts, self.lines[index])

    @staticmethod
    def concat(chunks: Sequence[MarketChunk]) -> MarketChunk:
        """One chunk of the rows of `chunks` (all of one topic), in the order given."""
        if len(chunks) == 1:
            return chunks[0]
        first = chunks[0]
        return MarketChunk(
            first.topic,
            {k: np.concatenate([c.columns[k] for c in chunks]) for k in first.columns},
            {k: pa.concat_arrays([c.price_text[k] for c in chunks]) for k in first.price_text},
            np.concatenate([c.lines for c in chunks]),
        )


class TimeOrder:
    """One file's rows put in time order as they are read (see the module docstring)."""

    def __init__(self, max_backwards_ms: int, max_held_rows: int = MAX_HELD_ROWS) -> None:
        self._limit_ms = max_backwards_ms
        self._limit_ns = max_backwards_ms * NS_PER_MS
        self._max_held = max_held_rows
        self._latest, self._latest_line = _MIN, 0  # the latest time read, and its line
        self._passed = _MIN  # the latest time let out
        self._held: dict[str, list[MarketChunk]] = {}  # per topic, pieces each sorted

    def check(self, ts: np.ndarray, lines: np.ndarray, bad: Rejects) -> None:
        """Flag rows (in file order; those not flagged yet) that come too far back."""
        valid = ~bad.mask
        times = np.r_[self._latest, np.where(valid, ts, _MIN)]  # [0]: the chunks before
        running = np.maximum.accumulate(times)
        is_new = times >= np.r_[_MIN, running[:-1]]
        holder = np.maximum.accumulate(np.where(is_new, np.arange(times.size), 0))
        held_line = np.r_[self._latest_line, lines][holder]
        before, before_line = running[:-1], held_line[:-1]  # the latest time above each row
        gap = np.where(valid & (before != _MIN), before, ts) - ts
        bad.flag(gap > self._limit_ns, lambda i: (
            f"time goes backwards: ts_event {ts[i]} is {gap[i] / NS_PER_MS:,.3f} ms before "
            f"line {before_line[i]}'s (more than --max-backwards-ms {self._limit_ms})"))
        bad.flag(valid & (ts < self._passed), lambda i: (
            f"time goes backwards: ts_event {ts[i]} is before {self._passed}, where rows were "
            f"already passed on (at most {self._max_held:,} rows wait to be put in order)"))
        self._latest, self._latest_line = int(running[-1]), int(held_line[-1])

    def push(self, pieces: Sequence[MarketChunk]) -> Step:
        """Take a chunk's valid rows (a piece per topic); return the rows now in order."""
        for piece in pieces:
            if len(piece):
                ts = piece.ts
                if (ts[1:] < ts[:-1]).any():
                    piece = piece.take(np.argsort(ts, kind="stable"))
                self._held.setdefault(piece.topic, []).append(piece)
        if self._latest == _MIN:
            return []
        cut = self._latest - self._limit_ns
        times = [part.ts for parts in self._held.values() for part in parts]
        held = sum(t.size for t in times)
        if held > self._max_held:
            k = held - self._max_held - 1  # let the oldest k + 1 rows (and their ties) out
            cut = max(cut, int(np.partition(np.concatenate(times), k)[k]) + 1)
        return self._release(cut)

    def flush(self) -> Step:
        """Everything still held: the file has ended."""
        return self._release(None)

    def _release(self, before_ns: int | None) -> Step:
        """Rows earlier than `before_ns` (all: None), sorted, ties in file order."""
        out = []
        for topic, parts in self._held.items():
            ready, kept = [], []
            for part in parts:
                cut = len(part) if before_ns is None else int(
                    np.searchsorted(part.ts, before_ns, side="left"))
                if cut:
                    ready.append(part.take(slice(0, cut)))
                if cut < len(part):
                    kept.append(part.take(slice(cut, None)))
            self._held[topic] = kept
            if ready:
                rows = MarketChunk.concat(ready)
                if len(ready) > 1:
                    rows = rows.take(np.argsort(rows.ts, kind="stable"))
                out.append(rows)
                self._passed = max(self._passed, int(rows.ts[-1]))
        return out


@dataclass(frozen=True, slots=True)
class Merged:
    """Rows of some pieces in one order: `order[j]` is the piece the j-th row comes from,
    each piece's rows in their own order (None: the pieces one after the other)."""

    pieces: list[MarketChunk]
    order: np.ndarray | None = None

    def runs(self) -> Iterator[MarketChunk]:
        """The rows as runs of consecutive rows of one piece (so of one topic)."""
        if self.order is None:
            yield from self.pieces
            return
        starts = np.flatnonzero(np.r_[True, self.order[1:] != self.order[:-1]])
        taken = [0] * len(self.pieces)
        for a, b in zip(starts.tolist(), [*starts[1:].tolist(), self.order.size], strict=True):
            k = int(self.order[a])
            yield self.pieces[k].take(slice(taken[k], taken[k] + b - a))
            taken[k] += b - a


def merge_inputs(inputs: Sequence[Iterator[Step]]) -> Iterator[Merged]:
    """The steps of several inputs merged into one event-time order, a block at a time.

    Each input yields steps whose rows are sorted per topic and no earlier than the rows of
    its earlier steps. An input's `bound` is the latest time it has given: nothing it gives
    later is earlier, so rows before the least bound of all inputs are final.
    """
    heads: list[dict[str, MarketChunk]] = [{} for _ in inputs]
    bounds: list[int | None] = [None for _ in inputs]
    live = set(range(len(inputs)))
    while live:
        i = min(live, key=lambda k: (bounds[k] is not None, bounds[k] or 0))
        step = next(inputs[i], None)
        if step is None:
            live.discard(i)
            bounds[i] = None
        for piece in step or []:
            if len(piece):
                held = heads[i].get(piece.topic)
                heads[i][piece.topic] = MarketChunk.concat([held, piece]) if held else piece
                bounds[i] = max(bounds[i] or _MIN, int(piece.ts[-1]))
        if any(bounds[k] is None for k in live):
            continue
        merged = _release(heads, min((bounds[k] for k in live), default=None))
        if merged.pieces:
            yield merged


def _release(heads: list[dict[str, MarketChunk]], limit: int | None) -> Merged:
    """Rows of every head before `limit` (all if None), in (time, input, line) order."""
    out: list[tuple[int, MarketChunk]] = []
    for i, head in enumerate(heads):
        for topic, piece in list(head.items()):
            cut = len(piece) if limit is None else int(np.searchsorted(piece.ts, limit, "left"))
            if cut:
                out.append((i, piece.take(slice(0, cut)) if cut < len(piece) else piece))
                head[topic] = piece.take(slice(cut, None))
    pieces = [piece for _, piece in out]
    if len(pieces) <= 1:
        return Merged(pieces)
    piece_of = np.concatenate([np.full(len(p), k) for k, p in enumerate(pieces)])
    order = np.lexsort((
        piece_of,
        np.concatenate([p.lines for p in pieces]),
        np.concatenate([np.full(len(p), i) for i, p in out]),
        np.concatenate([p.ts for p in pieces]),
    ))
    # Each piece is in (time, line) order already, so its rows keep their own order.
    return Merged(pieces, piece_of[order])
