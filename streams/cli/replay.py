"""`nautilus-streams replay`: run engines in-process over files or topic ranges."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from processors import ENGINES, Engine
from streams.catalog import Catalog
from streams.cli.engines import engine_names, engines_help
from streams.cli.market_files import (
    FORMATS_HELP,
    add_file_options,
    add_input_option,
    file_options,
    print_bad_rows,
)
from streams.endpoints import reachable_kafka_brokers
from streams.exceptions import ConfigError, NautilusError
from streams.params import HEALTH_TOPIC, apply_overrides, published_params, with_published
from streams.settings import get_settings, with_engines

if TYPE_CHECKING:  # the replay driver imports torch: loaded only when replaying
    from streams.replay import ReplayResult
    from streams.settings import EngineParams

log = logging.getLogger(__name__)


DESCRIPTION = (
    "Read market events from files (--input) or from topics (--topic), run the\n"
    "engines in event-time order with test clocks, flush open state at the end, and\n"
    "write every output topic to OUT as <topic>.parquet and <topic>.csv. Engines\n"
    "chain: each output goes to the engines of the run that read its topic, in\n"
    "event-time order (--engines bars,features: trades -> bars -> features), and\n"
    "intermediate topics are written too. The same input gives byte-identical\n"
    "output, whatever the batch size. Files are read in chunks and merged as they\n"
    "are read, so they need not fit in memory; only the topics the engines read are\n"
    "kept (a LOBSTER book is not read when no engine reads market.depth).\n\n"
    "Topics are read whole (their record times are produce times, not event times)\n"
    "and their records with --from <= ts_event < --to merged in event-time order.\n"
    "With --topic the engines run with the parameters the live worker published\n"
    "with its newest health record on logic.engine.health (--params live), or this\n"
    "process's settings where there is none; --set overrides either.\n\n"
    + FORMATS_HELP
)
EXAMPLES = (
    "examples:\n"
    "  nautilus-streams replay -i trades.csv --out out/\n"
    "  nautilus-streams replay -i trades.csv --engines bars,features --out out/\n"
    "  nautilus-streams replay -i bars_1m.csv --engines features --out out/\n"
    "  nautilus-streams replay -i fills.csv --map ts=timestamp,price=px,size=qty "
    "--ts-unit ms --symbol ESZ6 --out out/\n"
    "  nautilus-streams replay -i AAPL_2012-06-21_34200000_57600000_message_10.csv "
    "--out out/\n"
    "  nautilus-streams replay --topic market.trades --topic market.quotes "
    "--from 2024-01-02T14:30:00Z --out out/"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="run engines in-process over files or topic ranges, deterministically",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=DESCRIPTION,
        epilog=EXAMPLES,
        add_help=False,
    )
    p.add_argument("-h", "--help", action=_HelpWithTopics,
                   help="show this help, with the topics --topic can replay, and exit")
    add_sources(p)
    p.add_argument("--out", type=Path, required=True, help="directory for the output files. "
                   "Example: --out replay-out")
    p.add_argument("--engines", type=engine_names, metavar="ENGINE[,ENGINE...]",
                   help=f"comma-separated engine names, of {','.join(ENGINES)}, or a user "
                   f"strategy as module:Class (default: {','.join(ENGINES.defaults())}); "
                   "they chain, an engine reading what another writes. "
                   "Example: --engines bars,features")
    add_params_option(p)
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="ENGINE.PARAM=VALUE",
        help="override an engine parameter (repeatable; applied last). "
        "Example: --set bars.grace_ms=5000",
    )
    add_file_options(p)
    p.set_defaults(handler=_run)


def add_params_option(parser: argparse.ArgumentParser) -> None:
    """`--params live|defaults`: where the engines' parameters come from (`params_live`)."""
    parser.add_argument(
        "--params", choices=("live", "defaults"),
        help=f"live: each engine's parameters from its newest record on {HEALTH_TOPIC} "
        "(this process's settings for an engine without one), so a replay of what a running "
        "worker read computes what it computed; defaults: this process's settings "
        "(built-in defaults, NAUTILUS_<ENGINE>__* variables). Default: live with --topic, "
        "defaults with --input. Example: --params defaults",
    )


def params_live(args: argparse.Namespace) -> bool:
    """Whether `--params` (or its default for the source) asks for the workers' parameters."""
    return (args.params or ("live" if args.topics else "defaults")) == "live"


def add_sources(parser: argparse.ArgumentParser) -> None:
    """`--input FILE ...` or `--topic TOPIC ... [--from T0] [--to T1]`, one of the two."""
    src = parser.add_mutually_exclusive_group(required=True)
    add_input_option(src)
    src.add_argument("--topic", dest="topics", action="extend", type=topic_list,
                     metavar="TOPIC[,TOPIC...]",
                     help="replay these topics from the broker instead of files (repeatable; "
                     "merged in event-time order). Example: --topic market.trades")
    parser.add_argument("--from", dest="from_ts", help="with --topic: first ts_event "
                        "(ISO-8601 or ns). Example: --from 2024-01-02T14:30:00Z")
    parser.add_argument("--to", dest="to_ts", help="with --topic: end ts_event, exclusive; "
                        "must be after --from. Example: --to 1704226200000000000")


