"""`nautilus-streams feed sim|file`: publish market data to the market.* topics.

`sim` runs the seeded synthetic market live: event times are the wall clock at start plus the
simulated offsets, and records go out when their event time comes, so the trade rate is
`--rate` on average and ts_event tracks the wall clock. `file` replays CSV / Parquet files,
merged in event-time order, at a chosen speed. Both stop cleanly on Ctrl-C or SIGTERM after
flushing what was produced, and log progress to stderr every few seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from streams.endpoints import kafka_brokers
from streams.exceptions import InputFileError
from streams.feeds import MarketEvent
from streams.feeds.files import MarketFile, merge_events, read_market_file
from streams.feeds.publish import PublishStats, publish
from streams.feeds.sim import KNOWN_SYMBOLS, SimMarket
from streams.settings import get_settings

log = logging.getLogger(__name__)

DEFAULT_SYMBOLS = ",".join(KNOWN_SYMBOLS)
PROGRESS_INTERVAL_S = 5.0
SHOWN_REJECTS = 5
LAG_WARNING_MS = 1_000.0


def register(sub: argparse._SubParsersAction) -> None:
    feed = sub.add_parser(
        "feed",
        help="publish market data (a simulated market, or files) to the market.* topics",
        description="Publish trades, quotes and depth to market.trades / market.quotes / "
        "market.depth, keyed by symbol. Ctrl-C or SIGTERM stops after flushing.",
    )
    cmds = feed.add_subparsers(dest="feed_command", metavar="SUBCOMMAND", required=True)
    _register_sim(cmds)
    _register_file(cmds)


def _register_sim(cmds: argparse._SubParsersAction) -> None:
    sim = cmds.add_parser(
        "sim",
        help="publish a live, seeded synthetic market",
        description="Publish a seeded synthetic market live: Poisson trades with heavy-tailed "
        "sizes, quotes, 10-level depth snapshots, and now and then an "
        "informed-flow episode (30-120 s of one-sided, larger trades moving the price). "
        "Event times start at the wall clock; runs until Ctrl-C unless --duration or --count.",
    )
    sim.add_argument("--symbols", type=_symbol_list, default=DEFAULT_SYMBOLS,
                     help=f"comma-separated symbols (default: {DEFAULT_SYMBOLS}); "
                     "unknown ones get a price and tick derived from the name")
    sim.add_argument("--rate", type=_positive(float), default=2000.0,
                     help="trades per second over all symbols, default 2000 "
                     "(quotes and depth snapshots come on top)")
    sim.add_argument("--seed", type=int, default=7, help="same seed, same tape (default: 7)")
    stop = sim.add_mutually_exclusive_group()
    stop.add_argument("--duration", type=_positive(float), metavar="SECONDS",
                      help="stop after this many seconds of event time")
    stop.add_argument("--count", type=_positive(int), metavar="N",
                      help="stop after N events (trades, quotes and snapshots together)")
    sim.add_argument("--informed-probability", type=float, default=0.1, metavar="P",
                     help="chance that an informed-flow episode starts in any simulated "
                     "minute (default: 0.1)")
    sim.add_argument("--quote-every", type=int, default=1, metavar="N",
                     help="a quote after every N-th trade of a symbol (default: 1; 0: none)")
    sim.add_argument("--depth-every", type=int, default=10, metavar="N",
                     help="a depth snapshot after every N-th trade of a symbol "
                     "(default: 10; 0: none)")
    sim.set_defaults(handler=_sim)


def _register_file(cmds: argparse._SubParsersAction) -> None:
    file = cmds.add_parser(
        "file",
        help="replay CSV / Parquet market files",
        description="Replay market files (.csv, .csv.gz, .parquet) merged in ts_event order. "
        "The columns tell the kind: trades need ts_event, symbol, price, size (optional "
        "aggressor or side: buy/sell/B/S); quotes need ts_event, symbol, bid_price, bid_size, "
        "ask_price, ask_size; depth needs ts_event, symbol, bid_price_1..N, bid_size_1..N, "
        "ask_price_1..N, ask_size_1..N (N <= 10). ts_event is integer ns since the epoch; "
        "ts_init is optional. Bad rows are reported with their line numbers and skipped, "
        "unless --strict.",
    )
    file.add_argument("--input", "-i", type=Path, action="append", required=True,
                      metavar="FILE", help="a market file; repeat for several")
    file.add_argument("--speed", type=_speed, default=None, metavar="1x|10x|max",
                      help="replay speed relative to event time (default: max, no pacing)")
    file.add_argument("--strict", action="store_true",
                      help="fail on the first bad row instead of skipping bad rows")
    file.set_defaults(handler=_file)


# ---- argument types ----------------------------------------------------------------------


def _positive(kind: type[float] | type[int]) -> Callable[[str], float]:
    """An argparse type: `kind(text)`, which must be > 0."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _symbol_list(text: str) -> list[str]:
    symbols = [s.strip() for s in text.split(",") if s.strip()]
    if not symbols:
        raise argparse.ArgumentTypeError("give at least one symbol")
    return symbols


