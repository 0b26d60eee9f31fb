"""`/api/v1/engines` (latest health per engine worker) and `/api/v1/topics` (the log)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter

from api.auth import RequireRead
from api.deps import ConnectionDep, SettingsDep
from api.models import EnginePublic, EnginesPublic, GroupLag, TopicPublic, TopicsPublic, ok
from api.queries import logic
from streams import endpoints, kafka
from streams.catalog import Catalog
from streams.settings import Settings

router = APIRouter(prefix="/api/v1", dependencies=[RequireRead], tags=["system"])
STALE_INTERVALS = 3


@router.get("/engines", response_model=EnginesPublic, responses=ok(EnginesPublic))
async def list_engines(conn: ConnectionDep, settings: SettingsDep) -> EnginesPublic:
    """The newest health report of every engine worker (and of the sink), with its lag;
    `stale` when it has not reported for three health intervals."""
    stale_after = timedelta(milliseconds=STALE_INTERVALS * settings.health_interval_ms)
    now = datetime.now(UTC)
    rows = await logic.engines(conn)
    return EnginesPublic(data=[
        EnginePublic(stale=now - r["time"] > stale_after, **r) for r in rows
    ])


@router.get("/topics", response_model=TopicsPublic, responses=ok(TopicsPublic))
async def list_topics(settings: SettingsDep) -> TopicsPublic:
    """Every topic: catalog entry, partitions, watermarks, and the lag of the worker group
    (NAUTILUS_APP_ID) and the sink group (NAUTILUS_SINK_GROUP) where they consume it."""
    return await asyncio.to_thread(_topics, settings)


def _topics(settings: Settings) -> TopicsPublic:
    brokers = endpoints.kafka_brokers(settings)
    catalog = Catalog.load(settings.topics_file)
    partitions, marks = kafka.partition_watermarks(catalog, brokers)
    lags = kafka.group_lags(brokers, catalog, [settings.app_id, settings.sink_group])
    data = []
    for name, count in partitions.items():
        mine = [tp for tp in marks if tp[0] == name]
        spec = catalog.get(name)
        low, high = sum(marks[tp][0] for tp in mine), sum(marks[tp][1] for tp in mine)
        data.append(TopicPublic(
            name=name, in_catalog=spec is not None, value_model=spec.value if spec else None,
            partitions=count, low=low, high=high, records=high - low,
            consumer_groups=[GroupLag(group=group, lag=lag)
                             for (group, topic), lag in sorted(lags.items()) if topic == name],
        ))
    return TopicsPublic(data=data)