class _HelpWithTopics(argparse._HelpAction):
    """-h/--help: the help, ending with the topics `--topic` can replay (loads the engines,
    which only a replay or this help needs)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        parser.epilog = f"{parser.epilog}\n\n{engines_help()}\n\n{_replayable_help()}"
        super().__call__(parser, namespace, values, option_string)


def _replayable_help() -> str:
    from streams.replay import replayable_topics

    try:
        catalog = Catalog.load(get_settings().topics_file)
    except NautilusError as exc:
        return f"topics --topic can replay: unknown ({exc})"
    topics = replayable_topics(catalog, ENGINES.select(list(ENGINES)))
    width = max(map(len, topics), default=0)
    lines = [f"  {topic:<{width}} read by {', '.join(names)}" for topic, names in topics.items()]
    return "topics --topic can replay (and the engines that read them):\n" + "\n".join(lines)


def topic_list(text: str) -> list[str]:
    topics = [t.strip() for t in text.split(",") if t.strip()]
    if not topics:
        raise argparse.ArgumentTypeError("give at least one topic")
    return topics


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
    from streams.outputs import output_models, write_outputs

    settings = get_settings()
    catalog = Catalog.load(settings.topics_file)
    engines = ENGINES.select(args.engines)
    if not args.topics and (args.from_ts or args.to_ts):
        raise ConfigError("--from/--to go with --topic")
    span = ns_range(args.from_ts, args.to_ts)
    topics = checked_topics(args.topics, engines, catalog) if args.topics else []
    live = params_live(args)
    brokers = reachable_kafka_brokers(settings) if topics or live else None
    params = engine_parameters(args, engines, with_engines(settings.engine_params(), engines),
                               brokers if live else None)
    started = time.perf_counter()
    if topics:
        assert brokers is not None
        result = replay_topics(topics, span, engines, params, catalog, brokers)
    else:
        result = replay_files(args, engines, params)
    run_s = time.perf_counter() - started
    outputs = output_models(engines, catalog)
    write_outputs(result.outputs, outputs, args.out)
    for topic in outputs:
        print(f"{topic}: {len(result.outputs.get(topic, []))} rows -> "
              f"{args.out / (topic + '.parquet')}, .csv", file=sys.stderr)
    rate = result.events_in / run_s if run_s > 0 else float("inf")
    print(f"{result.events_in} events in {run_s:.2f} s ({rate:,.0f} events/s, reading "
          "included)", file=sys.stderr)
    return 0


def ns_range(from_ts: str | None, to_ts: str | None) -> tuple[int | None, int | None]:
    """(--from, --to) in ns; an empty range is an error, not a scan that finds nothing."""
    from_ns, to_ns = parse_time_ns(from_ts), parse_time_ns(to_ts)
    if from_ns is not None and to_ns is not None and from_ns >= to_ns:
        raise ConfigError(f"--from {from_ts} is not before --to {to_ts}: the range is empty "
                          "(--to is exclusive)")
    return from_ns, to_ns


def checked_topics(
    topics: list[str], engines: list[type[Engine]], catalog: Catalog
) -> list[str]:
    """The --topic values, each once, each one the engines can replay; else a ConfigError
    that lists the topics they can."""
    from streams.replay import replayable_topics

    repeated = sorted({t for t in topics if topics.count(t) > 1})
    if repeated:
        raise ConfigError(f"--topic {', '.join(repeated)} given twice")
    replayable = replayable_topics(catalog, engines)
    names = ", ".join(e.name for e in engines)
    for topic in topics:
        if topic in replayable:
            continue
        catalog[topic]  # an unknown topic fails here, naming topics.yaml
        raise ConfigError(f"cannot replay {topic}: no engine of {names} reads it; the topics "
                          f"{names} can replay: {', '.join(replayable) or 'none'}")
    return topics


def engine_parameters(
    args: argparse.Namespace, engines: list[type[Engine]], params: EngineParams,
    live_brokers: str | None,
) -> EngineParams:
    """The parameters to run with: `params` (this process's settings), or with `live_brokers`
    those the workers published there (--params live), then --set; each engine's printed with
    where they came from."""
    origin = {e.name: "this process's settings" for e in engines}
    if live_brokers is not None:
        published = published_params(live_brokers, list(origin))
        params = with_published(params, published)
        for name in origin:
            pub = published.get(name)
            origin[name] = (
                f"worker {pub.worker} on {HEALTH_TOPIC} at {_iso(pub.ts_ns)}" if pub else
                f"this process's settings (no parameters of {name} on {HEALTH_TOPIC})"
            )
    params = apply_overrides(params, args.overrides)
    for name, where in origin.items():
        overridden = [o for o in args.overrides if o.startswith(f"{name}.")]
        also = f", then --set {' '.join(overridden)}" if overridden else ""
        values = orjson.dumps(getattr(params, name).model_dump(mode="json")).decode()
        print(f"{name} parameters from {where}{also}: {values}", file=sys.stderr)
    return params


def _iso(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns / 1e9, UTC).isoformat(timespec="seconds")


def replay_topics(
    topics: list[str], span: tuple[int | None, int | None],
    engines: list[type[Engine]], params: EngineParams, catalog: Catalog, brokers: str,
) -> ReplayResult:
    from streams.replay import run_replay, topic_source

    sources = []
    for topic in topics:
        read = topic_source(brokers, topic, catalog[topic].value, *span)
        rejected = f", {read.rejected:,} undecodable skipped" if read.rejected else ""
        print(f"{topic}: {len(read.source):,} of {read.scanned:,} records in the range"
              f"{rejected}", file=sys.stderr)
        sources.append(read.source)
    result = run_replay(sources, engines, params, progress=_progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return result


def replay_files(
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
