"""`/metrics`: Prometheus text format; needs a token with the admin scope (Prometheus sends it
with `authorization: {credentials: nst_...}` in the scrape config). See api/metrics.py."""

from __future__ import annotations

import time

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api import metrics
from api.auth import RequireAdmin
from api.deps import ConnectionDep
from api.queries import logic

router = APIRouter(tags=["metrics"], dependencies=[RequireAdmin])


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def prometheus_metrics(conn: ConnectionDep) -> Response:
    """Request counts and latencies per route, websocket clients, and every engine's (and
    the sink's) newest health: rows, lag, errors."""
    metrics.set_engines(await logic.engines(conn), time.time())
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)
