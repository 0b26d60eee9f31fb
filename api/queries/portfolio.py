"""An account's portfolio: its newest snapshot and the newest record of each position."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from api.queries import fetch_rows


async def latest_snapshot(conn: psycopg.AsyncConnection, account: str,
                          columns: Sequence[str]) -> dict[str, Any] | None:
    """The account's snapshot with the newest time, or None."""
    query = sql.SQL("SELECT {} FROM portfolio_snapshots WHERE account = %(account)s "
                    "ORDER BY time DESC LIMIT 1").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)))
    rows = await fetch_rows(conn, query, {"account": account})
    return rows[0] if rows else None


async def latest_positions(conn: psycopg.AsyncConnection, account: str, columns: Sequence[str],
                           flat: bool) -> list[dict[str, Any]]:
    """The newest record of each symbol's position of the account, by symbol; those with
    quantity 0 only when `flat`."""
    query = sql.SQL(
        "SELECT {columns} FROM (SELECT DISTINCT ON (symbol) {columns} FROM positions "
        "WHERE account = %(account)s ORDER BY symbol, time DESC) AS newest{open} "
        "ORDER BY symbol").format(
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        open=sql.SQL("") if flat else sql.SQL(" WHERE quantity <> 0"))
    return await fetch_rows(conn, query, {"account": account})
