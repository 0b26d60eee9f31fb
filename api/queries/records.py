"""Stored records of any served model, by its storage descriptor: the generic list query."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from api.queries import fetch_rows, time_bounds
from streams.schema.storage import TIME_COLUMN, Stored


def sort_key(stored: Stored) -> tuple[str, ...]:
    """How a table's records are listed: by time, then the rest of the natural key (unique)."""
    return (TIME_COLUMN, *(c for c in stored.key if c != TIME_COLUMN))


async def records(
    conn: psycopg.AsyncConnection, stored: Stored, columns: Sequence[str],
    equal: Mapping[str, str], lo: datetime | None, hi: datetime | None,
    after: Sequence[Any] | None, limit: int,
) -> list[dict[str, Any]]:
    """`columns` of the records in [lo, hi) whose `equal` columns have the given values, by
    the sort key, after the cursor's key."""
    order = sort_key(stored)
    filters = [sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(f"eq_{c}"))
               for c in equal]
    if after is not None:
        filters.append(sql.SQL("({}) > ({})").format(
            sql.SQL(", ").join(map(sql.Identifier, order)),
            sql.SQL(", ").join(sql.Placeholder(f"after_{i}") for i in range(len(order)))))
    query = sql.SQL(
        "SELECT {columns} FROM {table} WHERE {filters}{bounds} ORDER BY {order} LIMIT %(n)s"
    ).format(columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
             table=sql.Identifier(stored.table),
             filters=sql.SQL(" AND ").join([sql.SQL("TRUE"), *filters]),
             bounds=time_bounds(lo, hi), order=sql.SQL(", ").join(map(sql.Identifier, order)))
    params: dict[str, Any] = {"lo": lo, "hi": hi, "n": limit,
                              **{f"eq_{c}": v for c, v in equal.items()},
                              **{f"after_{i}": v for i, v in enumerate(after or ())}}
    return await fetch_rows(conn, query, params)
