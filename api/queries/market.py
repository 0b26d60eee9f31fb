"""Symbols, trades and bars."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from api.queries import fetch_rows, time_bounds

BAR_RELATIONS = {"1m": "bars_1m", "5m": "bars_5m", "1h": "bars_1h", "1d": "bars_1d"}
BAR_SPANS_NS = {"1m": 60 * 10**9, "5m": 300 * 10**9, "1h": 3_600 * 10**9, "1d": 86_400 * 10**9}
SYMBOL_TABLES = {"trades": "trades", "bars": "bars_1m", "vpin": "vpin_readings",
                 "microstructure": "microstructure_features", "fundamentals": "fundamentals",
                 "filings": "filings", "prices": "daily_prices"}

# Distinct symbols by walking the (symbol, ...) primary-key index one symbol at a time: a few
# index probes per symbol instead of a scan of millions of rows.
_SKIP_SCAN = """
WITH RECURSIVE s(symbol) AS (
    (SELECT symbol FROM {t} ORDER BY symbol LIMIT 1)
    UNION ALL
    SELECT (SELECT symbol FROM {t} WHERE symbol > s.symbol ORDER BY symbol LIMIT 1)
    FROM s WHERE s.symbol IS NOT NULL
)
SELECT symbol FROM s WHERE symbol IS NOT NULL
"""


async def symbols(conn: psycopg.AsyncConnection) -> dict[str, list[str]]:
    """Every symbol with data -> the kinds of data held for it."""
    found: dict[str, list[str]] = {}
    for kind, table in SYMBOL_TABLES.items():
        cur = await conn.execute(sql.SQL(_SKIP_SCAN).format(t=sql.Identifier(table)))
        for (symbol,) in await cur.fetchall():
            found.setdefault(symbol, []).append(kind)
    return dict(sorted(found.items()))


_PROBE = sql.SQL("(SELECT symbol FROM {} WHERE symbol >= %(s)s ORDER BY symbol LIMIT 1) = %(s)s")


async def symbol_exists(conn: psycopg.AsyncConnection, symbol: str) -> bool:
    """Whether any table holds data for `symbol`: one index probe per table. (A plain
    EXISTS may be planned as a sequential scan that expects an early hit; rows stored in
    symbol order make that a scan past every other symbol's rows.)"""
    return await symbol_in(conn, SYMBOL_TABLES.values(), symbol)


async def symbol_in(conn: psycopg.AsyncConnection, tables: Iterable[str], symbol: str) -> bool:
    """Whether any of `tables` holds a row of `symbol`: one probe of each one's index that
    leads with symbol."""
    probes = sql.SQL(" OR ").join(_PROBE.format(sql.Identifier(t)) for t in tables)
    cur = await conn.execute(sql.SQL("SELECT coalesce(") + probes + sql.SQL(", false)"),
                             {"s": symbol})
    row = await cur.fetchone()
    return bool(row and row[0])


async def trades(
    conn: psycopg.AsyncConnection, symbol: str, lo: datetime | None, hi: datetime | None,
    after: tuple[datetime, str] | None, limit: int,
) -> list[dict[str, Any]]:
    """Trades of `symbol` in [lo, hi) by (time, trade_uid), after the cursor's key."""
    query = sql.SQL(
        "SELECT symbol, time, ts_event, price::text AS price, size, aggressor, trade_id, venue,"
        " unreported, conditions, trade_uid FROM trades WHERE symbol = %(s)s{bounds}{after}"
        " ORDER BY time, trade_uid LIMIT %(n)s"
    ).format(bounds=time_bounds(lo, hi), after=sql.SQL(
        " AND (time, trade_uid) > (%(at)s, %(uid)s)" if after else ""))
    return await fetch_rows(conn, query, {
        "s": symbol, "lo": lo, "hi": hi, "n": limit,
        "at": after[0] if after else None, "uid": after[1] if after else None})


async def bars(
    conn: psycopg.AsyncConnection, symbol: str, interval: str, lo: datetime | None,
    hi: datetime | None, after: datetime | None, limit: int,
) -> list[dict[str, Any]]:
    """Bars of `symbol` at `interval` starting in [lo, hi), by start time, after the cursor.
    `ts_event` is the bar's end in ns (its start, whole µs, plus the interval), as on
    market.bars.1m, for the rollups too. `vwap` is rounded to 9 decimals, as on
    the wire: a rollup's volume-weighted mean of 1-minute vwaps is float arithmetic."""
    query = sql.SQL(
        "SELECT symbol, time,"
        " (extract(epoch FROM time) * 1000000)::bigint * 1000 + %(span)s AS ts_event,"
        " open::text AS open, high::text AS high, low::text AS low,"
        " close::text AS close, volume, trade_count, round(vwap::numeric, 9)::float8 AS vwap"
        " FROM {rel}"
        " WHERE symbol = %(s)s{bounds}{after} ORDER BY time LIMIT %(n)s"
    ).format(rel=sql.Identifier(BAR_RELATIONS[interval]), bounds=time_bounds(lo, hi),
             after=sql.SQL(" AND time > %(at)s" if after else ""))
    return await fetch_rows(conn, query, {"s": symbol, "lo": lo, "hi": hi, "at": after,
                                          "n": limit, "span": BAR_SPANS_NS[interval]})
