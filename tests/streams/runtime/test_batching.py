"""The batching consumer's settings reach the aiokafka consumer that Faust builds."""

from __future__ import annotations

from pathlib import Path

from processors import BarEngine
from streams.catalog import Catalog
from streams.runtime.app import build_app
from streams.settings import REPO_ROOT, EngineParams, Settings


async def test_worker_fetches_wait_at_the_broker_only_as_long_as_configured(
    kafka_brokers: str, tmp_path: Path
) -> None:
    # Faust hard-codes 1,500 ms; a busy worker then stalls on fetches of idle partitions
    # (streams/runtime/batching.py). The setting must reach the consumer Faust creates.
    settings = Settings(state_dir=tmp_path, app_id="fetch-wait-check", fetch_max_wait_ms=123)
    catalog = Catalog.load(REPO_ROOT / "topics.yaml")
    app, _ = build_app(settings, kafka_brokers, catalog, [BarEngine], EngineParams())
    thread = app.consumer._thread  # type: ignore[attr-defined]
    consumer = thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_max_wait_ms == 123
        assert Settings(state_dir=tmp_path).fetch_max_wait_ms == 100
    finally:
        await consumer.stop()


async def test_a_worker_given_a_group_instance_id_joins_its_group_as_that_static_member(
    kafka_brokers: str, tmp_path: Path
) -> None:
    settings = Settings(state_dir=tmp_path, app_id="static-member-check",
                        group_instance_id="worker-7")
    catalog = Catalog.load(REPO_ROOT / "topics.yaml")
    app, _ = build_app(settings, kafka_brokers, catalog, [BarEngine], EngineParams())
    consumer = app.consumer._thread._create_worker_consumer(  # type: ignore[attr-defined]
        app.transport)
    try:
        assert consumer._group_instance_id == "worker-7"
        assert Settings(state_dir=tmp_path).group_instance_id is None  # dynamic by default
    finally:
        await consumer.stop()
