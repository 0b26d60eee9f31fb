"""/metrics (admin scope, Prometheus text) and CORS from the allow-list, on real services."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from api.deps import app_settings
from api.main import app
from streams import codec, kafka
from streams.embedded import free_port
from streams.settings import Settings
from tests.api.data import cleanup, unique_symbol, write
from tests.factories import T0, event


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_need_the_admin_scope(
    api_client: TestClient, read_headers: dict, admin_headers: dict
) -> None:
    assert api_client.get("/metrics").status_code == 401
    assert api_client.get("/metrics", headers=read_headers).status_code == 403
    ok = api_client.get("/metrics", headers=admin_headers)
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain")


def test_request_counts_per_route_template_and_engine_health(
    api_client: TestClient, read_headers: dict, admin_headers: dict, database_url: str
) -> None:
    engine = unique_symbol("sink").lower()
    key = ("nautilus_api_requests_total",
           (("method", "GET"), ("route", "/api/v1/vpin/latest"), ("status", "200")))
    now = time.time_ns()
    with cleanup(database_url, [], [engine]):
        write(database_url, event("EngineHealth", engine=engine, worker="w-9", lag=42,
                                  events_out=1_234, ts_event=now, ts_init=now),
              event("EngineHealth", engine=engine, worker="w-gone", ts_event=T0))
        before = samples(api_client.get("/metrics", headers=admin_headers).text).get(key, 0)
        for _ in range(3):
            api_client.get("/api/v1/vpin/latest", headers=read_headers)
        api_client.get("/api/v1/no/such/path/123", headers=read_headers)

        after = samples(api_client.get("/metrics", headers=admin_headers).text)

    labels = (("engine", engine), ("worker", "w-9"))
    assert after[key] == before + 3
    assert after[("nautilus_engine_lag", labels)] == 42
    assert after[("nautilus_engine_events_out", labels)] == 1_234
    assert not any(("worker", "w-gone") in labels for _, labels in after)  # aged out
    assert any(("route", "unmatched") in labels for _, labels in after)
    assert not any("/no/such/path" in str(k) for k in after)  # raw paths never become labels


def test_only_standard_methods_become_labels(
    api_client: TestClient, read_headers: dict, admin_headers: dict
) -> None:
    api_client.request("BREW", "/api/v1/symbols", headers=read_headers)

    after = samples(api_client.get("/metrics", headers=admin_headers).text)

    assert any(("method", "other") in labels for _, labels in after)
    assert not any("BREW" in str(k) for k in after)


def test_consumer_group_lag_comes_from_the_broker(
    api_client: TestClient, admin_headers: dict, api_settings: Settings, kafka_brokers: str
) -> None:
    group = f"test-sink-{uuid.uuid4().hex[:8]}"
    app.dependency_overrides[app_settings] = lambda: api_settings.model_copy(
        update={"sink_group": group})
    partitions: set[int] = set()
    producer = kafka.producer(kafka_brokers)
    for bucket in range(3):
        producer.produce("logic.vpin", key=b"LAG", on_delivery=lambda _, m: partitions.add(
            m.partition()), value=codec.encode(event("VpinReading", symbol="LAG", bucket=bucket)))
    assert producer.flush(10) == 0 and len(partitions) == 1
    ends = kafka.end_offsets(kafka_brokers, "logic.vpin")
    commit(kafka_brokers, group, "logic.vpin",
           {p: end - 3 if p in partitions else end for p, end in ends.items()})

    after = samples(api_client.get("/metrics", headers=admin_headers).text)

    assert after[("nautilus_consumer_group_lag", (("group", group), ("topic", "logic.vpin")))] == 3
    assert after[("nautilus_api_scrape_source_up", (("source", "broker"),))] == 1


def test_a_scrape_without_the_database_still_serves_the_process_metrics(
    api_client: TestClient, admin_headers: dict, api_settings: Settings, tmp_path: Path
) -> None:
    cached = api_settings.model_copy(update={"api_token_cache_ms": 60_000})
    app.dependency_overrides[app_settings] = lambda: cached
    assert api_client.get("/metrics", headers=admin_headers).status_code == 200  # token cached
    app.dependency_overrides[app_settings] = lambda: cached.model_copy(update={
        "database_url": SecretStr(f"postgresql://u:pw@/db?host={tmp_path}&connect_timeout=1")})

    response = api_client.get("/metrics", headers=admin_headers)

    after = samples(response.text)
    assert response.status_code == 200
    assert after[("nautilus_api_scrape_source_up", (("source", "database"),))] == 0
    assert not any(name.startswith("nautilus_engine_") for name, _ in after)
    assert any(name == "nautilus_api_requests_total" for name, _ in after)


def commit(brokers: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": group,
                         "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()],
                        asynchronous=False)
    finally:
        consumer.close()


@pytest.mark.slow
def test_cors_allows_only_the_configured_origins(services_env: dict[str, str]) -> None:
    port = free_port("127.0.0.1")
    env = {**services_env, "NAUTILUS_API_CORS_ORIGINS": "http://dash.example"}
    proc = subprocess.Popen([sys.executable, "-m", "streams", "api", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "api did not start"
                time.sleep(0.2)

        def preflight(origin: str) -> httpx.Response:
            return httpx.options(f"{base}/api/v1/symbols", headers={
                "Origin": origin, "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "Authorization"})

        allowed, other = preflight("http://dash.example"), preflight("http://evil.example")
    finally:
        proc.terminate()
        proc.wait(10)

    assert allowed.headers.get("access-control-allow-origin") == "http://dash.example"
    assert "access-control-allow-origin" not in other.headers
