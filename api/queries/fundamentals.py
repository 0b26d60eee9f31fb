"""A company's reported figures (table fundamentals) as known at an instant.

A row is one figure as one filing stated it: (source, symbol, field, period, period_end, filed) and
the `time` it became known. A restatement is a row of a later filing. What was known at an
instant is, for each field and fiscal period (its `period` and `period_end`) of each source,
the row of the latest filing among those known by then (the latest `time` breaks a tie).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import psycopg
from psycopg import sql

from api.queries import dated_known_at, fetch_rows

COLUMNS = sql.SQL("source, symbol, field, period, period_end, value, unit, filed, form, time, "
                  "ts_event")
# One figure per group; pages follow the group's key
GROUP = sql.SQL("field, period_end, period, source")



async def figures(
    conn: psycopg.AsyncConnection, symbol: str, source: str | None, fields: Sequence[str],
    lo: date | None, hi: date | None, as_of_ns: int | None,
    after: tuple[str, date, str, str] | None, limit: int,
) -> list[dict[str, Any]]:
    """The newest figure known at `as_of_ns` (None: all stored) of each field and period of
    `symbol` (of `source` only, when given; of `fields` only, when any) whose period ends in
    [lo, hi), by field, period_end, period and source, after the cursor's key (those four)."""
    filters: list[sql.Composable] = [sql.SQL("symbol = %(symbol)s")]
    if source is not None:
        filters.append(sql.SQL("source = %(source)s"))
    if fields:
        filters.append(sql.SQL("field = ANY(%(fields)s)"))
    dated, params = dated_known_at("period_end", lo, hi, as_of_ns)
    filters += dated
    params |= {"symbol": symbol, "source": source, "fields": list(fields), "n": limit}
    if after is not None:
        filters.append(sql.SQL("({}) > (%(a_field)s, %(a_end)s, %(a_period)s, %(a_source)s)")
                       .format(GROUP))
        params |= dict(zip(("a_field", "a_end", "a_period", "a_source"), after, strict=True))
    query = sql.SQL("SELECT DISTINCT ON ({group}) {columns} FROM fundamentals WHERE {filters} "
                    "ORDER BY {group}, filed DESC, time DESC LIMIT %(n)s").format(
        group=GROUP, columns=COLUMNS, filters=sql.SQL(" AND ").join(filters))
    return await fetch_rows(conn, query, params)
