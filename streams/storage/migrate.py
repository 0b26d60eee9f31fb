"""Versioned plain-SQL migrations, applied in order and recorded in `schema_migrations`.

A migration is a file `NNNN_name.sql` in `streams/storage/migrations/`. `migrate()` applies
the pending ones, each in its own transaction together with its `schema_migrations` row, so a
failed migration leaves nothing behind. It is idempotent, and safe to run from several
processes at once (a session advisory lock serialises them). Applied migrations are
immutable: a file whose checksum no longer matches the recorded one, or a recorded version
with no file, is a MigrationError; write a new migration instead.

`prepare()` is what `db migrate` and `up` run: the migrations, the check that they created
every table and key the storage descriptors name (streams/storage/schema_check.py), then the
TimescaleDB chunk intervals and policies (streams/storage/timescale.py), which depend on
configuration rather than on a migration.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import psycopg

from streams.exceptions import MigrationError, StorageError
from streams.storage import MIGRATION_LOCK_KEY, connect, safe_url, schema_check, timescale
from streams.storage.policy import ChunkSizing, Horizons

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""

State = Literal["applied", "pending", "changed", "unknown"]


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: its version, name, SQL and the SHA-256 of its bytes."""

    version: int
    name: str
    sql: str
    checksum: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """A migration as the database sees it.

    `state`: applied; pending (file not yet applied); changed (applied, but the file differs
    now); unknown (recorded in the database, no such file here).
    """

    version: int
    name: str
    state: State
    applied_at: datetime | None


def load(migrations_dir: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files of `migrations_dir`, by version; other files are ignored."""
    found: dict[int, Migration] = {}
    for path in sorted(migrations_dir.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"migration file {path.name}: expected NNNN_name.sql")
        data = path.read_bytes()
        migration = Migration(
            int(match[1]), match[2], data.decode(), hashlib.sha256(data).hexdigest()
        )
        if migration.version in found:
            raise MigrationError(f"migration version {match[1]} appears twice")
        found[migration.version] = migration
    return [found[v] for v in sorted(found)]


def migrate(database_url: str, migrations_dir: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply every pending migration in version order; returns those applied (may be none)."""
    migrations = load(migrations_dir)
    with _connection(database_url) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            conn.execute(_CREATE_TABLE)
            recorded = _recorded(conn)
            _check_unchanged(migrations, recorded)
            pending = [m for m in migrations if m.version not in recorded]
            for migration in pending:
                _apply(conn, migration)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return pending


def prepare(
    database_url: str, horizons: Horizons, sizing: ChunkSizing,
    migrations_dir: Path = MIGRATIONS_DIR,
) -> tuple[list[Migration], timescale.StorageMode]:
    """Apply pending migrations, check them against the storage descriptors, then set the
    TimescaleDB chunk intervals and policies (nothing on plain PostgreSQL); returns the
    migrations applied and the storage mode."""
    applied = migrate(database_url, migrations_dir)
    schema_check.check_stored(database_url)
    materialize = bool(timescale.REBUILDS_ROLLUPS & {m.label for m in applied})
    return applied, timescale.configure(database_url, horizons, sizing, materialize=materialize)


def status(database_url: str, migrations_dir: Path = MIGRATIONS_DIR) -> list[MigrationStatus]:
    """Every known migration, file or database row, with its state; changes nothing."""
    migrations = {m.version: m for m in load(migrations_dir)}
    with _connection(database_url) as conn:
        exists = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
        rows = conn.execute(
            "SELECT version, name, checksum, applied_at FROM schema_migrations"
        ).fetchall() if exists and exists[0] else []
    recorded = {version: (name, checksum, at) for version, name, checksum, at in rows}
    result = []
    for version in sorted(migrations.keys() | recorded.keys()):
        file = migrations.get(version)
        row = recorded.get(version)
        if row is None:
            assert file is not None
            result.append(MigrationStatus(version, file.name, "pending", None))
            continue
        name, checksum, applied_at = row
        state: State = (
            "unknown" if file is None else "applied" if file.checksum == checksum else "changed"
        )
        result.append(MigrationStatus(version, name, state, applied_at))
    return result


def _connection(database_url: str) -> psycopg.Connection:
    try:
        return connect(database_url, autocommit=True)
    except psycopg.Error as exc:
        raise StorageError(
            f"database {safe_url(database_url)} unreachable: {type(exc).__name__}"
        ) from exc


def _recorded(conn: psycopg.Connection) -> dict[int, tuple[str, str]]:
    rows = conn.execute("SELECT version, name, checksum FROM schema_migrations").fetchall()
    return {version: (name, checksum) for version, name, checksum in rows}


def _check_unchanged(migrations: list[Migration], recorded: dict[int, tuple[str, str]]) -> None:
    files = {m.version: m for m in migrations}
    unknown = sorted(v for v in recorded if v not in files)
    if unknown:
        raise MigrationError(
            "the database has migrations this code does not know: "
            + ", ".join(f"{v:04d}_{recorded[v][0]}" for v in unknown)
        )
    changed = [m.label for m in migrations
               if m.version in recorded and recorded[m.version][1] != m.checksum]
    if changed:
        raise MigrationError(
            f"applied migration(s) changed since they were applied: {', '.join(changed)}; "
            "restore the file(s) and put the change in a new migration"
        )


def _apply(conn: psycopg.Connection, migration: Migration) -> None:
    try:
        with conn.transaction():
            conn.execute(migration.sql.encode())  # static SQL from our own file, no parameters
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
    except psycopg.Error as exc:
        raise MigrationError(f"migration {migration.label} failed: {exc}") from exc
    log.info("migration applied version=%d name=%s", migration.version, migration.name)
