"""Other people's CSVs: a column map onto our names, and times in any unit or ISO-8601.

`ColumnMap.parse("ts=timestamp,price=px,size=qty,symbol=ticker")` takes TARGET=SOURCE pairs:
the file's column SOURCE is read as our column TARGET (`ts` is short for `ts_event`), and the
file's own column named TARGET, if any, is ignored. Names are case-insensitive.

Times (`ts_event`, `ts_init`, a bar's `start_ns`) are, per cell, either an epoch number in
`TimeFormat.unit` (s, ms, us or ns; decimals allowed down to the ns, so `1700000000.123456789`
s is exact) or an ISO-8601 text, parsed by pandas. An ISO time with an offset (`Z`,
`+02:00`) keeps it; one without is read in `TimeFormat.tz` (UTC unless set). A local time
that a daylight-saving change skips or repeats is a bad row, not a guess. Parquet timestamp
columns are read the same way: with a zone they are exact, without one they are local times
in `tz`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from streams.exceptions import ConfigError, InputFileError
from streams.feeds.cells import Rejects, text

UNITS = {"s": 9, "ms": 6, "us": 3, "ns": 0}  # decimal digits from the unit down to ns
ALIASES = {"ts": "ts_event"}
TARGETS = ("ts_event", "ts_init", "symbol", "price", "size", "aggressor", "side",
           "bid_price", "bid_size", "ask_price", "ask_size",
           "open", "high", "low", "close", "volume", "start_ns")
_LEVEL_TARGET = re.compile(r"^(bid|ask)_(price|size)_\d+$")
_OFFSET = r"[T\s:]\d{2}(?:[.,]\d+)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)$"  # an offset after a time
INT64_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Our column name -> the file's column name."""

    targets: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text_: str) -> ColumnMap:
        """`ts=timestamp,price=px`: TARGET=SOURCE pairs; ConfigError if malformed."""
        targets: dict[str, str] = {}
        for pair in filter(None, (p.strip() for p in text_.split(","))):
            target, sep, source = (s.strip().lower() for s in pair.partition("="))
            target = ALIASES.get(target, target)
            if not sep or not target or not source:
                raise ConfigError(f"--map takes TARGET=SOURCE pairs, got {pair!r}")
            if target not in TARGETS and not _LEVEL_TARGET.match(target):
                raise ConfigError(f"--map: unknown target column {target!r} (known: ts, "
                                  f"{', '.join(TARGETS)}, bid_price_N, bid_size_N, ...)")
            if target in targets:
                raise ConfigError(f"--map: {target} is mapped twice")
            targets[target] = source
        return cls(targets)

    def apply(self, cells: dict[str, pa.Array], where: str) -> dict[str, pa.Array]:
        """The cells under our names; InputFileError naming a source column not in the file."""
        missing = [s for s in self.targets.values() if s not in cells]
        if missing:
            raise InputFileError(
                f"{where}: --map names column(s) not in the file: {', '.join(missing)} "
                f"(columns: {', '.join(cells)})"
            )
        sources = set(self.targets.values())
        out = {k: v for k, v in cells.items() if k not in sources and k not in self.targets}
        out.update({target: cells[source] for target, source in self.targets.items()})
        return out


@dataclass(frozen=True, slots=True)
class TimeFormat:
    """How to read times: the unit of epoch numbers, the zone of times without one."""

    unit: str = "ns"
    tz: str = "UTC"

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ConfigError(f"time unit must be one of {', '.join(UNITS)}, got {self.unit!r}")
        zone(self.tz)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {name!r} (use an IANA name, e.g. "
                          "America/New_York)") from None


def parse_times(column: pa.Array, name: str, fmt: TimeFormat, bad: Rejects) -> np.ndarray:
    """ns since the epoch (UTC) per cell; bad cells are flagged and come back as 0."""
    if pa.types.is_timestamp(column.type):
        values, missing = _timestamps(column, fmt.tz)
        shown = [str(v) for v in column.to_pylist()] if (values == _NAT).any() else []
        clock = values == _NAT
    else:
        cells = text(column)
        values, numeric = epoch_ns(cells, fmt.unit)
        missing = pc.equal(cells, "").to_numpy(zero_copy_only=False)
        clock = np.zeros(values.size, dtype=bool)
        iso = ~numeric & ~missing
        if iso.any():
            values[iso], clock[iso] = _iso_ns(cells.filter(pa.array(iso)), fmt.tz)
        shown = cells.to_pylist() if (values == _NAT).any() else []
    failed = missing | (values == _NAT)
    bad.flag(missing, f"{name} is missing")
    bad.flag(failed & ~missing, lambda i: (
        f"{name} {shown[i]!r} is a local time that a clock change skips or repeats in {fmt.tz}"
        if clock[i] else
        f"{name} is not a time: {shown[i]!r} (expected epoch {fmt.unit} or ISO-8601)"))
    values[failed] = 0
    bad.flag(values < 0, f"{name} is before 1970")
    return values


