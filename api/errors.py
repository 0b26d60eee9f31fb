"""Exception handlers: what a client sees when a dependency fails.

The database or broker being down or not configured is 503 with a fixed message; nothing
from the driver (addresses, URLs, passwords) reaches the client. Details go to the log.
"""

from __future__ import annotations

import logging

import psycopg
from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout

from streams.exceptions import BrokerError, ConfigError, StorageError

log = logging.getLogger(__name__)


def _unavailable(what: str):  # noqa: ANN202 - an exception handler
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        log.warning("unavailable path=%s what=%s error=%s", request.url.path, what,
                    type(exc).__name__)
        return JSONResponse(
            {"detail": f"the {what} is unavailable"},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )

    return handle


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(PoolTimeout, _unavailable("database"))
    app.add_exception_handler(psycopg.OperationalError, _unavailable("database"))
    app.add_exception_handler(StorageError, _unavailable("database"))
    app.add_exception_handler(BrokerError, _unavailable("broker"))
    app.add_exception_handler(ConfigError, _unavailable("service configuration"))
