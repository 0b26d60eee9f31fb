"""`/api/v1/engines` (latest health per engine worker) and `/api/v1/topics` (the log)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter

from api.auth import RequireRead
from api.deps import ConnectionDep, LogSnapshotsDep, SettingsDep
from api.models import EnginePublic, EnginesPublic, GroupLag, TopicPublic, TopicsPublic
from api.queries import logic
from streams.catalog import Catalog

router = APIRouter(prefix="/api/v1", dependencies=[RequireRead], tags=["system"])
STALE_INTERVALS = 3


@router.get("/engines", response_model=EnginesPublic)
async def list_engines(conn: ConnectionDep, settings: SettingsDep) -> EnginesPublic:
    """The newest health report of every engine worker (and of the sink), with its lag;
    `stale` when it has not reported for three health intervals."""
    stale_after = timedelta(milliseconds=STALE_INTERVALS * settings.health_interval_ms)
    now = datetime.now(UTC)
    rows = await logic.engines(conn)
    return EnginesPublic(data=[
        EnginePublic(stale=now - r["time"] > stale_after, **r) for r in rows
    ])


@router.get("/topics", response_model=TopicsPublic)
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
