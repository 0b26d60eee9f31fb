"""`nautilus-streams up`: broker, database, topics, migrations, worker, feed and API in one go."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from streams.cli.api import process_count
from streams.cli.feed import backfill_minutes
from streams.settings import get_settings
from streams.up import (
    CRASH_LOOP_RUNS,
    DEFAULT_BACKFILL_MINUTES,
    LOG_GENERATIONS,
    RESTART_MAX_S,
    STABLE_RUN_S,
    Stack,
    UpOptions,
    summary,
)

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "up", help="run everything locally (embedded broker and database unless configured)",
        description=(
            "Start the embedded broker (Tansu, memory only) and PostgreSQL (data in the state "
            "dir) unless KAFKA_BROKERS / DATABASE_URL are set, apply topics and migrations, "
            "then run the worker, the sink, the simulated feed, the poller of the data sources "
            "that are configured (FRED, ...; `feed sources`) and the API until Ctrl-C or "
            "SIGTERM. A child that exits is restarted after a backoff (1 s, doubling to "
            f"{RESTART_MAX_S:.0f} s); one that exits {CRASH_LOOP_RUNS} times in a row within "
            f"{STABLE_RUN_S:.0f} s of starting stops everything and `up` exits 1. Logs go to "
            f"STATE_DIR/logs/<name>.log; those of the previous {LOG_GENERATIONS} runs are kept "
            f"as <name>.log.1 (newest) to .{LOG_GENERATIONS}. "
            "The database is a view of the log: the embedded broker's log starts empty on "
            "every `up`, so with both embedded, the stream data earlier runs left in the "
            "embedded database is removed at start (API tokens are kept); --keep-data keeps "
            "it. A database from DATABASE_URL is never emptied."
        ),
    )
    p.add_argument("--state-dir", type=Path, default=None,
                   help="where logs, the database and endpoints.json live "
                        "(default: NAUTILUS_STATE_DIR, .nautilus)")
    p.add_argument("--api-port", type=int, default=None,
                   help="API port (default: NAUTILUS_API_PORT, 8000); 0 picks a free one")
    p.add_argument("--no-feed", dest="feed", action="store_false",
                   help="do not start the simulated feed")
    p.add_argument("--no-sources", dest="sources", action="store_false",
                   help="do not poll the data sources (FRED, ...) even where configured; by "
                   "default `up` runs `feed sources --every NAUTILUS_SOURCES_POLL_S` as its "
                   "child `sources` when one is, and says which are off")
    p.add_argument("--feed-rate", type=float, default=None, metavar="N",
                   help="trades per second of the simulated feed (default: the feed's own)")
    p.add_argument("--backfill-minutes", type=backfill_minutes, default=None, metavar="N",
                   help="the simulated feed first publishes N minutes of history (event "
                        "times in the past, ending where the live feed starts), unpaced, so "
                        "VPIN, features, vpin_guard's paper trades and the API have data "
                        "within about a minute; the history trades 20 times a second, each "
                        "trade merging RATE/20 live-rate trades (100 at the default rate), "
                        "so volume per second, which VPIN's buckets are sized to, is the live "
                        "one (see `feed sim --help`); 0: none (default: "
                        f"{DEFAULT_BACKFILL_MINUTES:g} when the embedded database starts "
                        "empty, else 0: history would overlap the data earlier runs left)")
    p.add_argument("--no-worker", dest="worker", action="store_false",
                   help="do not start the worker (run `nautilus-streams worker` yourself, "
                        "e.g. under a debugger)")
    p.add_argument("--no-sink", dest="sink", action="store_false",
                   help="do not start the sink (topics into the database; run "
                        "`nautilus-streams sink` yourself)")
    p.add_argument("--workers", type=process_count, default=1, metavar="N",
                   help="worker processes, one consumer group: they split the partitions "
                        "of every engine's inputs, and an engine's state moves with its "
                        "partitions through its changelog (default: 1; more than a topic's "
                        "partitions leaves some idle, see topics.yaml)")
    p.add_argument("--sinks", type=process_count, default=1, metavar="N",
                   help="sink processes, one consumer group (default: 1)")
    p.add_argument("--api-workers", type=process_count, default=1, metavar="N",
                   help="API server processes on the one API port (default: 1; see "
                        "`api --help`)")
    p.add_argument("--keep-data", action="store_true",
                   help="keep the stream data of earlier runs in the embedded database "
                        "(trades, bars, VPIN, alerts, health, ...; the API orders them by "
                        "event time, runs one after the other)")
    p.set_defaults(handler=_up)


def _up(args: argparse.Namespace) -> int:
    settings = get_settings()
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs whole initdb transcripts
    options = UpOptions(
        state_dir=args.state_dir or settings.state_dir,
        api_port=settings.api_port if args.api_port is None else args.api_port,
        feed=args.feed,
        feed_rate=args.feed_rate,
        backfill_minutes=args.backfill_minutes,
        worker=args.worker,
        keep_data=args.keep_data,
        sink=args.sink,
        workers=args.workers,
        sinks=args.sinks,
        api_workers=args.api_workers,
        sources=args.sources,
    )
    stopping = threading.Event()
    with _stop_on_signals(stopping.set), Stack(settings, options, stopping) as stack:
        if stack.start() is None:
            return 0
        print(summary(stack), flush=True)
        code = stack.supervise()
        print("stopping...", file=sys.stderr, flush=True)
    print("stopped" if code == 0 else "stopped after a failure (see the log above)",
          file=sys.stderr, flush=True)
    return code


@contextmanager
def _stop_on_signals(request_stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT and SIGTERM request a stop instead of raising; the old handlers come back after."""

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("signal received signal=%s", signal.Signals(signum).name)
        request_stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
