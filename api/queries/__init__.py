"""SQL behind the routes, one module per group of resources; parameterized queries only.

Each list query takes the decoded cursor (the last item's sort key) and fetches `limit + 1`
rows, so the route knows whether a next page exists without counting. The helpers every
query module shares live here: `time_bounds` (the `from`/`to` filter), `known_at` (the
`as_of` filter), `dated_known_at` (both for a date column) and `fetch_rows`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row


def time_bounds(lo: datetime | None, hi: datetime | None) -> sql.Composable:
    """` AND time >= %(lo)s AND time < %(hi)s`, each part only where its bound is given."""
    parts = [sql.SQL("time >= %(lo)s") if lo else None, sql.SQL("time < %(hi)s") if hi else None]
    kept = [p for p in parts if p is not None]
    return sql.SQL(" AND ").join([sql.SQL(""), *kept]) if kept else sql.SQL("")


def known_at(as_of_ns: int) -> tuple[sql.Composable, dict[str, Any]]:
    """The filter of rows known at `as_of_ns` (ns since the epoch, inclusive) and its
    parameters: `ts_event` up to it (exact), and `time` up to its µs (the same rows, and
    TimescaleDB skips the chunks of later times)."""
    known = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=as_of_ns // 1000)
    return (sql.SQL("time <= %(known)s AND ts_event <= %(as_of)s"),
            {"known": known, "as_of": as_of_ns})


def dated_known_at(column: str, lo: date | None, hi: date | None, as_of_ns: int | None,
                   ) -> tuple[list[sql.Composable], dict[str, Any]]:
    """The filters of rows whose `column` (a date) is in [lo, hi) and, where `as_of_ns` is
    given, that were known at it (`known_at`), each only where its bound is given; and their
    parameters."""
    filters: list[sql.Composable] = []
    params: dict[str, Any] = {"lo": lo, "hi": hi}
    if lo is not None:
        filters.append(sql.SQL("{} >= %(lo)s").format(sql.Identifier(column)))
    if hi is not None:
        filters.append(sql.SQL("{} < %(hi)s").format(sql.Identifier(column)))
    if as_of_ns is not None:
        known, known_params = known_at(as_of_ns)
        filters.append(known)
        params |= known_params
    return filters, params


async def fetch_rows(conn: psycopg.AsyncConnection, query: sql.Composable | str,
                     params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of `query` as a dict of column name to value."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, params)  # type: ignore[arg-type]
        return await cur.fetchall()
