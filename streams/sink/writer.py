"""Idempotent batch writes: COPY into a temp staging table, then INSERT ... SELECT ... ON
CONFLICT into the real one, every table of a batch in one transaction. A table whose conflict
action is `nothing` takes its batch by COPY straight in (0.6 of the database's time,
measured), under a savepoint: where any row is there already (a re-delivery, a record twice
in the batch) the COPY fails whole and the batch is upserted as above, and so is the next
one, until a batch meets no stored row. The rows that are stored are the same either way.
Rows built one record at a time go in binary COPY; rows built a batch at a time (Arrow
tables, `Table.frame`) go in CSV that Arrow writes, with no Python work per row (its
timestamps carry no zone: the connection's time zone is UTC). On plain PostgreSQL, upserted
1-minute bars also refresh the rollups they touch (streams/sink/rollups.py), in the same
transaction; on TimescaleDB the rollups are continuous aggregates and need nothing.

A row the database refuses (a CHECK the wire model does not enforce, say) must not stop the
sink: when a table's batch fails with a data or integrity error, its rows are retried one by
one under savepoints and the refused ones are returned with the reason, for the dead-letter
topic. Connection errors propagate: the caller retries the whole batch.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg import sql

from streams.sink.rollups import kept_by_sink, refresh_statements
from streams.sink.tables import Row, Table
from streams.storage import connect

log = logging.getLogger(__name__)

DATA_ERRORS = (psycopg.errors.DataError, psycopg.errors.IntegrityError)


@dataclass(slots=True)
class TableRows:
    """One table's rows of a batch, in parts: lists of rows built one record at a time and
    Arrow tables of rows built a batch at a time, in the order they were added (a row's index
    counts through the parts in that order)."""

    parts: list[list[Row] | pa.Table] = field(default_factory=list)

    def add(self, row: Row) -> None:
        if self.parts and isinstance(self.parts[-1], list):
            self.parts[-1].append(row)
        else:
            self.parts.append([row])

    def add_frame(self, frame: pa.Table) -> None:
        self.parts.append(frame)

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts)

    def one(self, index: int) -> TableRows:
        """The row at `index`, alone."""
        for part in self.parts:
            if index < len(part):
                return TableRows([part.slice(index, 1) if isinstance(part, pa.Table)
                                  else [part[index]]])
            index -= len(part)
        raise IndexError(index)

    def without(self, indices: set[int]) -> TableRows:
        """These rows less those at `indices`."""
        kept, start = TableRows(), 0
        for part in self.parts:
            mine = [i - start for i in indices if start <= i < start + len(part)]
            if isinstance(part, pa.Table):
                keep = np.ones(len(part), np.bool_)
                keep[mine] = False
                kept.parts.append(part.filter(keep))
            else:
                gone = set(mine)
                kept.parts.append([row for i, row in enumerate(part) if i not in gone])
            start += len(part)
        return kept


@dataclass(frozen=True, slots=True)
class Refused:
    """A row the database refused: its index in the table's rows and the reason."""

    index: int
    reason: str


