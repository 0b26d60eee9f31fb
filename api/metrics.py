"""Prometheus metrics of the API process, served at `/metrics` (admin scope).

- `nautilus_api_requests_total{route,method,status}` and
  `nautilus_api_request_seconds{route,method}`: per route template (`/api/v1/bars`, never the
  raw path), so the label set stays bounded; unmatched paths count as route="unmatched",
  methods outside the standard ones as method="other".
- `nautilus_api_stream_clients` / `nautilus_api_stream_dropped_total{reason}`: websocket
  clients now, and clients dropped (reason="slow": fell behind, close 1013; "failed": the
  topic's live feed failed, close 1011).
- `nautilus_engine_*{engine,worker}`: the newest health report of every engine worker and of
  the sink (engine="sink": `events_out` are rows written) heard from within
  NAUTILUS_API_ENGINE_HORIZON_MS, read from the database at scrape time (the workers
  /api/v1/engines lists); `nautilus_engine_status{...,status}` is 1 for the worker's status
  there (the reported one, or `stale`).
- `nautilus_consumer_group_lag{group,topic}`: records the worker group (NAUTILUS_APP_ID) and
  the sink group (NAUTILUS_SINK_GROUP) have not committed yet, from the broker at scrape time
  (the sink's health reports carry its own lag as well, see streams/sink/runner.py).
- `nautilus_api_scrape_source_up{source}`: 0 when the database or broker part of the last
  scrape failed (its gauges are then absent), 1 otherwise.

A registry of its own (not prometheus_client's global one) keeps the process's metrics
explicit and lets tests build apps side by side.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry(auto_describe=True)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
REQUESTS = Counter("nautilus_api_requests", "HTTP requests answered",
                   ("route", "method", "status"), registry=REGISTRY)
LATENCY = Histogram("nautilus_api_request_seconds", "HTTP request latency", ("route", "method"),
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
                    registry=REGISTRY)
STREAM_CLIENTS = Gauge("nautilus_api_stream_clients", "websocket clients connected",
                       registry=REGISTRY)
STREAM_DROPPED = Counter("nautilus_api_stream_dropped", "websocket clients dropped",
                         ("reason",), registry=REGISTRY)
ENGINE_FIELDS = ("lag", "events_in", "events_out", "errors", "dead_letters")
ENGINE_GAUGES = {
    name: Gauge(f"nautilus_engine_{name}", f"newest health report: {name}",
                ("engine", "worker"), registry=REGISTRY)
    for name in ENGINE_FIELDS
}
ENGINE_AGE = Gauge("nautilus_engine_report_age_seconds", "seconds since the newest report",
                   ("engine", "worker"), registry=REGISTRY)
ENGINE_STATUS = Gauge("nautilus_engine_status", "1 for the worker's status (reported or stale)",
                      ("engine", "worker", "status"), registry=REGISTRY)
GROUP_LAG = Gauge("nautilus_consumer_group_lag", "records not yet committed by the group",
                  ("group", "topic"), registry=REGISTRY)
SOURCE_UP = Gauge("nautilus_api_scrape_source_up", "whether the source answered the scrape",
                  ("source",), registry=REGISTRY)


def set_engines(rows: list[dict[str, Any]] | None, now: float) -> None:
    """Engine gauges from each listed worker's newest health row; None: unavailable."""
    for gauge in (*ENGINE_GAUGES.values(), ENGINE_AGE, ENGINE_STATUS):
        gauge.clear()
    SOURCE_UP.labels("database").set(rows is not None)
    for row in rows or ():
        labels = (row["engine"], row["worker"])
        for name, gauge in ENGINE_GAUGES.items():
            if row[name] is not None:
                gauge.labels(*labels).set(row[name])
        ENGINE_AGE.labels(*labels).set(now - row["time"].timestamp())
        ENGINE_STATUS.labels(*labels, row["status"]).set(1)


def set_group_lags(lags: dict[tuple[str, str], int] | None) -> None:
    """Consumer-group lag gauges per (group, topic); None: the broker did not answer."""
    GROUP_LAG.clear()
    SOURCE_UP.labels("broker").set(lags is not None)
    for (group, topic), lag in (lags or {}).items():
        GROUP_LAG.labels(group, topic).set(lag)


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
            template = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"] if scope["method"] in METHODS else "other"
            count, latency = _children(template, method, status)
            count.inc()
            latency.observe(time.perf_counter() - started)


_CHILDREN: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _children(template: str, method: str, status: int) -> tuple[Any, Any]:
    """The counter and histogram children of a label set, looked up once (bounded: route
    templates x methods x statuses)."""
    key = (template, method, status)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = (REQUESTS.labels(template, method, str(status)),
                                  LATENCY.labels(template, method))
    return found
