"""The API's way to PostgreSQL: a connection pool while the database answers, and a
connection attempt per request while it does not.

A psycopg pool that loses its database retries on its own backoff (1 s, doubling, for up to
5 minutes), and meanwhile every request waits out the pool's timeout (POOL_TIMEOUT_S) before
its 503; once the database is back, requests still wait, and time out, until the pool's next
scheduled attempt. So when a request fails for want of the database (`OperationalError`: a
connection broken under it, none within the timeout) and a new connection is refused too,
the pool is closed. Without a pool, a request first connects once: refused, it is 503 at once
(`psycopg.OperationalError`, see api.errors); accepted, a new pool serves it. Nothing is
remembered for a while: each answer follows the newest attempt, so there is no 503 after the
database is back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 8
POOL_TIMEOUT_S = 5.0


class Database:
    """One database URL's pool, made on first use and again after the database came back."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pool: AsyncConnectionPool | None = None

    @asynccontextmanager
    async def connection(
        self, timeout_s: float = POOL_TIMEOUT_S
    ) -> AsyncIterator[psycopg.AsyncConnection]:
        """A pooled autocommit connection, waiting up to `timeout_s` for one; raises
        `psycopg.OperationalError` (`PoolTimeout` included) when the database is away."""
        pool = self.pool or await self._open_pool(timeout_s)
        try:
            async with pool.connection(timeout_s) as conn:
                yield conn
        except psycopg.OperationalError:
            await self._close_pool_if_unreachable(pool, timeout_s)
            raise

    async def close(self) -> None:
        """Close the pool (when the app stops)."""
        pool, self.pool = self.pool, None
        if pool is not None:
            await pool.close()

    async def _open_pool(self, timeout_s: float) -> AsyncConnectionPool:
        """The pool, made once a connection attempt was accepted."""
        await _try_to_connect(self.url, timeout_s)
        if self.pool is None:  # else made by another request meanwhile
            pool = AsyncConnectionPool(
                self.url, min_size=POOL_MIN_SIZE, max_size=POOL_MAX_SIZE,
                timeout=POOL_TIMEOUT_S, kwargs={"autocommit": True}, open=False, name="api",
            )
            await pool.open(wait=False)  # starts its tasks, never suspends: nobody came between
            self.pool = pool
            log.info("database pool opened")
        return self.pool

    async def _close_pool_if_unreachable(self, pool: AsyncConnectionPool,
                                         timeout_s: float) -> None:
        if pool is not self.pool:
            return  # closed already, after another request's failure
        try:
            await _try_to_connect(self.url, timeout_s)
        except psycopg.OperationalError as exc:
            if pool is self.pool:
                log.warning("database unreachable: pool closed error=%s", type(exc).__name__)
                await self.close()


async def _try_to_connect(url: str, timeout_s: float) -> None:
    """Connect and close; `psycopg.OperationalError` when refused or not within `timeout_s`
    (libpq counts whole seconds, at least 2)."""
    conn = await psycopg.AsyncConnection.connect(url, connect_timeout=max(2, round(timeout_s)))
    await conn.close()
