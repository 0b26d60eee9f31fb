"""`nautilus-streams replay`: run engines in-process over files or a topic range."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from streams.catalog import Catalog
from streams.endpoints import kafka_brokers
from streams.exceptions import ConfigError
from streams.params import apply_overrides
from streams.settings import get_settings

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="run engines in-process over files or a topic range, deterministically",
        description=(
            "Read market events from CSV/Parquet files (--input) or from a topic (--topic), "
            "run the engines in event-time order with a test clock, flush open state at the "
            "end, and write every output topic to OUT as <topic>.parquet and <topic>.csv. "
            "The same input gives byte-identical output. Trades files need the columns "
            "ts_event (int ns), symbol, price, size; quotes: ts_event, symbol, bid_price, "
            "bid_size, ask_price, ask_size; depth: ts_event, symbol, bid_price_1.., "
            "bid_size_1.., ask_price_1.., ask_size_1... Other columns are ignored."
        ),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", type=Path, action="append", help="market file (repeatable)")
    src.add_argument("--topic", help="replay this topic from the broker instead of files")
    p.add_argument("--from", dest="from_ts", help="with --topic: first ts_event (ISO-8601 or ns)")
    p.add_argument("--to", dest="to_ts", help="with --topic: end ts_event, exclusive")
    p.add_argument("--out", type=Path, required=True, help="directory for the output files")
    p.add_argument("--engines", help="comma-separated engine names (default: all)")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="ENGINE.PARAM=VALUE",
        help="override an engine parameter, e.g. bars.grace_ms=5000 (repeatable)",
    )
    p.add_argument("--strict", action="store_true", help="stop at the first bad input row")
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
    from streams.replay import file_sources, run_replay, topic_source, write_outputs
    from streams.runtime.app import resolve_engines

    settings = get_settings()
    engines = resolve_engines(args.engines.split(",") if args.engines else None)
    params = apply_overrides(settings.engine_params(), args.overrides)
    catalog = Catalog.load(settings.topics_file)
    started = time.perf_counter()
    if args.topic:
        spec = catalog[args.topic]
        sources = [topic_source(
            kafka_brokers(settings), args.topic, spec.value,
            parse_time_ns(args.from_ts), parse_time_ns(args.to_ts),
        )]
    else:
        if args.from_ts or args.to_ts:
            raise ConfigError("--from/--to go with --topic")
        sources = file_sources(args.input, strict=args.strict)
    read_s = time.perf_counter() - started
    result = run_replay(sources, engines, params, progress=_progress)
    run_s = time.perf_counter() - started - read_s
    outputs = sorted({t for e in engines for t in e.outputs})
    write_outputs(result, outputs, args.out)
    print(file=sys.stderr)
    for topic in outputs:
        print(f"{topic}: {len(result.outputs.get(topic, []))} rows -> "
              f"{args.out / (topic + '.parquet')}, .csv", file=sys.stderr)
    rate = result.events_in / run_s if run_s > 0 else float("inf")
    print(f"{result.events_in} events in {run_s:.2f} s ({rate:,.0f} events/s; "
          f"reading took {read_s:.2f} s)", file=sys.stderr)
    return 0


def _progress(done: int, total: int) -> None:
    if sys.stderr.isatty():
        print(f"\rreplayed {done:,}/{total:,} events", end="", file=sys.stderr)
