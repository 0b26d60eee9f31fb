"""PostgreSQL access shared by the platform: connections, a liveness probe, safe URLs.

Migrations live in `streams.storage.migrate`; the tables they create are documented in
`streams/storage/migrations/`. Both migrations and the TimescaleDB policies change the schema
only while holding the advisory lock MIGRATION_LOCK_KEY.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import conninfo

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10
# pg_advisory_lock key serialising schema changes (migrations, TimescaleDB policies): any
# constant bigint that no other code in this database uses.
MIGRATION_LOCK_KEY = 0x4E415554494C5553  # "NAUTILUS"


def connect(
    database_url: str, *, timeout_s: int = CONNECT_TIMEOUT_S, autocommit: bool = False
) -> psycopg.Connection:
    """A psycopg 3 connection; `timeout_s` bounds the connect (libpq's minimum is 2 s)."""
    return psycopg.connect(database_url, connect_timeout=max(2, timeout_s), autocommit=autocommit)


def ping(database_url: str, timeout_s: int = 2) -> bool:
    """True when the database accepts a connection and answers `SELECT 1` in time."""
    try:
        with connect(database_url, timeout_s=timeout_s, autocommit=True) as conn:
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{timeout_s}s",))
            row = conn.execute("SELECT 1").fetchone()
    except psycopg.Error as exc:
        log.debug("database ping failed error=%s", type(exc).__name__)
        return False
    return row == (1,)


def safe_url(database_url: str) -> str:
    """`database_url` with any password replaced by `***`, for logs and messages."""
    if "://" not in database_url:
        try:
            params = conninfo.conninfo_to_dict(database_url)
        except psycopg.ProgrammingError:
            return "<unparsable connection string>"
        if "password" in params:
            params["password"] = "***"
        return conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})
    parts = urlsplit(database_url)
    netloc = parts.netloc
    if parts.password:
        user = parts.netloc.rpartition("@")[0].partition(":")[0]
        netloc = f"{user}:***@{parts.netloc.rpartition('@')[2]}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, "***" if k == "password" else v) for k, v in pairs]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="/*")))