_NAT = np.iinfo(np.int64).min


def epoch_ns(cells: pa.Array, unit: str) -> tuple[np.ndarray, np.ndarray]:
    """Epoch numbers in `unit` as exact int ns (int64 min elsewhere), and which cells they were.

    Digits are split at the point and both parts cast as integers, so nothing goes through a
    float. More decimals than ns allow, or a value past int64 ns, is not such a number.
    """
    digits = UNITS[unit]
    try:  # the common case: whole numbers
        counts = pc.cast(cells, pa.int64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    else:
        numeric = (counts >= 0) & (counts <= INT64_MAX // 10**digits)
        return np.where(numeric, np.where(numeric, counts, 0) * 10**digits, _NAT), numeric
    pattern = rf"^(?P<whole>\d{{1,19}})(?:\.(?P<frac>\d{{0,{digits}}}))?$"
    parts = pc.extract_regex(cells, pattern)
    scale, limit = 10**digits, str(INT64_MAX // 10**digits)
    whole = pc.fill_null(pc.struct_field(parts, "whole"), "0")
    length = pc.utf8_length(whole)
    fits = pc.or_(pc.less(length, len(limit)),
                  pc.and_(pc.equal(length, len(limit)), pc.less_equal(whole, limit)))
    numeric = pc.and_(pc.is_valid(parts), fits).to_numpy(zero_copy_only=False)
    whole_ns = pc.cast(pc.if_else(fits, whole, "0"), pa.int64()).to_numpy() * scale
    frac = pc.utf8_rpad(pc.fill_null(pc.struct_field(parts, "frac"), ""), digits, "0")
    frac_ns = pc.cast(frac, pa.int64()).to_numpy() if digits else 0
    with np.errstate(over="ignore"):
        values = whole_ns + frac_ns
    numeric &= values >= whole_ns  # the fraction carried it past int64
    return np.where(numeric, values, _NAT), numeric


def _iso_ns(cells: pa.Array, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """ISO-8601 texts to ns UTC: with an offset as given, without one in `tz`. Failures are
    int64 min; the second array marks local times a clock change skips or repeats."""
    texts = pd.Series(cells.to_numpy(zero_copy_only=False), dtype=object)
    aware = texts.str.contains(_OFFSET, regex=True).to_numpy()
    out = np.full(len(texts), _NAT, dtype=np.int64)
    clock = np.zeros(len(texts), dtype=bool)
    if aware.any():
        out[aware] = _ns(pd.to_datetime(texts[aware], format="ISO8601", utc=True,
                                        errors="coerce"))
    if not aware.all():
        local = _local_times(texts[~aware])
        moments = local.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        out[~aware] = _ns(moments)
        clock[~aware] = (local.notna() & moments.isna()).to_numpy()
    return out, clock


def _local_times(texts: pd.Series) -> pd.Series:
    """Texts without an offset as naive datetimes (NaT where not ISO-8601)."""
    try:
        local = pd.to_datetime(texts, format="ISO8601", errors="coerce")
    except (ValueError, TypeError):  # offsets the pattern did not see, mixed with none
        return pd.Series(pd.NaT, index=texts.index, dtype="datetime64[ns]")
    if local.dt.tz is not None:
        return pd.Series(pd.NaT, index=texts.index, dtype="datetime64[ns]")
    return local


def _ns(moments: pd.Series) -> np.ndarray:
    """Datetimes (naive as UTC; NaT allowed) as int64 ns, NaT as int64 min."""
    return pd.DatetimeIndex(moments).as_unit("ns").asi8.copy()


def _timestamps(column: pa.Array, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """A Parquet timestamp column as ns UTC (local times in `tz`; int64 min where a clock
    change skips or repeats them), and its null cells (as 0)."""
    missing = pc.is_null(column).to_numpy(zero_copy_only=False)
    if column.type.tz is not None:
        ns = pc.cast(column, pa.timestamp("ns", tz=column.type.tz)).cast(pa.int64())
        return pc.fill_null(ns, 0).to_numpy().copy(), missing
    local = pd.Series(column.to_pandas()).dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    values = _ns(local)
    values[missing] = 0
    return values, missing
