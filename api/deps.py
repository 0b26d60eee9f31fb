"""FastAPI dependencies shared by the routes, as `Annotated` type aliases.

- `SettingsDep`: the process settings, from `app_settings` (tests swap them with
  `app.dependency_overrides[app_settings] = ...`). A coroutine on purpose: FastAPI runs a
  plain-function dependency in its thread pool, a hop per request.
- `LogSnapshotsDep`: the app's snapshots of the log (topics, watermarks, group lag), taken
  through long-lived broker clients and reused briefly (api/broker.py).
- `ConnectionDep`: an async psycopg connection from the app's pool for the configured
  database, returned to the pool after the request. Pools are made on first use, one per
  database URL, and closed when the app stops (`close_pools`). A database that is down or not
  configured gives 503 through the handlers in `api.errors`, never a driver message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import psycopg
from fastapi import Depends
from psycopg_pool import AsyncConnectionPool
from starlette.requests import HTTPConnection

from api.broker import LogSnapshots
from streams import endpoints
from streams.settings import Settings, get_settings


async def app_settings() -> Settings:
    """The process settings (read once)."""
    return get_settings()


SettingsDep = Annotated[Settings, Depends(app_settings)]

POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 8
POOL_TIMEOUT_S = 5.0


async def get_pool(connection: HTTPConnection, settings: SettingsDep) -> AsyncConnectionPool:
    """The app's connection pool for the configured database (made on first use)."""
    url = endpoints.database_url(settings)
    pools: dict[str, AsyncConnectionPool] = connection.app.state.pools
    pool = pools.get(url)
    if pool is None:
        pool = AsyncConnectionPool(
            url, min_size=POOL_MIN_SIZE, max_size=POOL_MAX_SIZE, timeout=POOL_TIMEOUT_S,
            kwargs={"autocommit": True}, open=False, name="api",
        )
        await pool.open(wait=False)
        pools[url] = pool
    return pool


PoolDep = Annotated[AsyncConnectionPool, Depends(get_pool)]


async def get_connection(pool: PoolDep) -> AsyncIterator[psycopg.AsyncConnection]:
    """A pooled autocommit connection for the duration of one request."""
    async with pool.connection() as conn:
        yield conn


ConnectionDep = Annotated[psycopg.AsyncConnection, Depends(get_connection)]


async def close_pools(pools: dict[str, AsyncConnectionPool]) -> None:
    """Close every pool the app made (on shutdown)."""
    for pool in pools.values():
        await pool.close()
    pools.clear()


async def get_log_snapshots(connection: HTTPConnection) -> LogSnapshots:
    """The app's snapshots of the log (see api/broker.py)."""
    snapshots: LogSnapshots = connection.app.state.log_snapshots
    return snapshots


LogSnapshotsDep = Annotated[LogSnapshots, Depends(get_log_snapshots)]
