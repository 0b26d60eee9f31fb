"""Prometheus endpoint of a worker or sink process: its `Counters`, read at scrape time.

The counters are the ones the process already keeps for logic.engine.health and
logic.metrics (streams/runtime/counters.py); this module only exposes them. A worker names
its metrics `nautilus_worker_*{engine}`, the sink `nautilus_sink_*`:

- `<prefix>_<counter>_total`: monotonic counters (events in and out, errors, dead letters, ...;
  `METRIC_NAMES` maps the counter fields to their names per process);
- `<prefix>_batch_seconds`: a histogram of batch times (its `_count` is the batches);
- `<prefix>_lag`: records behind the log's end, measured at the newest health report (absent
  while unknown); `<prefix>_last_event_timestamp_seconds`: event time of the newest record;
- `<prefix>_status{status}`: 1 for the current status (starting, running, degraded, stopped);
- `process_*`: CPU, memory and open files of the process (prometheus_client's own).

`serve` answers on NAUTILUS_METRICS_HOST:NAUTILUS_METRICS_PORT (unset port: no endpoint),
unauthenticated: keep it on 127.0.0.1 or a private network (compose's).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from streams.exceptions import ConfigError
from streams.runtime.counters import BATCH_MS_BOUNDS, Counters

log = logging.getLogger(__name__)

WORKER_COUNTERS = {
    "events_in": "records taken from the engine's input topics",
    "events_out": "records the engine published",
    "errors": "batches the engine failed on (their records are dead-lettered)",
    "dead_letters": "records sent to logic.deadletter",
    "redelivered_skipped": "re-delivered records skipped as already applied",
    "offset_gaps": "forward jumps of input offsets within an assignment",
}
SINK_COUNTERS = {
    "events_in": ("records_in", "records consumed from the log"),
    "events_out": ("rows_written", "rows written to the database"),
    "errors": ("errors", "failed database writes (each retried)"),
    "dead_letters": ("dead_letters", "records sent to logic.deadletter"),
}
METRIC_NAMES: dict[str, dict[str, tuple[str, str]]] = {
    "nautilus_worker": {field: (field, doc) for field, doc in WORKER_COUNTERS.items()},
    "nautilus_sink": SINK_COUNTERS,
}
STATUSES = ("starting", "running", "degraded", "stopped")


class CountersCollector:
    """Families of `prefix` from the counters `source()` returns, by label value (the engine
    name in a worker; one unlabelled set in the sink, label "")."""

    def __init__(self, prefix: str, source: Callable[[], Mapping[str, Counters]],
                 label: str | None = None) -> None:
        self._prefix, self._source, self._label = prefix, source, label
        self._names = METRIC_NAMES[prefix]

    def collect(self) -> Iterator[Metric]:
        counters = dict(self._source())
        keys = [self._label] if self._label else []
        p = self._prefix
        for field, (name, doc) in self._names.items():
            family = CounterMetricFamily(f"{p}_{name}", doc, labels=keys)
            for key, c in counters.items():
                family.add_metric(self._values(key), getattr(c, field))
            yield family
        batch = HistogramMetricFamily(f"{p}_batch_seconds", "time to process one batch",
                                      labels=keys)
        lag = GaugeMetricFamily(f"{p}_lag", "records behind the end of the log (newest "
                                "health report)", labels=keys)
        newest = GaugeMetricFamily(f"{p}_last_event_timestamp_seconds",
                                   "event time of the newest record", labels=keys)
        status = GaugeMetricFamily(f"{p}_status", "1 for the current status",
                                   labels=[*keys, "status"])
        for key, c in counters.items():
            labels = self._values(key)
            batch.add_metric(labels, _buckets(c.batch_ms_counts), c.process_ms_total / 1e3)
            if c.lag is not None:
                lag.add_metric(labels, c.lag)
            if c.last_event_ts is not None:
                newest.add_metric(labels, c.last_event_ts / 1e9)
            for name in STATUSES:
                status.add_metric([*labels, name], float(c.status == name))
        yield from (batch, lag, newest, status)

    def _values(self, value: str) -> list[str]:
        return [value] if self._label else []


def _buckets(counts: list[int]) -> list[tuple[str, float]]:
    """Cumulative (le, count) pairs, +Inf last, from per-bucket counts."""
    buckets, total = [], 0
    for bound_ms, count in zip((*BATCH_MS_BOUNDS, float("inf")), list(counts), strict=True):
        total += count
        buckets.append(("+Inf" if bound_ms == float("inf") else repr(bound_ms / 1e3), total))
    return buckets


def serve(collector: CountersCollector, host: str, port: int | None
          ) -> tuple[WSGIServer, Thread] | None:
    """Answer Prometheus scrapes of `collector` (and process metrics) on host:port, from a
    daemon thread; None when `port` is None (no endpoint). A port in use or an address that
    cannot be bound stops the process with a ConfigError naming the settings."""
    if port is None:
        return None
    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector)
    ProcessCollector(registry=registry)
    try:
        served = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on NAUTILUS_METRICS_HOST={host!r} "
            f"NAUTILUS_METRICS_PORT={port}: {exc.strerror or exc}") from None
    log.info("metrics endpoint serving url=http://%s:%d/metrics", host, port)
    return served
