"""FastAPI dependencies shared by the routes, as `Annotated` type aliases.

- `SettingsDep`: the process settings, from `app_settings` (tests swap them with
  `app.dependency_overrides[app_settings] = ...`). A coroutine on purpose: FastAPI runs a
  plain-function dependency in its thread pool, a hop per request.
- `LogSnapshotsDep`: the app's snapshots of the log (topics, watermarks, group lag), taken
  through long-lived broker clients and reused briefly (api/broker.py).
- `DatabaseDep`: the app's `api.database.Database` for the configured database URL (made on
  first use, one per URL; closed when the app stops, `close_databases`).
- `ConnectionDep`: an async psycopg connection from its pool, returned to the pool after the
  request. A database that is down or not configured gives 503 through the handlers in
  `api.errors`, never a driver message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import psycopg
from fastapi import Depends
from starlette.requests import HTTPConnection

from api.broker import LogSnapshots
from api.database import Database
from streams import endpoints
from streams.settings import Settings, get_settings


async def app_settings() -> Settings:
    """The process settings (read once)."""
    return get_settings()


SettingsDep = Annotated[Settings, Depends(app_settings)]


async def get_database(connection: HTTPConnection, settings: SettingsDep) -> Database:
    """The app's Database for the configured database URL (made on first use)."""
    url = endpoints.database_url(settings)
    databases: dict[str, Database] = connection.app.state.databases
    database = databases.get(url)
    if database is None:
        database = databases[url] = Database(url)
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]


async def get_connection(database: DatabaseDep) -> AsyncIterator[psycopg.AsyncConnection]:
    """A pooled autocommit connection for the duration of one request."""
    async with database.connection() as conn:
        yield conn


ConnectionDep = Annotated[psycopg.AsyncConnection, Depends(get_connection)]


async def close_databases(databases: dict[str, Database]) -> None:
    """Close every database's pool the app made (on shutdown)."""
    for database in databases.values():
        await database.close()
    databases.clear()


async def get_log_snapshots(connection: HTTPConnection) -> LogSnapshots:
    """The app's snapshots of the log (see api/broker.py)."""
    snapshots: LogSnapshots = connection.app.state.log_snapshots
    return snapshots


LogSnapshotsDep = Annotated[LogSnapshots, Depends(get_log_snapshots)]
