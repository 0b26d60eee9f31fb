"""A symbol's daily prices (table daily_prices) as known at an instant, with their adjusted
closes then.

A row is one day of one source as the vendor reported it: (source, symbol, date) and the
`time` it became known; a correction is a row with a later time. What was known at an
instant is each source's and date's newest row among those known by then. Adjusted closes
are not stored (streams.schema.DailyPrice): a day's is its close times the CRSP factor of the
dividends and splits of the source's later days known at the instant
(`processors.kit.adjustment`), up to the latest of them, whatever the page or `to`; so they
are computed here from the rows of the page's first date onward, and a page never changes
with the ones before or after it.
"""

from __future__ import annotations

from datetime import date
from itertools import islice
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from api.queries import dated_known_at, fetch_rows
from processors.kit.adjustment import adjusted_closes

# Prices and dividends as exact decimal text, as on the wire
COLUMNS = sql.SQL("source, symbol, date, open::text AS open, high::text AS high, "
                  "low::text AS low, close::text AS close, volume, dividend::text AS dividend, "
                  "split, time, ts_event")


async def symbol_known(conn: psycopg.AsyncConnection, symbol: str) -> bool:
    """Whether any day of `symbol` is stored: one probe of daily_prices_symbol_date_idx
    (see api.queries.market.symbol_exists for why not a plain EXISTS)."""
    rows = await fetch_rows(conn, "SELECT coalesce((SELECT symbol FROM daily_prices WHERE "
                                  "symbol >= %(symbol)s ORDER BY symbol LIMIT 1) = %(symbol)s, "
                                  "false) AS known", {"symbol": symbol})
    return bool(rows[0]["known"])


async def days(
    conn: psycopg.AsyncConnection, symbol: str, source: str | None, lo: date | None,
    hi: date | None, as_of_ns: int | None, after: tuple[date, str] | None, limit: int,
) -> list[dict[str, Any]]:
    """Up to `limit` days of `symbol` (of `source` only, when given) dated in [lo, hi), by
    date and source after the cursor's key (those two): each the newest row known at
    `as_of_ns` (None: all stored), with `adjusted_close`, its close adjusted for the actions
    of its source's later days known then (None where one of them is unknown)."""
    first = max((d for d in (lo, after and after[0]) if d is not None), default=None)
    known = await _known_from(conn, symbol, source, first, as_of_ns)
    _adjust(known)
    return list(islice((row for row in known if (hi is None or row["date"] < hi)
                        and (after is None or (row["date"], row["source"]) > after)), limit))


async def _known_from(conn: psycopg.AsyncConnection, symbol: str, source: str | None,
                      first: date | None, as_of_ns: int | None) -> list[dict[str, Any]]:
    """Each source's and date's newest row of `symbol` known at `as_of_ns`, dated `first` or
    later, by date and source."""
    filters: list[sql.Composable] = [sql.SQL("symbol = %(symbol)s")]
    if source is not None:
        filters.append(sql.SQL("source = %(source)s"))
    dated, params = dated_known_at("date", first, None, as_of_ns)
    filters += dated
    params |= {"symbol": symbol, "source": source}
    query = sql.SQL("SELECT DISTINCT ON (date, source) {columns} FROM daily_prices "
                    "WHERE {filters} ORDER BY date, source, time DESC").format(
        columns=COLUMNS, filters=sql.SQL(" AND ").join(filters))
    return await fetch_rows(conn, query, params)


def _adjust(rows: list[dict[str, Any]]) -> None:
    """Set each row's `adjusted_close` from its source's later rows (`rows` by date)."""
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_source.setdefault(row["source"], []).append(row)
    for series in by_source.values():
        adjusted = adjusted_closes(
            np.array([float(row["close"]) for row in series]),
            np.array([np.nan if row["dividend"] is None else float(row["dividend"])
                      for row in series]),
            np.array([np.nan if row["split"] is None else row["split"] for row in series]))
        for row, value in zip(series, adjusted.tolist(), strict=True):
            row["adjusted_close"] = None if np.isnan(value) else value
