"""`nautilus-streams db migrate|status|refresh-rollups`: the database schema (versioned SQL
migrations) and, on TimescaleDB, its policies and continuous aggregates."""

from __future__ import annotations

import argparse

from streams.endpoints import database_url
from streams.settings import get_settings
from streams.storage import connect, safe_url, timescale
from streams.storage import migrate as migrations
from streams.storage.policy import format_span


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="apply database migrations, show their status",
                        description="The database schema: versioned SQL migrations and, on "
                        "TimescaleDB, compression / retention / rollup refresh policies.")
    cmds = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True)

    apply = cmds.add_parser(
        "migrate", help="apply pending migrations in order (idempotent)",
        description=(
            "Apply the pending migrations of streams/storage/migrations in version order, "
            "each in its own transaction, recorded in schema_migrations. An applied migration "
            "whose file changed since is an error. On TimescaleDB, then (re)sets the tick "
            "tables' chunk interval and the compression, retention and rollup refresh "
            "policies from NAUTILUS_STORAGE_* (see .env.example), in one transaction."
        ),
    )
    apply.set_defaults(handler=_migrate)

    stat = cmds.add_parser(
        "status", help="every migration: applied, pending, changed, unknown; storage mode",
        description="List every migration with its state, then the storage mode: plain "
        "PostgreSQL, or TimescaleDB with its hypertables and their chunk intervals, "
        "continuous aggregates and policy jobs. Exits 1 when a migration changed or is "
        "unknown to this code.",
    )
    stat.set_defaults(handler=_status)

    refresh = cmds.add_parser(
        "refresh-rollups", help="TimescaleDB: re-materialize bars_5m/1h/1d over their history",
        description="On TimescaleDB, refresh the continuous aggregates bars_5m, bars_1h and "
        "bars_1d: folds in corrections to 1-minute bars older than the refresh policies' "
        "windows. It starts at now minus NAUTILUS_STORAGE_READING_RETENTION (or "
        "_ROLLUP_RETENTION, whichever is shorter) and never before the oldest 1-minute bars "
        "left, so rollups whose 1-minute bars retention dropped are kept, not deleted. On "
        "plain PostgreSQL the sink keeps the rollups exact and there is nothing to do.",
    )
    refresh.set_defaults(handler=_refresh_rollups)


def _migrate(args: argparse.Namespace) -> int:
    settings = get_settings()
    url = database_url(settings)
    applied, mode = migrations.prepare(url, settings.storage_horizons(),
                                       settings.chunk_sizing())
    for migration in applied:
        print(f"applied  {migration.label}")
    total = len(migrations.load())
    print(f"{len(applied)} migration(s) applied; {total} known; database {safe_url(url)}")
    print(mode.summary())
    return 0


def _status(args: argparse.Namespace) -> int:
    url = database_url(get_settings())
    rows = migrations.status(url)
    print(f"{'version':<8} {'name':<32} {'state':<8} applied_at")
    for row in rows:
        at = row.applied_at.isoformat(timespec="seconds") if row.applied_at else "-"
        print(f"{row.version:04d}     {row.name:<32} {row.state:<8} {at}")
    with connect(url) as conn:
        mode = timescale.describe(conn)
    print(mode.summary())
    for table, interval in mode.chunk_intervals:
        print(f"  chunks    {table:<24} {format_span(interval)}")
    for job in mode.jobs:
        print(f"  job {job.job_id:<5} {job.kind:<12} {job.relation:<24} {job.config}")
    bad = [r for r in rows if r.state in ("changed", "unknown")]
    return 1 if bad else 0


def _refresh_rollups(args: argparse.Namespace) -> int:
    settings = get_settings()
    refreshed = timescale.refresh_rollups(database_url(settings), settings.storage_horizons())
    if not refreshed:
        print("plain PostgreSQL: the sink keeps the rollups exact; nothing to refresh")
    for view, (start, seconds) in refreshed.items():
        since = start.isoformat(timespec="seconds") if start else "the beginning"
        print(f"refreshed {view} from {since} in {seconds:.1f} s")
    return 0
