"""`nautilus-streams sink`: write the catalog's topics that have a table into PostgreSQL."""

from __future__ import annotations

import argparse
import signal
import threading

from streams.catalog import Catalog
from streams.endpoints import database_url, reachable_kafka_brokers
from streams.metrics import CountersCollector, serve
from streams.settings import get_settings
from streams.sink.runner import Sink, SinkConfig
from streams.sink.tables import catalog_routes


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sink",
        help="write market.* and logic.* topics into PostgreSQL (idempotent batches)",
        description=(
            "Consume every catalog topic that has a table, write each batch in one "
            "transaction (COPY, then INSERT ... ON CONFLICT on natural keys) and commit its "
            "offsets after that. While the database is away it retries with backoff, holds "
            "its offsets and reports `degraded` on logic.engine.health. Invalid records go "
            "to logic.deadletter. SIGTERM/SIGINT stop it cleanly: it first writes what the "
            "log holds (to its end, for at most NAUTILUS_SINK_DRAIN_MS), then "
            "commits and exits. With NAUTILUS_METRICS_PORT set, Prometheus metrics "
            "(nautilus_sink_*) are served at http://NAUTILUS_METRICS_HOST:PORT/metrics."
        ),
    )
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    settings = get_settings()
    config = SinkConfig(
        brokers=reachable_kafka_brokers(settings),
        database_url=database_url(settings),
        group=settings.sink_group,
        batch_rows=settings.sink_batch_rows,
        batch_within_ms=settings.sink_batch_within_ms,
        retry_min_ms=settings.sink_retry_min_ms,
        retry_max_ms=settings.sink_retry_max_ms,
        drain_ms=settings.sink_drain_ms,
        health_interval_ms=settings.health_interval_ms,
        session_timeout_ms=settings.session_timeout_ms,
        group_instance_id=settings.group_instance_id,
    )
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    sink = Sink(config, catalog_routes(Catalog.load(settings.topics_file)))
    serve(CountersCollector("nautilus_sink", lambda: {"": sink.health.counters}),
          settings.metrics_host, settings.metrics_port)
    sink.run(stopping)
    return 0