class Writer:
    """One connection to the database, (re)opened on demand, writing whole batches."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._conn: psycopg.Connection | None = None
        self._stage_types: dict[str, list[int]] = {}  # table -> COPY column type oids
        self._keeps_rollups = False
        # tables whose last batch met rows already stored (a re-delivery): upserted through
        # the staging table until a batch meets none; the others' batches are COPied straight
        # in, which fails whole (then upserted) where any row is there already
        self._conflicted: set[str] = set()

    def write(self, batch: dict[Table, TableRows]) -> dict[Table, list[Refused]]:
        """Write every table's rows in one transaction; returns the rows refused per table."""
        conn = self._connection()
        refused: dict[Table, list[Refused]] = {}
        try:
            with conn.transaction():
                for table, rows in batch.items():
                    if rows:
                        refused[table] = self._write_table(conn, table, rows)
        except psycopg.Error:
            self.close()
            raise
        return {t: r for t, r in refused.items() if r}

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            self._stage_types.clear()
            conn.close()

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self._url, timeout_s=5)
            self._stage_types.clear()
            with self._conn.transaction():
                self._conn.execute("SET TIME ZONE 'UTC'")  # of the frames' timestamps
                self._keeps_rollups = kept_by_sink(self._conn)
        return self._conn

    def _write_table(
        self, conn: psycopg.Connection, table: Table, rows: TableRows
    ) -> list[Refused]:
        self._ensure_stage(conn, table)
        if table.on_conflict == "nothing" and table.name not in self._conflicted:
            try:
                with conn.transaction():
                    self._copy(conn, table, sql.Identifier(table.name), rows)
                return []
            except DATA_ERRORS:  # a row there already, or refused: the upsert tells which
                self._conflicted.add(table.name)
        try:
            with conn.transaction():
                self._copy_and_upsert(conn, table, rows)
            return []
        except DATA_ERRORS as exc:
            log.warning("batch refused, retrying row by row table=%s rows=%d error=%s",
                        table.name, len(rows), type(exc).__name__)
        refused = []
        for i in range(len(rows)):
            try:
                with conn.transaction():
                    self._copy_and_upsert(conn, table, rows.one(i))
            except DATA_ERRORS as exc:
                refused.append(Refused(i, f"database refused the row: {exc.diag.message_primary}"))
        return refused

    def _ensure_stage(self, conn: psycopg.Connection, table: Table) -> None:
        if table.name in self._stage_types:
            return
        conn.execute(sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS"
        ).format(_stage(table), sql.Identifier(table.name)))
        types = dict(conn.execute(
            "SELECT attname, atttypid::int FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
            (f"stage_{table.name}",)).fetchall())
        self._stage_types[table.name] = [types[c] for c in table.columns]

    def _copy_and_upsert(self, conn: psycopg.Connection, table: Table, rows: TableRows) -> None:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("TRUNCATE {}").format(_stage(table)))
            self._copy(conn, table, _stage(table), rows)
            cur.execute(upsert_sql(table))
            if cur.rowcount == len(rows):  # nothing was there: the next batch may go direct
                self._conflicted.discard(table.name)
            if table.name == "bars_1m" and self._keeps_rollups:
                for statement in refresh_statements(_stage(table)):
                    cur.execute(statement)

    def _copy(self, conn: psycopg.Connection, table: Table, into: sql.Identifier,
              rows: TableRows) -> None:
        """COPY every part of `rows` into `into`: a list of rows in binary, a frame in CSV."""
        columns = sql.SQL(", ").join(map(sql.Identifier, table.columns))
        with conn.cursor() as cur:
            for part in rows.parts:
                if isinstance(part, pa.Table):
                    # Arrow quotes every text and leaves a null empty and unquoted, as
                    # PostgreSQL's CSV reads them (an empty text is "").
                    data = io.BytesIO()
                    pa_csv.write_csv(part, data, pa_csv.WriteOptions(include_header=False))
                    with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT CSV)").format(
                            into, columns)) as copy:
                        copy.write(data.getbuffer())
                    continue
                # Binary COPY: half the Python cost per row of the text format (measured).
                with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                        into, columns)) as copy:
                    copy.set_types(self._stage_types[table.name])
                    for row in part:
                        copy.write_row(row)


def _stage(table: Table) -> sql.Identifier:
    return sql.Identifier(f"stage_{table.name}")


def upsert_sql(table: Table) -> sql.Composed:
    """INSERT ... SELECT from the staging table with the table's conflict action."""
    columns = sql.SQL(", ").join(map(sql.Identifier, table.columns))
    key = sql.SQL(", ").join(map(sql.Identifier, table.key))
    if table.on_conflict == "nothing":
        return sql.SQL(
            "INSERT INTO {t} ({c}) SELECT {c} FROM {s} ON CONFLICT ({k}) DO NOTHING"
        ).format(t=sql.Identifier(table.name), c=columns, s=_stage(table), k=key)
    # DO UPDATE may touch a row once per statement: keep the newest version of each key. A
    # version equal to the stored row (ts_init aside) is not written: NOT EXISTS drops it
    # before the conflict check (a read, which TimescaleDB answers from a compressed chunk
    # without decompressing it, where a conflict check decompresses the batch), and the
    # WHERE keeps DO UPDATE from rewriting a row that another writer made equal meanwhile.
    updates = sql.SQL(", ").join(
        sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c))
        for c in table.columns if c not in table.key
    )
    compared = [c for c in table.columns if c not in table.key and c != "ts_init"]
    return sql.SQL(
        "INSERT INTO {t} ({c}) SELECT {c} FROM ("
        "SELECT DISTINCT ON ({k}) {c} FROM {s} ORDER BY {k}, ts_init DESC) AS v "
        "WHERE NOT EXISTS (SELECT FROM {t} AS o WHERE {same_key} AND {o} IS NOT DISTINCT FROM {v}) "
        "ON CONFLICT ({k}) DO UPDATE SET {u} WHERE {t_cmp} IS DISTINCT FROM {excluded}"
    ).format(t=sql.Identifier(table.name), c=columns, s=_stage(table), k=key, u=updates,
             same_key=sql.SQL(" AND ").join(
                 sql.SQL("o.{c} = v.{c}").format(c=sql.Identifier(c)) for c in table.key),
             o=_row("o", compared), v=_row("v", compared),
             t_cmp=_row(table.name, compared), excluded=_row("excluded", compared))


def _row(alias: str, columns: Sequence[str]) -> sql.Composed:
    """ROW(alias.a, alias.b, ...): compared as a whole with IS [NOT] DISTINCT FROM."""
    return sql.SQL("ROW({})").format(sql.SQL(", ").join(
        sql.Identifier(alias, c) for c in columns))
