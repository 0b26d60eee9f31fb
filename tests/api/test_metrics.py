"""/metrics (admin scope, Prometheus text) and CORS from the allow-list, on real services."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from streams.embedded import free_port
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
    with cleanup(database_url, [], [engine]):
        write(database_url, event("EngineHealth", engine=engine, worker="w-9", lag=42,
                                  events_out=1_234, ts_event=T0))
        before = samples(api_client.get("/metrics", headers=admin_headers).text).get(key, 0)
        for _ in range(3):
            api_client.get("/api/v1/vpin/latest", headers=read_headers)
        api_client.get("/api/v1/no/such/path/123", headers=read_headers)

        after = samples(api_client.get("/metrics", headers=admin_headers).text)

    labels = (("engine", engine), ("worker", "w-9"))
    assert after[key] == before + 3
    assert after[("nautilus_engine_lag", labels)] == 42
    assert after[("nautilus_engine_events_out", labels)] == 1_234
    assert any(("route", "unmatched") in labels for _, labels in after)
    assert not any("/no/such/path" in str(k) for k in after)  # raw paths never become labels


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
