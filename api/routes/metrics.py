"""`/metrics`: Prometheus text format; needs a token with the admin scope (Prometheus sends it
with `authorization: {credentials_file: ...}` in the scrape config). See api/metrics.py.

Each scrape reads the engines' workers (as /api/v1/engines lists them) from the database and
the consumer groups' lag
from the broker (a snapshot shared with /api/v1/topics, reused for
NAUTILUS_API_BROKER_CACHE_MS), side by side; a source that fails leaves its gauges out and sets
`nautilus_api_scrape_source_up{source}` to 0 instead of failing the scrape.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import psycopg
from confluent_kafka import KafkaException
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import PoolTimeout

from api import metrics
from api.auth import AUTH_RESPONSES, RequireAdmin
from api.broker import LogSnapshots
from api.database import Database
from api.deps import DatabaseDep, LogSnapshotsDep, SettingsDep
from api.routes.system import workers_now
from streams.exceptions import NautilusError
from streams.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(tags=["metrics"], dependencies=[RequireAdmin], responses=AUTH_RESPONSES)
DATABASE_TIMEOUT_S = 2.0  # a scrape should answer well within Prometheus' 10 s default


EXAMPLE = """\
# HELP nautilus_api_requests_total HTTP requests answered
# TYPE nautilus_api_requests_total counter
nautilus_api_requests_total{method="GET",route="/api/v1/bars",status="200"} 1204.0
# HELP nautilus_consumer_group_lag records not yet committed by the group
# TYPE nautilus_consumer_group_lag gauge
nautilus_consumer_group_lag{group="nautilus-streams",topic="market.trades"} 12.0
"""


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"example": EXAMPLE}}}})
async def prometheus_metrics(
    database: DatabaseDep, log_snapshots: LogSnapshotsDep, settings: SettingsDep
) -> Response:
    """Request counts and latencies per route, websocket clients, every engine's (and the
    sink's) newest health, and the worker and sink groups' lag."""
    engines, lags = await asyncio.gather(_engines(database, settings),
                                         _group_lags(log_snapshots, settings))
    metrics.set_engines(engines, time.time())
    metrics.set_group_lags(lags)
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def _engines(database: Database, settings: Settings) -> list[dict[str, Any]] | None:
    try:
        async with database.connection(DATABASE_TIMEOUT_S) as conn:
            return await workers_now(conn, settings)
    except (PoolTimeout, psycopg.Error) as exc:
        log.warning("metrics: engine health unavailable error=%s", type(exc).__name__)
        return None


async def _group_lags(
    log_snapshots: LogSnapshots, settings: Settings
) -> dict[tuple[str, str], int] | None:
    try:
        return (await log_snapshots.get(settings)).lags
    except (NautilusError, KafkaException) as exc:
        log.warning("metrics: consumer-group lag unavailable error=%s", type(exc).__name__)
        return None