def _speed(text: str) -> float | None:
    """'max' -> None (no pacing); '10x' or '10' -> 10.0."""
    clean = text.strip().lower()
    if clean == "max":
        return None
    try:
        value = float(clean.removesuffix("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"speed is 1x, 10x, 0.5x or max, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"speed must be positive, got {text!r}")
    return value


# ---- handlers ----------------------------------------------------------------------------


def _sim(args: argparse.Namespace) -> int:
    market = SimMarket(
        args.symbols,
        seed=args.seed,
        trades_per_s=args.rate,
        quote_every=args.quote_every,
        depth_every=args.depth_every,
        informed_probability=args.informed_probability,
    )
    brokers = kafka_brokers(get_settings())
    start_ns = time.time_ns()
    events: Iterator[MarketEvent] = market.events(start_ns)
    if args.duration is not None:
        end_ns = start_ns + round(args.duration * 1e9)
        events = itertools.takewhile(lambda e: e.ts_event < end_ns, events)
    if args.count is not None:
        events = itertools.islice(events, args.count)
    log.info("feed sim start brokers=%s symbols=%s rate=%s seed=%d",
             brokers, ",".join(market.symbols), args.rate, args.seed)
    with _stop_on_signals() as stop:
        stats = publish(events, brokers, speed=1.0, progress=_ProgressLog(live=True),
                        progress_interval_s=PROGRESS_INTERVAL_S, stop=stop)
    return _summary(stats)


def _file(args: argparse.Namespace) -> int:
    files = [read_market_file(path) for path in args.input]
    for mf in files:
        _report_rejects(mf, strict=args.strict)
    brokers = kafka_brokers(get_settings())
    log.info("feed file start brokers=%s files=%d rows=%d speed=%s",
             brokers, len(files), sum(len(f) for f in files), args.speed or "max")
    with _stop_on_signals() as stop:
        stats = publish(merge_events(files), brokers, speed=args.speed,
                        progress=_ProgressLog(live=False),
                        progress_interval_s=PROGRESS_INTERVAL_S, stop=stop)
    return _summary(stats)


def _report_rejects(mf: MarketFile, *, strict: bool) -> None:
    if mf.rejected and strict:
        line, reason = mf.rejected[0]
        raise InputFileError(f"{mf.path}:{line}: {reason} (--strict)")
    print(f"{mf.path}: {len(mf)} {mf.topic} rows, {len(mf.rejected)} rejected", file=sys.stderr)
    for line, reason in mf.rejected[:SHOWN_REJECTS]:
        print(f"  line {line}: {reason}", file=sys.stderr)
    if len(mf.rejected) > SHOWN_REJECTS:
        print(f"  ... and {len(mf.rejected) - SHOWN_REJECTS} more", file=sys.stderr)


def _summary(stats: PublishStats) -> int:
    per_topic = ", ".join(f"{t} {n}" for t, n in sorted(stats.produced.items())) or "nothing"
    ending = " (stopped)" if stats.stopped else ""
    print(
        f"published {stats.total} events in {stats.elapsed_s:.1f} s "
        f"({stats.events_per_s:.0f}/s): {per_topic}; "
        f"{stats.delivery_errors} delivery error(s){ending}"
    )
    return 1 if stats.delivery_errors else 0


class _ProgressLog:
    """Logs rate since the last report and totals; for a live feed, how far behind it runs."""

    def __init__(self, *, live: bool) -> None:
        self._live = live
        self._last_total = 0
        self._last_s = 0.0

    def __call__(self, stats: PublishStats) -> None:
        window_s = stats.elapsed_s - self._last_s
        rate = (stats.total - self._last_total) / window_s if window_s > 0 else 0.0
        self._last_total, self._last_s = stats.total, stats.elapsed_s
        lag_ms = None
        if self._live and stats.last_ts_event is not None:
            lag_ms = (time.time_ns() - stats.last_ts_event) / 1e6
        topics = " ".join(f"{t.split('.')[-1]}={n}" for t, n in sorted(stats.produced.items()))
        log.info("feed progress rate=%.0f/s total=%d %s errors=%d%s",
                 rate, stats.total, topics, stats.delivery_errors,
                 "" if lag_ms is None else f" lag_ms={lag_ms:.0f}")
        if lag_ms is not None and lag_ms > LAG_WARNING_MS:
            log.warning("feed falling behind event time lag_ms=%.0f: lower --rate", lag_ms)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """SIGINT / SIGTERM set the event (the feed flushes and ends); a second SIGINT aborts."""
    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.info("feed stopping signal=%s", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
