"""Macro series (table macro_observations): which are stored, and a series' observations as
of an instant, or every vintage of them.

A row is one vintage of one observation: (source, series, date, realtime_start) and the
`time` it became known (the primary key, in that order). What was known at an instant is
each date's row with the latest realtime_start among those known by then (the latest `time`
breaks a tie: the same vintage published again).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg
from psycopg import sql

from api.queries import dated_known_at, fetch_rows

COLUMNS = sql.SQL("source, series, date, realtime_start, value, unit, time, ts_event")

# (source, series) pairs by walking the primary key's index one pair at a time, then each
# pair's first and last date from the same index and its newest record from
# macro_observations_series_time_idx: a few index probes per series, no scan of their rows.
_SERIES = """
WITH RECURSIVE pairs(source, series) AS (
    (SELECT source, series FROM macro_observations ORDER BY source, series LIMIT 1)
    UNION ALL
    SELECT next.source, next.series FROM pairs CROSS JOIN LATERAL (
        SELECT m.source, m.series FROM macro_observations m
        WHERE (m.source, m.series) > (pairs.source, pairs.series)
        ORDER BY m.source, m.series LIMIT 1) AS next
)
SELECT pairs.source, pairs.series, newest.unit, first.date AS first_date,
       last.date AS last_date, newest.realtime_start AS newest_vintage
FROM pairs
CROSS JOIN LATERAL (SELECT date FROM macro_observations m
                    WHERE m.source = pairs.source AND m.series = pairs.series
                    ORDER BY date LIMIT 1) AS first
CROSS JOIN LATERAL (SELECT date FROM macro_observations m
                    WHERE m.source = pairs.source AND m.series = pairs.series
                    ORDER BY date DESC LIMIT 1) AS last
CROSS JOIN LATERAL (SELECT realtime_start, unit FROM macro_observations m
                    WHERE m.series = pairs.series AND m.source = pairs.source
                    ORDER BY time DESC, realtime_start DESC LIMIT 1) AS newest
ORDER BY pairs.source, pairs.series
"""

# The sources (few) by walking the primary key's index, each probed for the series
_SOURCES_OF = """
WITH RECURSIVE sources(source) AS (
    (SELECT source FROM macro_observations ORDER BY source LIMIT 1)
    UNION ALL
    SELECT (SELECT source FROM macro_observations WHERE source > sources.source
            ORDER BY source LIMIT 1)
    FROM sources WHERE sources.source IS NOT NULL
)
SELECT source FROM sources WHERE source IS NOT NULL AND EXISTS (
    SELECT FROM macro_observations m WHERE m.source = sources.source AND m.series = %(series)s)
ORDER BY source
"""


async def series_list(conn: psycopg.AsyncConnection) -> list[dict[str, Any]]:
    """Every stored series by source and id: its unit, first and last date, newest vintage."""
    return await fetch_rows(conn, _SERIES, {})


async def sources_of(conn: psycopg.AsyncConnection, series: str) -> list[str]:
    """The sources that `series` is stored under, by name."""
    return [row["source"] for row in await fetch_rows(conn, _SOURCES_OF, {"series": series})]


async def observations(
    conn: psycopg.AsyncConnection, source: str, series: str, lo: date | None, hi: date | None,
    as_of_ns: int | None, vintages: bool, after: tuple[date, date, Any] | None, limit: int,
) -> list[dict[str, Any]]:
    """Observations of one series with dates in [lo, hi) known at `as_of_ns` (None: all
    stored), after the cursor's key (date, realtime_start, time): by date, each date's
    newest vintage then known, or with `vintages` every vintage then known, by date,
    realtime_start and time."""
    dated, params = dated_known_at("date", lo, hi, as_of_ns)
    filters: list[sql.Composable] = [
        sql.SQL("source = %(source)s AND series = %(series)s"), *dated]
    params |= {"source": source, "series": series, "n": limit}
    if after is not None:
        filters.append(sql.SQL("(date, realtime_start, time) > (%(a_date)s, %(a_start)s, "
                               "%(a_time)s)" if vintages else "date > %(a_date)s"))
        params |= dict(zip(("a_date", "a_start", "a_time"), after, strict=True))
    query = sql.SQL("SELECT {pick}{columns} FROM macro_observations WHERE {filters} "
                    "ORDER BY {order} LIMIT %(n)s").format(
        pick=sql.SQL("" if vintages else "DISTINCT ON (date) "), columns=COLUMNS,
        filters=sql.SQL(" AND ").join(filters),
        order=sql.SQL("date, realtime_start, time" if vintages
                      else "date, realtime_start DESC, time DESC"))
    return await fetch_rows(conn, query, params)
