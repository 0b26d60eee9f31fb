"""`nautilus-streams db migrate|status`: the database schema (versioned SQL migrations)."""

from __future__ import annotations

import argparse

from streams.endpoints import database_url
from streams.settings import get_settings
from streams.storage import migrate as migrations
from streams.storage import safe_url


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="apply database migrations, show their status")
    cmds = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True)

    apply = cmds.add_parser(
        "migrate", help="apply pending migrations in order (idempotent)",
        description=(
            "Apply the pending migrations of streams/storage/migrations in version order, "
            "each in its own transaction, recorded in schema_migrations. An applied migration "
            "whose file changed since is an error."
        ),
    )
    apply.set_defaults(handler=_migrate)

    stat = cmds.add_parser("status", help="every migration: applied, pending, changed, unknown")
    stat.set_defaults(handler=_status)


def _migrate(args: argparse.Namespace) -> int:
    url = database_url(get_settings())
    applied = migrations.migrate(url)
    for migration in applied:
        print(f"applied  {migration.label}")
    total = len(migrations.load())
    print(f"{len(applied)} migration(s) applied; {total} known; database {safe_url(url)}")
    return 0


def _status(args: argparse.Namespace) -> int:
    url = database_url(get_settings())
    rows = migrations.status(url)
    print(f"{'version':<8} {'name':<32} {'state':<8} applied_at")
    for row in rows:
        at = row.applied_at.isoformat(timespec="seconds") if row.applied_at else "-"
        print(f"{row.version:04d}     {row.name:<32} {row.state:<8} {at}")
    bad = [r for r in rows if r.state in ("changed", "unknown")]
    return 1 if bad else 0
