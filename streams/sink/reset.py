"""Empty the database of what the sink wrote: every table of `TABLES` and the rollups it keeps.

The database is a view of the log. `up` runs its embedded broker with the log in memory, so a
new `up` starts from an empty log; the rows its embedded database kept from earlier runs
would be another log's (buckets and offsets numbered from the start again), so `up` empties
them (unless `--keep-data`). API tokens and the migrations' bookkeeping are not stream data
and stay. Never called on a database the user configured.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from streams.sink.rollups import ROLLUPS, kept_by_sink
from streams.sink.tables import TABLES
from streams.storage import connect


def stream_tables(conn: psycopg.Connection) -> list[str]:
    """The tables the sink writes, and the rollups where they are tables it keeps."""
    tables = [t.name for t in TABLES.values()]
    return tables + list(ROLLUPS) if kept_by_sink(conn) else tables


def clear_stream_data(database_url: str) -> list[str]:
    """Empty every stream-data table in one transaction; returns those that held rows."""
    with connect(database_url) as conn, conn.transaction():
        tables = stream_tables(conn)
        held = [t for t in tables if _has_rows(conn, t)]
        if held:
            conn.execute(sql.SQL("TRUNCATE {}").format(
                sql.SQL(", ").join(map(sql.Identifier, tables))))
    return held


def _has_rows(conn: psycopg.Connection, table: str) -> bool:
    row = conn.execute(sql.SQL("SELECT EXISTS (SELECT FROM {})").format(sql.Identifier(table))
                       ).fetchone()
    return bool(row and row[0])
