"""Liveness and readiness probes: `/health` (the process answers) and `/ready` (its services do).

Neither needs a token. `/ready` says which dependency failed but never how: no addresses,
URLs or driver messages, so nothing internal (a password in DATABASE_URL) can leak.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict

from api.deps import SettingsDep
from api.models import ok
from streams import endpoints, storage
from streams.exceptions import ConfigError
from streams.kafka import broker_reachable
from streams.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 2
CheckState = Literal["ok", "unreachable", "not configured"]


class Health(BaseModel):
    """The process is alive."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Whether every dependency answered; `checks` names each one's state."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "ready", "checks": {"broker": "ok", "database": "ok"}},
        {"status": "unavailable", "checks": {"broker": "ok", "database": "unreachable"}},
    ]})

    status: Literal["ready", "unavailable"]
    checks: dict[str, CheckState]


@router.get("/health", response_model=Health, responses=ok(Health))
async def health() -> Health:
    """Always 200 while the process serves requests."""
    return Health()


@router.get(
    "/ready",
    response_model=Readiness,
    responses={**ok(Readiness), status.HTTP_503_SERVICE_UNAVAILABLE: {"model": Readiness}},
)
async def ready(settings: SettingsDep, response: Response) -> Readiness:
    """200 when the broker and the database both answer within a few seconds, else 503."""
    broker, database = await asyncio.gather(
        asyncio.to_thread(_check_broker, settings),
        asyncio.to_thread(_check_database, settings),
    )
    checks: dict[str, CheckState] = {"broker": broker, "database": database}
    if all(state == "ok" for state in checks.values()):
        return Readiness(status="ready", checks=checks)
    log.warning("not ready %s", " ".join(f"{k}={v.replace(' ', '_')}" for k, v in checks.items()))
    response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Readiness(status="unavailable", checks=checks)


def _check_broker(settings: Settings) -> CheckState:
    try:
        brokers = endpoints.kafka_brokers(settings)
    except ConfigError:
        return "not configured"
    return "ok" if broker_reachable(brokers, timeout_s=CHECK_TIMEOUT_S) else "unreachable"


def _check_database(settings: Settings) -> CheckState:
    try:
        url = endpoints.database_url(settings)
    except ConfigError:
        return "not configured"
    return "ok" if storage.ping(url, timeout_s=CHECK_TIMEOUT_S) else "unreachable"
