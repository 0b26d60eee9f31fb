"""`/api/v1/topics` and `/metrics` look at the broker through one set of long-lived clients,
and reuse a look for NAUTILUS_API_BROKER_CACHE_MS."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.deps import app_settings
from api.main import app
from streams import kafka
from streams.settings import Settings


def _high(client: TestClient, headers: dict, topic: str) -> int:
    rows = client.get("/api/v1/topics", headers=headers).json()["data"]
    return next(r["high"] for r in rows if r["name"] == topic)


def _produce(brokers: str, topic: str, count: int) -> None:
    producer = kafka.producer(brokers)
    for i in range(count):
        producer.produce(topic, key=b"k", value=str(i).encode())
    assert producer.flush(10) == 0


def test_topics_are_reused_within_the_cache_time(
    api_client: TestClient, read_headers: dict, api_settings: Settings, kafka_brokers: str,
    topic: str,
) -> None:
    cached = api_settings.model_copy(update={"api_broker_cache_ms": 600_000})
    app.dependency_overrides[app_settings] = lambda: cached
    before = _high(api_client, read_headers, topic)
    _produce(kafka_brokers, topic, 3)

    within = _high(api_client, read_headers, topic)
    app.dependency_overrides[app_settings] = lambda: api_settings  # no cache
    fresh = _high(api_client, read_headers, topic)

    assert (before, within, fresh) == (0, 0, 3)


def test_one_set_of_broker_clients_serves_every_look(
    api_client: TestClient, read_headers: dict, admin_headers: dict
) -> None:
    # api_settings reuse nothing: every request below looks at the broker
    clients = []
    for path, headers in [("/api/v1/topics", read_headers), ("/metrics", admin_headers),
                          ("/api/v1/topics", read_headers)]:
        assert api_client.get(path, headers=headers).status_code == 200
        clients.append(list(api_client.app.state.log_snapshots.views.values()))  # type: ignore[attr-defined]

    assert len(clients[0]) == 1
    assert all(views[0] is clients[0][0] for views in clients)


def test_topics_show_the_true_end_of_a_log_written_in_large_batches(
    api_client: TestClient, read_headers: dict, kafka_brokers: str, topic: str
) -> None:
    # 20,000 records in the producer's batches of many records each: Tansu answers
    # ListOffsets(latest) with its last batch's base offset + 1 (10,001 for these, seen in
    # issue 16), so a high watermark from ListOffsets would show half the log and a lag short
    # by as much
    _produce(kafka_brokers, topic, 20_000)

    rows = api_client.get("/api/v1/topics", headers=read_headers).json()["data"]

    mine = next(r for r in rows if r["name"] == topic)
    assert (mine["low"], mine["high"], mine["records"]) == (0, 20_000, 20_000)
