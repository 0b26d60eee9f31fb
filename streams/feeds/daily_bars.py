"""Daily closes for the daily factor model (`factors model`): from bar files (`--bars`), the
database's daily bars (`--from-database`) or a vendor's daily prices (`--from-prices`).

A bar file is CSV (`.csv`, `.csv.gz`) or Parquet with the columns `symbol`, `close` and
either `date` (YYYY-MM-DD: daily bars) or `ts_event` (the bar's end: int ns since the epoch,
or ISO-8601 text; with an optional `start_ns`), so the 1-minute bar files of `feed file` and
`replay` serve as they are. A bar belongs to the UTC day of its start: `date`, else
`start_ns`, else the last nanosecond before `ts_event` (a bar ending at midnight closes the
day before). A day's close is the close of its latest bar; two bars of a symbol with the
same time are refused. A directory stands for the bar files in it (and below it).

`database_daily_closes` reads the same closes from the database's `bars_1d` (the 1-day rollup
of the stored 1-minute bars, UTC days by their start: migration 0004; a real-time continuous
aggregate on TimescaleDB).

`adjusted_daily_closes` reads a vendor's daily prices (`daily_prices`, market.prices.1d:
unadjusted closes with each day's dividend and split) and adjusts each close for the dividends
and splits after its day, as CRSP does (processors.kit.adjustment), so a split is not a crash
nor an ex-dividend day a loss. Of a day the newest row counts (a vendor's correction is a
later row). A series without its corporate actions (Alpha Vantage's free daily series) is
refused: its adjusted closes are unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from processors.factor_model import DailyCloses
from processors.kit.adjustment import adjusted_closes
from streams.exceptions import InputFileError
from streams.schema.base import INT64_MAX
from streams.storage import connect

SUFFIXES = (".csv", ".csv.gz", ".parquet")
NAMED_AT_MOST = 10  # symbols an error message names before it counts the rest


def bar_files(paths: Sequence[Path]) -> list[Path]:
    """The files named, and the bar files under the directories named, in name order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise InputFileError(f"{path}: no such file or directory")
    if not found:
        names = ", ".join(map(str, paths))
        raise InputFileError(f"no bar files ({', '.join(SUFFIXES)}) in {names}")
    return found


def read_daily_closes(paths: Sequence[Path]) -> DailyCloses:
    """Every symbol's close per UTC day over the bar files of `paths`."""
    frames = [_read(path) for path in bar_files(paths)]
    bars = pd.concat(frames, ignore_index=True).sort_values(["symbol", "time"], kind="stable")
    twice = bars.duplicated(["symbol", "time"], keep=False)
    if twice.any():
        row = bars[twice].iloc[0]
        raise InputFileError(f"two {row['symbol']} bars at {row['time']} (in {row['file']})")
    bars["day"] = bars["time"].dt.floor("D").dt.tz_localize(None)
    last = bars.groupby(["day", "symbol"], sort=True)["close"].last()
    table = last.unstack("symbol")
    return DailyCloses(dates=table.index.to_numpy().astype("datetime64[D]"),
                       symbols=tuple(table.columns), close=table.to_numpy(float))


def database_daily_closes(database_url: str, symbols: Sequence[str]) -> DailyCloses:
    """The closes of `symbols` in bars_1d, per UTC day."""
    with connect(database_url) as conn:
        rows = conn.execute("SELECT time, symbol, close::float8 FROM bars_1d"
                            " WHERE symbol = ANY(%s) ORDER BY time, symbol",
                            (list(symbols),)).fetchall()
    if not rows:
        raise InputFileError(f"bars_1d holds no bars of the {len(symbols)} reference symbols")
    frame = pd.DataFrame(rows, columns=["time", "symbol", "close"])
    frame["day"] = pd.to_datetime(frame["time"], utc=True).dt.tz_localize(None)
    table = frame.pivot(index="day", columns="symbol", values="close")
    return DailyCloses(dates=table.index.to_numpy().astype("datetime64[D]"),
                       symbols=tuple(table.columns), close=table.to_numpy(float))


