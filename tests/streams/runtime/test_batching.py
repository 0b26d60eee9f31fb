"""The batching consumer's settings reach the aiokafka consumer that Faust builds, and its
fetches take the records that arrived while the previous batch was processed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from processors import BarEngine
from streams import kafka
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


async def test_a_fetch_is_topped_up_with_the_records_that_arrived_after_it_was_buffered(
    kafka_brokers: str, topic: str, tmp_path: Path
) -> None:
    # aiokafka buffers its next fetch while a batch is processed; the records produced after
    # that fetch would wait for one more batch. Topped up, the batch takes them too.
    catalog = Catalog.load(REPO_ROOT / "topics.yaml")
    producer = kafka.producer(kafka_brokers)
    sent: list[bytes] = []

    def produce(count: int) -> None:
        for _ in range(count):
            sent.append(f"r{len(sent)}".encode())
            producer.produce(topic, value=sent[-1])
        assert producer.flush(10) == 0

    async def one_batch(fresh_wait_ms: int) -> list[bytes]:
        """Records buffered by the consumer, then more produced, then one batch taken."""
        settings = Settings(state_dir=tmp_path, app_id=f"fresh-{fresh_wait_ms}",
                            fetch_fresh_wait_ms=fresh_wait_ms)
        app, _ = build_app(settings, kafka_brokers, catalog, [BarEngine], EngineParams())
        thread = app.consumer._thread  # type: ignore[attr-defined]
        tp = TopicPartition(topic, 0)
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_brokers, group_id=None,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            first = len(sent)
            produce(3)
            consumer.assign([tp])
            consumer.seek(tp, first)
            async with asyncio.timeout(30):
                while tp not in consumer._fetcher._records:  # the fetch ahead is buffered
                    await asyncio.sleep(0.01)
            produce(4)
            batch = await thread._fetch_records(consumer, {tp}, timeout=30, max_records=100)
            return [record.value for record in batch.get(tp, [])]
        finally:
            await consumer.stop()

    assert await one_batch(fresh_wait_ms=30_000) == sent[-7:]  # returns once the 4 arrive
    assert await one_batch(fresh_wait_ms=0) == sent[-7:-4]
    assert Settings(state_dir=tmp_path).fetch_fresh_wait_ms == 0  # off unless asked for
