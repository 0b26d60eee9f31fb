"""A progress line on stderr while market files are read: rows, rows/s, percent and ETA.

Percent and ETA come from bytes read over the files' total size (compressed bytes for .gz;
row groups for Parquet), so they hold for files of any size without counting rows first. On a
terminal the line is redrawn in place a few times a second; otherwise (a log, a pipe) a plain
line is written every `log_every_s`, and a last one at the end. tqdm is not a dependency.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Counts rows and bytes read; draws itself at most every `redraw_s` seconds."""

    def __init__(
        self,
        total_bytes: int = 0,
        *,
        stream: TextIO | None = None,
        redraw_s: float = 0.2,
        log_every_s: float = 10.0,
    ) -> None:
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._every_s = redraw_s if self._tty else log_every_s
        self._total = total_bytes
        self._started = time.monotonic()
        self._next_draw = self._started + self._every_s
        self.rows = 0
        self.bad = 0
        self.done_bytes = 0
        self._drawn = False

    def advance(self, rows: int = 0, nbytes: int = 0, bad: int = 0) -> None:
        self.rows += rows
        self.done_bytes += nbytes
        self.bad += bad
        now = time.monotonic()
        if now >= self._next_draw:
            self._next_draw = now + self._every_s
            self._draw(now)

    def add_total(self, nbytes: int) -> None:
        """Another file to read: its size counts towards 100 %."""
        self._total += nbytes

    def count_bytes(self, nbytes: int) -> None:
        self.advance(nbytes=nbytes)

    def note(self, text: str) -> None:
        """Print a line (a bad row, say) without tearing the progress line."""
        self._clear()
        print(text, file=self._stream, flush=True)

    def close(self) -> None:
        """Draw the final state and end the line."""
        self._draw(time.monotonic())
        if self._tty:
            print(file=self._stream, flush=True)
        self._drawn = False

    def line(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-9)
        fraction = min(self.done_bytes / self._total, 1.0) if self._total else 0.0
        rate = self.rows / elapsed
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else None
        return (
            f"read {self.rows:,} rows  {fraction:6.1%}  {rate:,.0f} rows/s  "
            f"elapsed {_clock(elapsed)}  ETA {_clock(eta)}  bad {self.bad:,}"
        )

    def _draw(self, now: float) -> None:
        if self._tty:
            self._stream.write("\r\x1b[K" + self.line(now))
            self._stream.flush()
            self._drawn = True
        else:
            print(self.line(now), file=self._stream, flush=True)

    def _clear(self) -> None:
        if self._tty and self._drawn:
            self._stream.write("\r\x1b[K")
            self._drawn = False


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--:--"
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