def adjusted_daily_closes(database_url: str, source: str, symbols: Sequence[str], *,
                          known_by: int | None = None) -> DailyCloses:
    """The closes of `symbols` in `source`'s daily_prices, per day, each adjusted for the
    dividends and splits of the symbol's later days; of each day the newest row (known by
    the instant `known_by`, ns, when given: the data as it stood then)."""
    with connect(database_url) as conn:
        rows = conn.execute(
            "SELECT DISTINCT ON (symbol, date) symbol, date, close::float8, dividend::float8,"
            " split FROM daily_prices WHERE source = %s AND symbol = ANY(%s)"
            " AND ts_event <= %s ORDER BY symbol, date, time DESC",
            (source, list(symbols), INT64_MAX if known_by is None else known_by)).fetchall()
        if not rows:
            others = [r[0] for r in conn.execute(
                "SELECT DISTINCT source FROM daily_prices WHERE symbol = ANY(%s) ORDER BY 1",
                (list(symbols),))]
    if not rows:
        held = f"; it holds theirs of {', '.join(others)}" if others else ""
        by = "" if known_by is None else " known by then (--as-of)"
        raise InputFileError(f"daily_prices holds no {source} prices of the {len(symbols)} "
                             f"reference symbols{by}{held}")
    days = pd.DataFrame(rows, columns=["symbol", "date", "close", "dividend", "split"])
    adjusted = {
        symbol: pd.Series(adjusted_closes(group["close"].to_numpy(float),
                                          group["dividend"].to_numpy(float),
                                          group["split"].to_numpy(float)),
                          index=pd.to_datetime(group["date"]))
        for symbol, group in days.groupby("symbol", sort=True)}  # rows in date order
    unknown = [symbol for symbol, closes in adjusted.items() if closes.isna().any()]
    if unknown:
        raise InputFileError(
            f"{source} gives no dividend or split for days of {_names(unknown)}, so their "
            "adjusted closes are unknown (an unadjusted series: each split would be a return):"
            " load the series with its corporate actions (Alpha Vantage: "
            "ALPHAVANTAGE_DAILY=adjusted, which needs a premium key), or fit on --bars or "
            "--from-database")
    table = pd.DataFrame(adjusted).sort_index()
    return DailyCloses(dates=table.index.to_numpy().astype("datetime64[D]"),
                       symbols=tuple(table.columns), close=table.to_numpy(float))


def _names(symbols: Sequence[str]) -> str:
    named = ", ".join(symbols[:NAMED_AT_MOST])
    rest = len(symbols) - NAMED_AT_MOST
    return f"{named} and {rest} more" if rest > 0 else named


def _read(path: Path) -> pd.DataFrame:
    """One file's bars: symbol, close, time (the UTC instant that dates the bar), file."""
    try:
        frame = (pq.read_table(path).to_pandas() if path.name.endswith(".parquet")
                 else pd.read_csv(path))
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{path}: cannot read: {exc}") from None
    missing = [c for c in ("symbol", "close") if c not in frame]
    if "date" not in frame and "ts_event" not in frame:
        missing.append("date or ts_event")
    if missing:
        raise InputFileError(f"{path}: bar file without column(s) {', '.join(missing)}")
    try:
        if "date" in frame:
            time = pd.to_datetime(frame["date"], format="%Y-%m-%d", utc=True)
        elif "start_ns" in frame:
            time = _instant(frame["start_ns"])
        else:
            time = _instant(frame["ts_event"]) - pd.Timedelta(1, "ns")
        close = pd.to_numeric(frame["close"], errors="raise").astype(float)
    except (ValueError, TypeError) as exc:
        raise InputFileError(f"{path}: {exc}") from None
    bad = ~np.isfinite(close) | (close <= 0)
    if bad.any():
        line = int(np.flatnonzero(bad)[0]) + 2  # a header line, and lines count from 1
        raise InputFileError(f"{path}:{line}: close must be a positive number")
    return pd.DataFrame({"symbol": frame["symbol"].astype(str), "close": close, "time": time,
                         "file": str(path)})


def _instant(column: pd.Series) -> pd.Series:
    """Int ns since the epoch, or ISO-8601 text (UTC unless it says otherwise)."""
    if pd.api.types.is_integer_dtype(column):
        return pd.to_datetime(column, unit="ns", utc=True)
    return pd.to_datetime(column, utc=True, format="ISO8601")
