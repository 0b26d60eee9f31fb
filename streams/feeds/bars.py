"""Bar files hold 1-minute bars only: market.bars.1m (`Bar.interval` "1m") is the one bar
topic, so a file of other bars is refused, never relabelled.

A bar's length is `ts_event - start_ns`. With a `start_ns` column every bar must be exactly
60 s long. Without one, each bar is taken to end at ts_event and start 60 s before, so the
length cannot be read off a row; the spacing of a symbol's bars tells instead: two bars of
one symbol less than 60 s apart overlap (shorter bars, or the same bar twice), and a
symbol's first two bars a day or more apart are daily (or longer) bars. A file of 1-minute
bars with such gaps (a thin symbol's first bar alone on its day) declares its bars with a
`start_ns` column. Either way the file is refused with an InputFileError naming the file,
the row (its line) and what was found: the rows before it may already have been passed on
(`feed file` streams), as with `--strict`.

The check runs on the rows in time order (after `streams.feeds.chunks.TimeOrder`), so the
spacing is that of the bars as they are published, whatever order the file wrote them in.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from streams.exceptions import InputFileError
from streams.feeds.chunks import MarketChunk, Step
from streams.feeds.columns import BAR_NS

DAY_NS = 86_400 * 1_000_000_000
SUPPORTED = "only 1-minute bars are supported (market.bars.1m)"


def one_minute_bars(path: Path, steps: Iterator[Step], has_start: bool) -> Iterator[Step]:
    """The same steps, each bar checked to be a 1-minute bar (see the module docstring)."""
    check = _OneMinute(path, has_start)
    for step in steps:
        for piece in step:
            check(piece)
        yield step


class _OneMinute:
    """Per file: each symbol's latest bar (ts_event, line) and whether it has had a second."""

    def __init__(self, path: Path, has_start: bool) -> None:
        self._path, self._has_start = path, has_start
        self._last: dict[str, tuple[int, int]] = {}
        self._bars: dict[str, int] = {}  # bars seen per symbol, counted up to 2

    def __call__(self, piece: MarketChunk) -> None:
        c, lines = piece.columns, piece.lines
        length = c["ts_event"] - c["start_ns"]
        wrong = np.flatnonzero(length != BAR_NS)
        if wrong.size:
            i = int(wrong[0])
            self._refuse(int(lines[i]), (
                f"{c['symbol'][i]} bar of {_span(int(length[i]))} (start_ns {c['start_ns'][i]}, "
                f"ts_event {c['ts_event'][i]})"))
        symbols = c["symbol"]
        names, codes = np.unique(symbols, return_inverse=True)
        for k, name in enumerate(names.tolist()):
            rows = np.flatnonzero(codes == k)  # in time order: the piece is sorted
            self._spacing(name, c["ts_event"][rows], lines[rows])

    def _spacing(self, symbol: str, ts: np.ndarray, lines: np.ndarray) -> None:
        before = self._last.get(symbol)
        prev_ts = np.r_[before[0] if before else ts[0], ts[:-1]]
        prev_line = np.r_[before[1] if before else lines[0], lines[:-1]]
        gap = ts - prev_ts
        seen = self._bars.get(symbol, 0)
        has_prev = np.ones(ts.size, bool)
        has_prev[0] = before is not None
        for i in np.flatnonzero(has_prev & (gap < BAR_NS)).tolist()[:1]:
            what = (f"a second {symbol} bar ending at ts_event {ts[i]}" if gap[i] == 0 else
                    f"{symbol} bar ending {_span(int(gap[i]))} after the one")
            self._refuse(int(lines[i]), f"{what} on line {prev_line[i]}: 1-minute bars of a "
                         "symbol are at least 60 s apart")
        second = 1 - seen  # index of the symbol's second bar in this piece, if any
        if not self._has_start and 0 <= second < ts.size and has_prev[second] \
                and gap[second] >= DAY_NS:
            self._refuse(int(lines[second]), (
                f"{symbol}'s first two bars (lines {prev_line[second]} and {lines[second]}) are "
                f"{_span(int(gap[second]))} apart, as daily or longer bars are"),
                "; a file of 1-minute bars with such a gap says so with a start_ns column")
        self._last[symbol] = (int(ts[-1]), int(lines[-1]))
        self._bars[symbol] = min(2, seen + ts.size)

    def _refuse(self, line: int, found: str, hint: str = "") -> None:
        raise InputFileError(f"{self._path}:{line}: {found}; {SUPPORTED}{hint}")


def _span(ns: int) -> str:
    """A duration for a message: seconds, and days where it is a day or more."""
    seconds = f"{ns / 1e9:,.9g} s"
    if ns < DAY_NS:
        return seconds
    days = ns / DAY_NS
    return f"{seconds} ({days:,.6g} day{'' if days == 1 else 's'})"
