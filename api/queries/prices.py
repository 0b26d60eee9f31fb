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

import math
from datetime import date
from itertools import takewhile
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



async def days(
    conn: psycopg.AsyncConnection, symbol: str, source: str | None, lo: date | None,
    hi: date | None, as_of_ns: int | None, after: tuple[date, str] | None, limit: int,
) -> list[dict[str, Any]]:
    """Up to `limit` days of `symbol` (of `source` only, when given) dated in [lo, hi), by
    date and source after the cursor's key (those two): each the newest row known at
    `as_of_ns` (None: all stored), with `adjusted_close`, its close adjusted for the actions
    of its source's later days known then (None where one of them is unknown)."""
    filters, params = _newest_known(symbol, source, lo, hi, as_of_ns)
    if after is not None:
        filters.append(sql.SQL("(date, source) > (%(a_date)s, %(a_source)s)"))
        params |= {"a_date": after[0], "a_source": after[1]}
    # Both queries read one snapshot: a row stored between them cannot adjust a close the
    # page does not show
    async with conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        page = await fetch_rows(conn, sql.SQL(
            "SELECT DISTINCT ON (date, source) {columns} FROM daily_prices WHERE {filters} "
            "ORDER BY date, source, time DESC LIMIT %(n)s").format(
            columns=COLUMNS, filters=sql.SQL(" AND ").join(filters)), params | {"n": limit})
        adjusted = await _adjusted_closes(conn, symbol, source, page[0]["date"],
                                          page[-1]["date"], as_of_ns) if page else {}
    for row in page:
        row["adjusted_close"] = adjusted[row["source"], row["date"]]
    return page


def _newest_known(symbol: str, source: str | None, lo: date | None, hi: date | None,
                  as_of_ns: int | None) -> tuple[list[sql.Composable], dict[str, Any]]:
    """The filters (and their parameters) of `symbol`'s rows (of `source`, when given) dated
    in [lo, hi) and known at `as_of_ns`."""
    filters: list[sql.Composable] = [sql.SQL("symbol = %(symbol)s")]
    if source is not None:
        filters.append(sql.SQL("source = %(source)s"))
    dated, params = dated_known_at("date", lo, hi, as_of_ns)
    return filters + dated, params | {"symbol": symbol, "source": source}


async def _adjusted_closes(
    conn: psycopg.AsyncConnection, symbol: str, source: str | None, first: date, last: date,
    as_of_ns: int | None,
) -> dict[tuple[str, date], float | None]:
    """(source, date) -> adjusted close of each day from `first` to `last` known at
    `as_of_ns`: adjusted for the actions of its source's later days then known, up to the
    latest, whatever `last`."""
    filters, params = _newest_known(symbol, source, first, None, as_of_ns)
    # Only what the adjustment reads, as numbers: every later day of a long history comes
    query = sql.SQL("SELECT DISTINCT ON (date, source) source, date, close::float8, "
                    "dividend::float8, split FROM daily_prices WHERE {filters} "
                    "ORDER BY date, source, time DESC").format(
        filters=sql.SQL(" AND ").join(filters))
    async with conn.cursor() as cur:
        await cur.execute(query, params)
        by_source: dict[str, list[tuple[str, date, float, float | None, float | None]]] = {}
        for row in await cur.fetchall():
            by_source.setdefault(row[0], []).append(row)
    adjusted: dict[tuple[str, date], float | None] = {}
    for day_source, series in by_source.items():
        _, days, close, dividend, split = zip(*series, strict=True)
        # an action the vendor does not give (NULL) is NaN here: unknown
        closes = adjusted_closes(*(np.array(column, dtype=np.float64)
                                   for column in (close, dividend, split)))
        adjusted |= {(day_source, day): None if math.isnan(value) else value
                     for day, value in takewhile(lambda pair: pair[0] <= last,
                                                 zip(days, closes.tolist(), strict=True))}
    return adjusted
