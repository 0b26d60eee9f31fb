"""`nautilus-streams replay`: run engines in-process over files or a topic range."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from streams.catalog import Catalog
from streams.cli.market_files import FORMATS_HELP, add_file_options, file_options, print_bad_rows
from streams.endpoints import reachable_kafka_brokers
from streams.exceptions import ConfigError
from streams.params import apply_overrides
from streams.settings import get_settings

if TYPE_CHECKING:  # the replay driver imports torch: loaded only when replaying
    from processors import Engine
    from streams.replay import ReplayResult
    from streams.settings import EngineParams

log = logging.getLogger(__name__)


DESCRIPTION = (
    "Read market events from files (--input) or from a topic (--topic), run the\n"
    "engines in event-time order with a test clock, flush open state at the end, and\n"
    "write every output topic to OUT as <topic>.parquet and <topic>.csv. The same\n"
    "input gives byte-identical output. Files are read in chunks and merged as they\n"
    "are read, so they need not fit in memory; only the topics the engines read are\n"
    "kept (a LOBSTER book is not read when no engine reads market.depth).\n\n"
    + FORMATS_HELP
)
EXAMPLES = (
    "examples:\n"
    "  nautilus-streams replay --input trades.csv --out out/\n"
    "  nautilus-streams replay --input fills.csv --map ts=timestamp,price=px,size=qty "
    "--ts-unit ms --symbol ESZ6 --out out/\n"
    "  nautilus-streams replay --input AAPL_2012-06-21_34200000_57600000_message_10.csv "
    "--out out/\n"
    "  nautilus-streams replay --topic market.trades --from 2024-01-02T14:30:00Z --out out/"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="run engines in-process over files or a topic range, deterministically",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=DESCRIPTION,
        epilog=EXAMPLES,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", type=Path, action="append", metavar="FILE",
                     help="market file (repeatable; merged in time order). "
                     "Example: --input trades.csv")
    src.add_argument("--topic", help="replay this topic from the broker instead of files. "
                     "Example: --topic market.trades")
    p.add_argument("--from", dest="from_ts", help="with --topic: first ts_event (ISO-8601 or "
                   "ns). Example: --from 2024-01-02T14:30:00Z")
    p.add_argument("--to", dest="to_ts", help="with --topic: end ts_event, exclusive. "
                   "Example: --to 1704226200000000000")
    p.add_argument("--out", type=Path, required=True, help="directory for the output files. "
                   "Example: --out replay-out")
    p.add_argument("--engines", help="comma-separated engine names (default: all). "
                   "Example: --engines bars")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="ENGINE.PARAM=VALUE",
        help="override an engine parameter (repeatable). Example: --set bars.grace_ms=5000",
    )
    add_file_options(p)
    p.set_defaults(handler=_run)


def parse_time_ns(text: str | None) -> int | None:
    """An int of ns since the epoch, or an ISO-8601 time (UTC when it names no zone)."""
    if text is None:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"not a time: {text!r} (use ISO-8601 or int ns)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


def _run(args: argparse.Namespace) -> int:
    from streams.replay import write_outputs
    from streams.runtime.app import resolve_engines

    settings = get_settings()
    engines = resolve_engines(args.engines.split(",") if args.engines else None)
    params = apply_overrides(settings.engine_params(), args.overrides)
    started = time.perf_counter()
    if args.topic:
        result = _replay_topic(args, engines, params)
    else:
        if args.from_ts or args.to_ts:
            raise ConfigError("--from/--to go with --topic")
        result = _replay_files(args, engines, params)
    run_s = time.perf_counter() - started
    outputs = sorted({t for e in engines for t in e.outputs})
    write_outputs(result, outputs, args.out)
    for topic in outputs:
        print(f"{topic}: {len(result.outputs.get(topic, []))} rows -> "
              f"{args.out / (topic + '.parquet')}, .csv", file=sys.stderr)
    rate = result.events_in / run_s if run_s > 0 else float("inf")
    print(f"{result.events_in} events in {run_s:.2f} s ({rate:,.0f} events/s, reading "
          "included)", file=sys.stderr)
    return 0


def _replay_topic(
    args: argparse.Namespace, engines: list[type[Engine]], params: EngineParams
) -> ReplayResult:
    from streams.replay import run_replay, topic_source

    settings = get_settings()
    spec = Catalog.load(settings.topics_file)[args.topic]
    source = topic_source(reachable_kafka_brokers(settings), args.topic, spec.value,
                          parse_time_ns(args.from_ts), parse_time_ns(args.to_ts))
    result = run_replay([source], engines, params, progress=_progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return result


def _replay_files(
    args: argparse.Namespace, engines: list[type[Engine]], params: EngineParams
) -> ReplayResult:
    from streams.feeds.badrows import BadRows
    from streams.feeds.progress import Progress
    from streams.replay import file_runs, replay_runs

    progress = Progress()
    bad_rows = BadRows(strict=args.strict, echo=progress.note)
    topics = {t for e in engines for t in e.inputs}
    try:
        runs = file_runs(args.input, file_options(args), bad_rows, progress, topics)
        return replay_runs(runs, engines, params)
    finally:
        progress.close()
        print_bad_rows(bad_rows)


def _progress(done: int, total: int) -> None:
    if sys.stderr.isatty():
        print(f"\rreplayed {done:,}/{total:,} events", end="", file=sys.stderr)
