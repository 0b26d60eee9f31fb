"""Sink fixtures: its own topics (one per routed model), a migrated database of its own, and
a sink running in a thread."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from fastapi.testclient import TestClient

from api.deps import app_settings
from api.main import app
from streams import codec, kafka
from streams.schema import Event
from streams.settings import Settings
from streams.sink.runner import Sink, SinkConfig
from streams.sink.tables import TABLES, Route
from streams.storage import migrate as migrations
from streams.storage import tokens

WAIT_S = 30.0


class SinkTopics:
    """Per-test topics: one per model the sink has a table for, plus dead letters and health."""

    def __init__(self, brokers: str) -> None:
        prefix = f"test.sink.{uuid.uuid4().hex[:8]}"
        self.brokers = brokers
        self.by_model = {model: f"{prefix}.{model.lower()}" for model in TABLES}
        self.dead_letters = f"{prefix}.deadletter-out"
        self.health = f"{prefix}.health-out"
        self.names = [*self.by_model.values(), self.dead_letters, self.health]
        self._producer = kafka.producer(brokers)

    @property
    def routes(self) -> list[Route]:
        return [Route(topic, model, TABLES[model]) for model, topic in self.by_model.items()]

    def produce(self, *events: Event) -> None:
        for event in events:
            self.produce_raw(type(event).__name__, codec.encode(event))
        self.flush()

    def produce_raw(self, model: str, value: bytes) -> None:
        self._producer.produce(self.by_model[model], key=b"k", value=value)

    def flush(self) -> None:
        assert self._producer.flush(10) == 0

    def config(self, database_url: str, **overrides: object) -> SinkConfig:
        fields: dict = {
            "brokers": self.brokers, "database_url": database_url,
            "group": f"sink-{uuid.uuid4().hex[:8]}", "batch_within_ms": 50,
            "retry_min_ms": 100, "retry_max_ms": 1_000, "health_interval_ms": 500,
            "dead_letter_topic": self.dead_letters, "health_topic": self.health,
            **overrides,
        }
        return SinkConfig(**fields)


@pytest.fixture
def sink_topics(kafka_brokers: str) -> Iterator[SinkTopics]:
    topics = SinkTopics(kafka_brokers)
    client = AdminClient({"bootstrap.servers": kafka_brokers})
    new = [NewTopic(name, 1, 1) for name in topics.names]
    for fut in client.create_topics(new, request_timeout=10).values():
        fut.result()
    try:
        yield topics
    finally:
        for fut in client.delete_topics(topics.names, request_timeout=10).values():
            fut.result()


@pytest.fixture
def sink_database(scratch_database: str) -> str:
    migrations.migrate(scratch_database)
    return scratch_database


@pytest.fixture
def api_on(sink_database: str, kafka_brokers: str, tmp_path: Path) -> Iterator[TestClient]:
    """The API on the sink's scratch database, with a read token in its headers."""
    settings = Settings.model_validate(
        {"KAFKA_BROKERS": kafka_brokers, "DATABASE_URL": sink_database, "state_dir": tmp_path,
         "api_token_cache_ms": 0})
    token, _ = tokens.create_token(sink_database, "read", "sink-tests")
    app.dependency_overrides[app_settings] = lambda: settings
    try:
        with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
            yield client
    finally:
        app.dependency_overrides.clear()


@contextmanager
def running(sink: Sink) -> Iterator[Sink]:
    """Run `sink` in a thread; stop it and wait for it on leaving."""
    stopping = threading.Event()
    thread = threading.Thread(target=sink.run, args=(stopping,), daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        stopping.set()
        thread.join(WAIT_S)
        assert not thread.is_alive()


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def count(database_url: str, table: str, where: str = "TRUE", params: tuple = ()) -> int:
    try:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchone()
    except psycopg.OperationalError:
        return -1
    assert row is not None
    return int(row[0])
