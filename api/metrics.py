"""Prometheus metrics of the API process, served at `/metrics` (admin scope).

- `nautilus_api_requests_total{route,method,status}` and
  `nautilus_api_request_seconds{route,method}`: per route template (`/api/v1/bars`, never the
  raw path), so the label set stays bounded; unmatched paths count as route="unmatched".
- `nautilus_api_stream_clients` / `nautilus_api_stream_dropped_total`: websocket clients now,
  and clients dropped for falling behind.
- `nautilus_engine_*{engine,worker}`: the newest health report of every engine worker and of
  the sink (engine="sink": `events_out` are rows written, `lag` its records behind), read
  from the database at scrape time.

A registry of its own (not prometheus_client's global one) keeps the process's metrics
explicit and lets tests build apps side by side.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("nautilus_api_requests", "HTTP requests answered",
                   ("route", "method", "status"), registry=REGISTRY)
LATENCY = Histogram("nautilus_api_request_seconds", "HTTP request latency", ("route", "method"),
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
                    registry=REGISTRY)
STREAM_CLIENTS = Gauge("nautilus_api_stream_clients", "websocket clients connected",
                       registry=REGISTRY)
STREAM_DROPPED = Counter("nautilus_api_stream_dropped", "websocket clients dropped as too slow",
                         registry=REGISTRY)
ENGINE_FIELDS = ("lag", "events_in", "events_out", "errors", "dead_letters")
ENGINE_GAUGES = {
    name: Gauge(f"nautilus_engine_{name}", f"newest health report: {name}",
                ("engine", "worker"), registry=REGISTRY)
    for name in ENGINE_FIELDS
}
ENGINE_AGE = Gauge("nautilus_engine_report_age_seconds", "seconds since the newest report",
                   ("engine", "worker"), registry=REGISTRY)


def set_engines(rows: list[dict[str, Any]], now: float) -> None:
    """Engine gauges from the newest health row per (engine, worker)."""
    for gauge in (*ENGINE_GAUGES.values(), ENGINE_AGE):
        gauge.clear()
    for row in rows:
        labels = (row["engine"], row["worker"])
        for name, gauge in ENGINE_GAUGES.items():
            if row[name] is not None:
                gauge.labels(*labels).set(row[name])
        ENGINE_AGE.labels(*labels).set(now - row["time"].timestamp())


class RequestMetrics:
    """ASGI middleware counting and timing HTTP requests per route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope["method"]
            REQUESTS.labels(template, method, str(status)).inc()
            LATENCY.labels(template, method).observe(time.perf_counter() - started)
