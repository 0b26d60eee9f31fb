"""`/api/v1/engines` (each engine's workers as they are now) and `/api/v1/topics` (the log)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from fastapi import APIRouter

from api.auth import AUTH_RESPONSES, RequireRead
from api.deps import ConnectionDep, LogSnapshotsDep, SettingsDep
from api.models import EnginePublic, EnginesPublic, GroupLag, TopicPublic, TopicsPublic, ok
from api.queries import logic
from streams.catalog import Catalog
from streams.settings import STALE_INTERVALS, Settings

router = APIRouter(prefix="/api/v1", dependencies=[RequireRead], responses=AUTH_RESPONSES,
                   tags=["system"])


@router.get("/engines", response_model=EnginesPublic, responses=ok(EnginesPublic))
async def list_engines(conn: ConnectionDep, settings: SettingsDep) -> EnginesPublic:
    """Every engine's workers (and the sink, and feeds that report health) by their newest
    report: `current` marks those the engine runs on now, listed first; a worker that
    stopped cleanly shows `stopped`, one silent for three health intervals without saying so
    `stale`; a worker silent for NAUTILUS_API_ENGINE_HORIZON_MS is no longer listed."""
    return EnginesPublic(data=[EnginePublic(**r) for r in await workers_now(conn, settings)])


async def workers_now(conn: psycopg.AsyncConnection, settings: Settings) -> list[dict[str, Any]]:
    """The newest report of each worker heard from within the horizon, judged against now:
    `status` (the report's, or `stale`), `stale`, `current`; by engine, current first,
    then newest first."""
    now = datetime.now(UTC)
    since = now - timedelta(milliseconds=settings.api_engine_horizon_ms)
    stale_after = timedelta(milliseconds=STALE_INTERVALS * settings.health_interval_ms)
    judged = []
    for row in await logic.engines(conn, since):
        stale = now - row["time"] > stale_after
        status = "stale" if stale and row["status"] != "stopped" else row["status"]
        judged.append({**row, "status": status, "stale": stale,
                       "current": status not in ("stopped", "stale")})
    judged.sort(key=lambda r: (r["engine"], not r["current"], now - r["time"], r["worker"]))
    return judged


@router.get("/topics", response_model=TopicsPublic, responses=ok(TopicsPublic))
async def list_topics(log_snapshots: LogSnapshotsDep, settings: SettingsDep) -> TopicsPublic:
    """Every topic: catalog entry, partitions, watermarks, and the lag of the worker group
    (NAUTILUS_APP_ID) and the sink group (NAUTILUS_SINK_GROUP) where they consume it; the
    broker's answer is reused for NAUTILUS_API_BROKER_CACHE_MS."""
    snapshot = await log_snapshots.get(settings)
    catalog = Catalog.load(settings.topics_file)
    return TopicsPublic(data=[
        TopicPublic(
            name=name, in_catalog=name in catalog,
            value_model=spec.value if (spec := catalog.get(name)) else None,
            partitions=count, low=snapshot.low(name), high=snapshot.high(name),
            records=snapshot.high(name) - snapshot.low(name),
            consumer_groups=[GroupLag(group=group, lag=lag)
                             for (group, topic), lag in sorted(snapshot.lags.items())
                             if topic == name],
        )
        for name, count in snapshot.partitions.items()
    ])
