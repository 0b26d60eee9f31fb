"""What the TimescaleDB policies should be, computed from configuration; timescale.py applies it.

- Horizons: how long chunks stay in the rowstore before compression, and how long each kind of
  data is kept. They must not cut into a continuous aggregate's refresh window: a refresh over
  a range whose 1-minute bars were dropped deletes the rollups there (TimescaleDB, "Data
  retention with continuous aggregates").
- Which table has which retention is its model's storage descriptor's (`Stored.retention`,
  streams/schema/storage.py): TICK_TABLES and READING_TABLES are derived from them.
- Chunk sizing: TimescaleDB's guideline is that the indexes of the chunks being written fit in
  a quarter of main memory, i.e. in `shared_buffers` ("Size hypertable chunks"). The tick
  tables share one chunk interval, the largest of TICK_INTERVALS whose chunks' indexes fit the
  budget at the expected rates; the reading tables keep migration 0006's week- and month-long
  chunks (one 1-minute bar per symbol per minute is thousands of times fewer rows than trades).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from streams.exceptions import ConfigError
from streams.schema import STORED

TICK_TABLES = tuple(s.table for s in STORED.values() if s.retention == "tick")
READING_TABLES = tuple(s.table for s in STORED.values() if s.retention == "reading")

# Index bytes per row, measured on PostgreSQL 16 with 1M rows written in time order over 10
# symbols (sim trade ids): trades' primary key (symbol, time, trade_uid) 70 B plus the
# time index create_hypertable adds 40 B; microstructure_features' (symbol, time) 34 B + 17 B.
# engine_health (a row per worker every few seconds) is left out: it is negligible.
TRADE_INDEX_BYTES = 110
FEATURE_INDEX_BYTES = 51
TICK_INTERVALS = tuple(timedelta(hours=h) for h in (24, 12, 8, 6, 4, 3, 2, 1))
"""Tick chunk intervals to choose from, longest first: whole divisors of a day."""


@dataclass(frozen=True, slots=True)
class RefreshWindow:
    """A continuous aggregate's refresh policy: materialize [now - start, now - end) every
    `every`."""

    start: timedelta
    end: timedelta
    every: timedelta


REFRESH_WINDOWS: dict[str, RefreshWindow] = {
    "bars_5m": RefreshWindow(timedelta(days=2), timedelta(minutes=5), timedelta(minutes=5)),
    "bars_1h": RefreshWindow(timedelta(days=7), timedelta(hours=1), timedelta(minutes=30)),
    "bars_1d": RefreshWindow(timedelta(days=35), timedelta(days=1), timedelta(hours=1)),
}
LONGEST_REFRESH = max(w.start for w in REFRESH_WINDOWS.values())

_UNITS = {"m": 60, "min": 60, "minute": 60, "minutes": 60, "h": 3600, "hour": 3600,
          "hours": 3600, "d": 86_400, "day": 86_400, "days": 86_400, "w": 604_800,
          "week": 604_800, "weeks": 604_800}
_HORIZON = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$")
_OFF = {"", "off", "none", "never"}
_SIZE_UNITS = {"kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "tb": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$")


def parse_horizon(text: str | timedelta | None) -> timedelta | None:
    """'90d', '12 hours', '2w' -> timedelta; 'off' (or 'none', 'never', empty) -> None."""
    if text is None or isinstance(text, timedelta):
        return text
    if text.strip().lower() in _OFF:
        return None
    match = _HORIZON.match(text.lower())
    if match is None or match[2] not in _UNITS or int(match[1]) == 0:
        raise ValueError(
            f"horizon {text!r}: expected a positive count and a unit (m, h, d or w, e.g. "
            "'90d', '12 hours') or 'off'"
        )
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def parse_size(text: str | int | None) -> int | None:
    """'512MB', '4 GB' -> bytes (units of 1024, as PostgreSQL's memory settings); empty or
    'auto' -> None."""
    if text is None or isinstance(text, int):
        return text
    if text.strip().lower() in ("", "auto"):
        return None
    match = _SIZE.match(text.lower())
    if match is None or match[2] not in _SIZE_UNITS or int(match[1]) == 0:
        raise ValueError(f"size {text!r}: expected a positive count and a unit (kB, MB, GB or "
                         "TB, e.g. '4GB') or 'auto'")
    return int(match[1]) * _SIZE_UNITS[match[2]]


def _days(span: timedelta) -> str:
    return f"{span.total_seconds() / 86_400:g} days"


@dataclass(frozen=True, slots=True)
class Horizons:
    """How long data stays uncompressed, and how long it is kept (None: forever)."""

    compress_after: timedelta | None = timedelta(days=7)
    tick_retention: timedelta | None = timedelta(days=90)
    reading_retention: timedelta | None = None
    rollup_retention: timedelta | None = None

    def __post_init__(self) -> None:
        for name, kept in (("reading", self.reading_retention),
                           ("rollup", self.rollup_retention)):
            if kept is not None and kept <= LONGEST_REFRESH:
                # A refresh over a window whose 1-minute bars (or rollup chunks) were dropped
                # would empty or re-create the materialized rollups there.
                raise ConfigError(
                    f"{name} retention {_days(kept)} must exceed the longest rollup refresh "
                    f"window ({_days(LONGEST_REFRESH)}), or be 'off'"
                )
        if self.rollup_retention is not None and (
                self.reading_retention is None or self.rollup_retention < self.reading_retention):
            raise ConfigError(
                f"rollup retention {_days(self.rollup_retention)} must be at least the reading "
                "retention (the 1-minute bars the rollups are made of), which is "
                f"{_days(self.reading_retention) if self.reading_retention else 'off'}"
            )

    def retention_of(self, table: str) -> timedelta | None:
        """The retention of a hypertable or continuous aggregate (None: kept forever)."""
        if table in TICK_TABLES:
            return self.tick_retention
        if table in READING_TABLES:
            return self.reading_retention
        return self.rollup_retention if table in REFRESH_WINDOWS else None

    def rollup_compress_after(self, view: str) -> timedelta | None:
        """When a rollup's chunks are compressed: `compress_after`, but never inside the
        aggregate's refresh window, so refreshes do not write into compressed chunks."""
        if self.compress_after is None:
            return None
        return max(self.compress_after, REFRESH_WINDOWS[view].start)

    def refresh_horizon(self) -> timedelta | None:
        """How far back a refresh over all history may reach: the 1-minute bars and rollups
        older than this may be dropped (None: nothing is)."""
        kept = [k for k in (self.reading_retention, self.rollup_retention) if k is not None]
        return min(kept) if kept else None


@dataclass(frozen=True, slots=True)
class ChunkSizing:
    """The expected write rates of the tick tables and the memory their writing chunks'
    indexes may take (None: the server's `shared_buffers`, a quarter of its memory when
    tuned as TimescaleDB recommends)."""

    trades_per_s: float = 2_000.0
    features_per_s: float = 5.0
    index_memory_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.trades_per_s < 0 or self.features_per_s < 0:
            raise ConfigError("expected write rates must be >= 0 rows/s")

    def index_bytes_per_s(self) -> float:
        """Bytes of index the tick tables grow by per second at the expected rates."""
        return self.trades_per_s * TRADE_INDEX_BYTES + self.features_per_s * FEATURE_INDEX_BYTES

    def tick_interval(self, budget_bytes: int) -> timedelta:
        """The longest of TICK_INTERVALS whose chunks' indexes fit `budget_bytes`; the
        shortest when none does."""
        per_s = self.index_bytes_per_s()
        for interval in TICK_INTERVALS:
            if interval.total_seconds() * per_s <= budget_bytes:
                return interval
        return TICK_INTERVALS[-1]


def format_span(span: timedelta) -> str:
    """A chunk interval for people: '1 day', '2 hours', '90 minutes', '7 days'."""
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"
