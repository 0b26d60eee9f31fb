"""`nautilus-streams worker`: run engines as Faust agents until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging

from processors import ENGINES
from streams.catalog import Catalog
from streams.cli.engines import engine_names, engines_help
from streams.endpoints import reachable_kafka_brokers
from streams.params import apply_overrides
from streams.settings import get_settings, with_engines

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "worker",
        help="run engines on the log (Faust agents with state tables)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Consume the engines' input topics in micro-batches, publish their outputs, keep\n"
            "their state in changelog-backed tables, and publish health to\n"
            "logic.engine.health every few seconds. SIGTERM/SIGINT stop it cleanly; killed\n"
            "outright, a restarted worker resumes from its changelog. With\n"
            "NAUTILUS_METRICS_PORT set, Prometheus metrics (nautilus_worker_*) are served at\n"
            "http://NAUTILUS_METRICS_HOST:PORT/metrics."
        ),
        epilog=engines_help(),
    )
    p.add_argument(
        "--engines", type=engine_names, metavar="ENGINE[,ENGINE...]",
        help=f"comma-separated engine names, of {','.join(ENGINES)}, or a user strategy as "
        f"module:Class (default: {','.join(ENGINES.defaults())})",
    )
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="ENGINE.PARAM=VALUE",
        help="override an engine parameter, e.g. bars.grace_ms=5000 (repeatable)",
    )
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import faust

    from streams.metrics import CountersCollector, serve
    from streams.runtime.app import build_app

    settings = get_settings()
    engines = ENGINES.select(args.engines)
    params = apply_overrides(with_engines(settings.engine_params(), engines), args.overrides)
    brokers = reachable_kafka_brokers(settings)
    catalog = Catalog.load(settings.topics_file)
    app, bindings = build_app(settings, brokers, catalog, engines, params)
    counters = {binding.name: binding.counters for binding in bindings}
    serve(CountersCollector("nautilus_worker", lambda: counters, label="engine"),
          settings.metrics_host, settings.metrics_port)
    log.info("worker starting engines=%s brokers=%s", ",".join(e.name for e in engines), brokers)
    worker = faust.Worker(app, loglevel=settings.log_level, override_logging=False, quiet=True)
    worker.execute_from_commandline()
    return 0
