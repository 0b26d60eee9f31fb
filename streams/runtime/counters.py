"""Per-engine counters, and the health and metrics records built from them.

The same counters feed logic.engine.health, logic.metrics and the process's Prometheus
endpoint (streams/metrics.py): nothing is counted twice.
"""

from __future__ import annotations

import os
import socket
from bisect import bisect_left
from dataclasses import dataclass, field

from pydantic import JsonValue

from streams.schema import EngineHealth, EngineMetrics

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
# `up` starts a child it restarts with NAUTILUS_RESTARTS=<restarts so far> (streams/up.py);
# health reports carry it, so a restart shows in /api/v1/engines and on the dashboard
RESTARTS = int(os.environ.get("NAUTILUS_RESTARTS", "0") or 0)
BATCH_MS_BOUNDS = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0,
                   5_000.0, 10_000.0)
"""Upper bounds (inclusive, ms) of the batch-time histogram's buckets."""


@dataclass(slots=True)
class Counters:
    """Monotonic counters of one engine in one worker."""

    events_in: int = 0
    events_out: int = 0
    batches: int = 0
    errors: int = 0
    dead_letters: int = 0
    redelivered_skipped: int = 0
    offset_gaps: int = 0
    last_event_ts: int | None = None
    process_ms_total: float = 0.0
    last_batch_ms: float = 0.0
    status: str = "starting"
    lag: int | None = None  # records behind, as of the newest health report; None: unknown
    # batches per BATCH_MS_BOUNDS bucket (the last: slower than every bound)
    batch_ms_counts: list[int] = field(default_factory=lambda: [0] * (len(BATCH_MS_BOUNDS) + 1))
    extra: dict[str, int] = field(default_factory=dict)

    def observe_batch(self, elapsed_ms: float) -> None:
        """One batch done in `elapsed_ms`: counted, timed, and put in its histogram bucket."""
        self.batches += 1
        self.last_batch_ms = elapsed_ms
        self.process_ms_total += elapsed_ms
        self.batch_ms_counts[bisect_left(BATCH_MS_BOUNDS, elapsed_ms)] += 1

    def health(
        self, engine: str, lag: int | None, now_ns: int,
        params: dict[str, JsonValue] | None = None,
    ) -> EngineHealth:
        """The health record of `engine` now; `params`: its effective parameters."""
        return EngineHealth(
            ts_event=now_ns,
            ts_init=now_ns,
            engine=engine,
            worker=WORKER_ID,
            status=self.status,  # type: ignore[arg-type]
            lag=lag,
            events_in=self.events_in,
            events_out=self.events_out,
            errors=self.errors,
            dead_letters=self.dead_letters,
            last_event_ts=self.last_event_ts,
            params=params,
            restarts=RESTARTS,
        )

    def metrics(self, engine: str, now_ns: int) -> EngineMetrics:
        counters = {
            "events_in": self.events_in,
            "events_out": self.events_out,
            "batches": self.batches,
            "errors": self.errors,
            "dead_letters": self.dead_letters,
            "redelivered_skipped": self.redelivered_skipped,
            "offset_gaps": self.offset_gaps,
            **self.extra,
        }
        return EngineMetrics(
            ts_event=now_ns,
            ts_init=now_ns,
            engine=engine,
            worker=WORKER_ID,
            counters=counters,
            timings_ms={
                "process_total": round(self.process_ms_total, 3),
                "last_batch": round(self.last_batch_ms, 3),
            },
        )
