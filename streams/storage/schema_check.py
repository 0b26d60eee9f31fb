"""Does the migrated database hold what the storage descriptors name?

Every stored model's descriptor (streams/schema/storage.py) names a table and a natural key;
the migrations create them in explicit SQL. `check_stored` compares the two after migrating:
the table exists, a unique index (the primary key or another) covers exactly the key, so the
sink's `ON CONFLICT (key)` has something to infer, and on a database that took the TimescaleDB
path, the table is a hypertable exactly when its descriptor says so. `migrate.prepare()` (run
by `db migrate` and `up`) refuses a database that differs, naming model, table and key.
"""

from __future__ import annotations

from collections.abc import Mapping

import psycopg

from streams.exceptions import MigrationError
from streams.schema import STORED
from streams.schema.storage import Stored
from streams.storage import connect, timescale


def check_stored(database_url: str) -> None:
    """Raise MigrationError listing every stored model whose table or key the migrated
    database lacks."""
    with connect(database_url) as conn:
        mode = timescale.describe(conn)
        problems = stored_problems(
            conn, mode.hypertables if mode.continuous_aggregates else None)
    if problems:
        raise MigrationError("the migrations do not match the storage descriptors "
                             "(streams/schema): " + "; ".join(problems))


def stored_problems(
    conn: psycopg.Connection, hypertables: tuple[str, ...] | None,
    descriptors: Mapping[str, Stored] = STORED,
) -> list[str]:
    """What the database lacks for `descriptors` (model name -> descriptor), one line each;
    `hypertables`: the database's hypertables, or None where it took the plain path."""
    problems = []
    for model, stored in descriptors.items():
        where = f"{model}: table {stored.table}"
        if not _exists(conn, stored.table):
            problems.append(f"{where} does not exist; add a migration that creates it")
            continue
        if frozenset(stored.key) not in _unique_keys(conn, stored.table):
            problems.append(f"{where} has no primary or unique key on ({', '.join(stored.key)})")
        if hypertables is not None and stored.hypertable != (stored.table in hypertables):
            problems.append(f"{where} is {'not ' if stored.hypertable else ''}a hypertable, "
                            f"its descriptor says hypertable={stored.hypertable}")
    return problems


def _exists(conn: psycopg.Connection, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def _unique_keys(conn: psycopg.Connection, table: str) -> set[frozenset[str]]:
    rows = conn.execute(
        "SELECT array_agg(a.attname::text) FROM pg_index AS i"
        " JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = %s::regclass AND i.indisunique AND i.indpred IS NULL"
        " GROUP BY i.indexrelid", (table,)).fetchall()
    return {frozenset(columns) for (columns,) in rows}
