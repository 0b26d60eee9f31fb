"""The ASGI app, `api.main:app`: builds the FastAPI app and includes the routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

from api import errors, log_redaction
from api.body_limit import BodyLimit
from api.broker import LogSnapshots
from api.deps import close_databases
from api.live import LiveHub
from api.metrics import RequestMetrics
from api.routes import (
    accounts,
    analytics,
    dashboard,
    filings,
    fundamentals,
    health,
    macro,
    margin,
    market,
    metrics,
    portfolio,
    prices,
    records,
    risk,
    stream,
    system,
)
from api.security import SecurityHeaders
from streams import process_logging
from streams.settings import get_settings

# This module is where every server process starts, uvicorn's spawned ones (`api --workers N`)
# included: they get the CLI's log format here, and in every one request lines carry
# `?token=`, which must never reach the log.
process_logging.configure(get_settings().log_level)
log_redaction.install()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.databases = {}  # database URL -> api.database.Database
    app.state.token_cache = {}
    app.state.rate_buckets = {}  # token sha256 -> (requests left, when), see api.auth
    app.state.live = LiveHub()
    app.state.latest_cache = {}  # /api/v1/vpin/latest answers, see api/routes/analytics.py
    app.state.latest_pending = {}  # and the queries in flight for them
    app.state.log_snapshots = LogSnapshots()  # /api/v1/topics and /metrics, see api/broker.py
    try:
        yield
    finally:
        await app.state.live.close()
        app.state.log_snapshots.close()  # the broker clients
        await close_databases(app.state.databases)


# /docs (Swagger UI) and /redoc load their JavaScript, CSS and icon from the API itself
# (fastapi-offline ships them), not from a CDN, so they work offline; Swagger UI's online
# validator badge is off for the same reason.
app = FastAPIOffline(
    title="Nautilus Streams",
    description=(
        "Trading analytics from the Nautilus Streams pipeline. Every route but /health, "
        "/ready and the dashboard page (`/`, `/static/...`; it asks for a token) needs "
        "`Authorization: Bearer <token>` (`nautilus-streams token create`)."
    ),
    version="0.1.0",
    lifespan=lifespan,
    swagger_ui_parameters={"validatorUrl": None},
)
# Innermost of the middleware, so that its 413 carries the secure headers and is counted
app.add_middleware(BodyLimit, max_body_bytes=get_settings().api_max_body_bytes)
_origins = [o.strip() for o in get_settings().api_cors_origins.split(",") if o.strip()]
if _origins:
    app.add_middleware(
        CORSMiddleware, allow_origins=_origins, allow_methods=["GET"],
        allow_headers=["Authorization"],
    )
app.add_middleware(SecurityHeaders)
app.add_middleware(RequestMetrics)
errors.install(app)
app.include_router(health.router)
app.include_router(dashboard.router)
app.mount("/static", dashboard.assets, name="static")
for module in (market, macro, fundamentals, filings, prices, analytics, records, portfolio, risk,
               margin, accounts, system, stream, metrics):
    app.include_router(module.router)
