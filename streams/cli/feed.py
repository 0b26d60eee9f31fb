"""`nautilus-streams feed sim|file|ibkr|fred|edgar|...`: publish market data to the market.*
topics.

`sim` runs the seeded synthetic market live: event times are the wall clock at start plus the
simulated offsets, and records go out when their event time comes, so the trade rate is
`--rate` on average and ts_event tracks the wall clock. With `--backfill-minutes N` it first
publishes N minutes of simulated history ending at its start, as fast as the broker takes it
(fewer, larger trades: see `streams.feeds.sim`), then the live tape from there, catching up
with the wall clock. `file` replays market files (our
CSV / Parquet, other CSVs through a column map, LOBSTER pairs), read in chunks and merged in
event-time order, at a chosen speed. Both stop cleanly on Ctrl-C or SIGTERM after
flushing what was produced, and report progress on stderr.

`ibkr` publishes live data from TWS / IB Gateway (`streams.feeds.ibkr`, the `ibkr` extra) until
Ctrl-C or SIGTERM, reconnecting by itself; it prints its status to stderr every few seconds.

`fred`, `dbnomics`, `yahoo` (unofficial), `datagov` and `tradingeconomics` poll their source
once and publish what market.macro does not hold yet; `edgar` and `alphavantage` do the same
with company figures and market.fundamentals, EDGAR's filings (market.filings) and Alpha
Vantage's daily prices (market.prices.1d); `sources` polls every configured one, once or on
a schedule (`streams.cli.feed_sources`).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from streams import kafka
from streams.cli import feed_sources
from streams.cli.arguments import positive
from streams.cli.market_files import (
    FORMATS_HELP,
    add_file_options,
    add_input_option,
    file_options,
    print_bad_rows,
)
from streams.cli.signals import stop_on_signals
from streams.endpoints import reachable_kafka_brokers
from streams.exceptions import ConfigError
from streams.feeds import MarketEvent
from streams.feeds.badrows import BadRows, DeadLetters
from streams.feeds.files import market_events
from streams.feeds.progress import Progress
from streams.feeds.publish import PublishStats, publish
from streams.feeds.sim import DEFAULT_TRADES_PER_S, KNOWN_SYMBOLS, NS_PER_S, SimMarket
from streams.settings import get_settings

log = logging.getLogger(__name__)

DEFAULT_SYMBOLS = ",".join(KNOWN_SYMBOLS)
PROGRESS_INTERVAL_S = 5.0
FLUSH_TIMEOUT_S = 30.0
LAG_WARNING_MS = 1_000.0
MIN_WAIT_S = 0.001  # shorter waits are skipped: the absolute schedule catches up
DEFAULT_BACKFILL_TRADES_PER_S = 20.0


def register(sub: argparse._SubParsersAction) -> None:
    feed = sub.add_parser(
        "feed",
        help="publish market data (a simulated market, files, Interactive Brokers, macro "
        "and company data sources) to the market.* topics",
        description="Publish trades, quotes and depth to market.trades / market.quotes / "
        "market.depth, keyed by symbol, macro series to market.macro (fred, dbnomics, "
        "yahoo, datagov, tradingeconomics), company figures to market.fundamentals (edgar, "
        "alphavantage), SEC filings to market.filings (edgar) or daily prices to "
        "market.prices.1d (alphavantage). Ctrl-C or SIGTERM stops after flushing.",
    )
    cmds = feed.add_subparsers(dest="feed_command", metavar="SUBCOMMAND", required=True)
    _register_sim(cmds)
    _register_file(cmds)
    _register_ibkr(cmds)
    feed_sources.register(cmds)


def _register_sim(cmds: argparse._SubParsersAction) -> None:
    sim = cmds.add_parser(
        "sim",
        help="publish a live, seeded synthetic market",
        description="Publish a seeded synthetic market live: Poisson trades with heavy-tailed "
        "sizes, quotes, 10-level depth snapshots, and now and then an "
        "informed-flow episode (30-120 s of one-sided, larger trades moving the price). "
        "Event times start at the wall clock; runs until Ctrl-C unless --duration or --count. "
        "--backfill-minutes N first publishes N minutes of history (event times in the past, "
        "ending where the live tape starts) as fast as the broker takes it, so engines that "
        "need a warm-up (VPIN: 50 buckets) have values within a minute. History trades at "
        "--backfill-rate (each trade merges RATE/BACKFILL_RATE live-rate trades, its size "
        "the sum of theirs, on one side), so every symbol trades the same volume per second "
        "and prices move as live; quotes and depth snapshots follow every --quote-every / "
        "--depth-every history trades: at the defaults 100x fewer events than live. "
        "Progress is logged; the live tape then starts where the history ends and catches "
        "up with the wall clock.",
    )
    sim.add_argument("--symbols", type=_symbol_list, default=DEFAULT_SYMBOLS,
                     help=f"comma-separated symbols (default: {DEFAULT_SYMBOLS}); "
                     "unknown ones get a price and tick derived from the name")
    sim.add_argument("--rate", type=positive(float), default=DEFAULT_TRADES_PER_S,
                     help="trades per second over all symbols, default 2000 "
                     "(quotes and depth snapshots come on top)")
    sim.add_argument("--seed", type=int, default=7, help="same seed, same tape (default: 7)")
    sim.add_argument("--backfill-minutes", type=backfill_minutes, default=0.0, metavar="N",
                     help="first publish N minutes of history, unpaced (default: 0, none; "
                     "`up` passes 60)")
    sim.add_argument("--backfill-rate", type=positive(float),
                     default=DEFAULT_BACKFILL_TRADES_PER_S, metavar="N",
                     help="trades per second of the history over all symbols (above "
                     f"--rate: --rate; default: {DEFAULT_BACKFILL_TRADES_PER_S:g}; rounded so "
                     "that each history trade merges a whole number of live-rate trades)")
    stop = sim.add_mutually_exclusive_group()
    stop.add_argument("--duration", type=positive(float), metavar="SECONDS",
                      help="stop after this many seconds of live event time")
    stop.add_argument("--count", type=positive(int), metavar="N",
                      help="stop after N events (trades, quotes and snapshots together, "
                      "history included)")
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
        help="publish market files (our CSV/Parquet, mapped CSVs, LOBSTER, 1-minute bars)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Publish market files to market.trades / market.quotes / market.depth /\n"
        "market.bars.1m, merged in ts_event order, at a chosen speed. Bad rows also go to\n"
        "logic.deadletter (source file:PATH, offset = line) unless --no-deadletter.\n"
        "With --strict, rows before the first bad one may already be published:\n"
        "files are streamed.\n\n"
        + FORMATS_HELP,
        epilog="examples:\n"
        "  nautilus-streams feed file -i trades.csv --speed 10x\n"
        "  nautilus-streams feed file -i fills.csv --map ts=timestamp,price=px,size=qty "
        "--ts-unit ms --symbol ESZ6\n"
        "  nautilus-streams feed file -i ticks.csv --map ts=time --tz America/New_York\n"
        "  nautilus-streams feed file -i AAPL_2012-06-21_34200000_57600000_message_10.csv\n"
        "  nautilus-streams feed file -i bars_1m.parquet --speed 60x\n"
        "  nautilus-streams feed file --format lobster --symbol AAPL --date 2012-06-21 "
        "-i msgs.csv -i book.csv",
    )
    add_input_option(file, required=True)
    file.add_argument("--speed", type=_speed, default=None, metavar="1x|10x|max",
                      help="replay speed relative to event time (default: max, no pacing). "
                      "Example: --speed 10x")
    file.add_argument("--deadletter", action=argparse.BooleanOptionalAction, default=True,
                      help="send bad rows to logic.deadletter as well as reporting them "
                      "(default: on). Example: --no-deadletter")
    add_file_options(file)
    file.set_defaults(handler=_file)


# ---- argument types ----------------------------------------------------------------------


def backfill_minutes(text: str) -> float:
    """An argparse type: minutes of history, 0 or more (`feed sim` and `up`)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


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
    merge = max(1, round(args.rate / args.backfill_rate))
    market = SimMarket(
        args.symbols,
        seed=args.seed,
        trades_per_s=args.rate,
        quote_every=args.quote_every,
        depth_every=args.depth_every,
        informed_probability=args.informed_probability,
        history_s=args.backfill_minutes * 60,
        history_merge=merge,
    )
    brokers = reachable_kafka_brokers(get_settings())
    live_ns = time.time_ns()
    start_ns = live_ns - market.history_ns
    events: Iterator[MarketEvent] = market.events(start_ns)
    if args.duration is not None:
        end_ns = live_ns + round(args.duration * NS_PER_S)
        events = itertools.takewhile(lambda e: e.ts_event < end_ns, events)
    if args.count is not None:
        events = itertools.islice(events, args.count)
    log.info("feed sim start brokers=%s symbols=%s rate=%s seed=%d",
             brokers, ",".join(market.symbols), args.rate, args.seed)
    if market.history_ns:
        log.info("feed backfill start minutes=%g from_ns=%d live_from_ns=%d trades_per_s=%g "
                 "merge=%d (each history trade merges %d live-rate trades: the same volume "
                 "per second)", args.backfill_minutes, start_ns, live_ns, args.rate / merge,
                 merge, merge)
    with stop_on_signals("feed") as stop:
        stats = publish(_at_event_time(events, start_ns, live_ns, stop), brokers,
                        progress=_ProgressLog(start_ns, live_ns),
                        progress_interval_s=PROGRESS_INTERVAL_S, stop=stop)
    return _summary(stats)


def _at_event_time(events: Iterator[MarketEvent], start_ns: int, live_ns: int,
                   stop: threading.Event) -> Iterator[MarketEvent]:
    """The events, those before `live_ns` at once (the history from `start_ns`), the others
    when the wall clock reaches their event time: an absolute schedule, so the live tape
    catches up with the wall clock after the history and does not drift. A stop request
    ends the waiting."""
    started = time.monotonic()
    backfilled = start_ns == live_ns  # no history: nothing to report
    for count, event in enumerate(events):
        if not backfilled and event.ts_event >= live_ns:
            backfilled = True
            log.info("feed backfill done events=%d elapsed_s=%.1f; live from here",
                     count, time.monotonic() - started)
        wait_s = (event.ts_event - time.time_ns()) / NS_PER_S
        if wait_s > MIN_WAIT_S:
            stop.wait(wait_s)
        yield event

def _file(args: argparse.Namespace) -> int:
    options = file_options(args)
    progress = Progress()
    dead_letters = DeadLetters() if args.deadletter else None
    bad_rows = BadRows(strict=args.strict, echo=progress.note, forward=dead_letters)
    try:
        # The first events are read before the broker is looked up: file errors come first.
        events = _started(market_events(args.input, options, bad_rows, progress))
        brokers = reachable_kafka_brokers(get_settings())
        if dead_letters is not None:
            dead_letters.start(kafka.producer(brokers))
        log.info("feed file start brokers=%s files=%d speed=%s",
                 brokers, len(args.input), args.speed or "max")
        with stop_on_signals("feed") as stop:
            stats = publish(events, brokers, speed=args.speed, stop=stop)
    finally:
        progress.close()
    undelivered = dead_letters.flush(FLUSH_TIMEOUT_S) if dead_letters is not None else 0
    print_bad_rows(bad_rows)
    if dead_letters is not None and dead_letters.sent:
        print(f"{dead_letters.sent} bad row(s) sent to logic.deadletter, "
              f"{undelivered} undelivered", file=sys.stderr)
    return _summary(stats) or int(undelivered > 0)


def _started(events: Iterator[MarketEvent]) -> Iterator[MarketEvent]:
    """The same events, the first of them read now."""
    first = next(events, None)
    return iter(()) if first is None else itertools.chain([first], events)


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
    """Logs rate since the last report and totals; during a backfill, how much of the history
    is out; live, how far behind event time the feed runs."""

    def __init__(self, start_ns: int, live_ns: int) -> None:
        self._start_ns, self._live_ns = start_ns, live_ns
        self._last_total = 0
        self._last_s = 0.0

    def __call__(self, stats: PublishStats) -> None:
        window_s = stats.elapsed_s - self._last_s
        rate = (stats.total - self._last_total) / window_s if window_s > 0 else 0.0
        self._last_total, self._last_s = stats.total, stats.elapsed_s
        topics = " ".join(f"{t.split('.')[-1]}={n}" for t, n in sorted(stats.produced.items()))
        last = stats.last_ts_event
        if last is not None and last < self._live_ns:
            done = (last - self._start_ns) / (self._live_ns - self._start_ns)
            log.info("feed backfill progress done=%.0f%% minutes_left=%.1f rate=%.0f/s "
                     "total=%d %s errors=%d", 100 * done, (self._live_ns - last) / 60e9, rate,
                     stats.total, topics, stats.delivery_errors)
            return
        lag_ms = None if last is None else (time.time_ns() - last) / 1e6
        log.info("feed progress rate=%.0f/s total=%d %s errors=%d%s",
                 rate, stats.total, topics, stats.delivery_errors,
                 "" if lag_ms is None else f" lag_ms={lag_ms:.0f}")
        if lag_ms is not None and lag_ms > LAG_WARNING_MS:
            log.warning("feed falling behind event time lag_ms=%.0f: lower --rate", lag_ms)


# ---- ibkr --------------------------------------------------------------------------------

if TYPE_CHECKING:  # imported when used: ib_async is an optional extra
    from streams.feeds.ibkr import IbkrFeed


def _register_ibkr(cmds: argparse._SubParsersAction) -> None:
    ib = cmds.add_parser(
        "ibkr",
        help="publish live Interactive Brokers data from TWS / IB Gateway",
        description="Subscribe at Interactive Brokers, through TWS or IB Gateway with the API "
        "enabled, to tick-by-tick trades (AllLast), quotes (BidAsk, or reqMktData once the "
        "account's tick-by-tick lines are used) and market depth, and publish them keyed by "
        "symbol; ts_event is IB's venue time (whole seconds; depth and reqMktData quotes: "
        "arrival), ts_init the arrival. Instruments come from "
        "--symbols/--stock/--future/--fx/--instruments, else NAUTILUS_IBKR_SYMBOLS / "
        "NAUTILUS_IBKR_INSTRUMENTS. A dropped or silent connection is re-established with "
        "backoff, a refused subscription asked for again after NAUTILUS_IBKR_RETRY_MS; "
        "outages (lost connection, broken data farms, subscriptions silent in market hours) "
        "go to logic.risk.alerts, status to logic.engine.health. Runs until Ctrl-C or SIGTERM; "
        "an unknown or ambiguous contract, an expired future or a client id in use stop it "
        "with the reason. Needs the ibkr extra: pip install 'nautilus-streams[ibkr]'.",
    )
    ib.add_argument("--host", help="TWS / IB Gateway host (default: NAUTILUS_IBKR_HOST, "
                    "127.0.0.1)")
    ib.add_argument("--port", type=int, help="API port (default: NAUTILUS_IBKR_PORT, 4002; IB "
                    "Gateway 4002 paper / 4001 live, TWS 7497 / 7496)")
    ib.add_argument("--client-id", type=int, metavar="N",
                    help="API client id, unique per connection (default: "
                    "NAUTILUS_IBKR_CLIENT_ID, 1)")
    ib.add_argument("--symbols", type=_symbol_list, default=[],
                    help="comma-separated stocks, SMART-routed in USD, e.g. AAPL,MSFT")
    ib.add_argument("--stock", action="append", default=[],
                    metavar="SYMBOL[:EXCHANGE[:CCY[:PRIMARY]]]",
                    help="a stock, e.g. SAP:IBIS:EUR, or SMART-routed with its primary "
                    "exchange when the symbol is listed on several: SAP:SMART:EUR:IBIS; "
                    "repeatable")
    ib.add_argument("--future", action="append", default=[],
                    metavar="SYMBOL:EXPIRY:EXCHANGE[:CCY[:CLASS[:MULT]]]",
                    help="a future by contract month (YYYYMM) or last trading day (YYYYMMDD), "
                    "e.g. ES:202703:CME; a trading class and multiplier choose among contracts "
                    "of one month (weekly contracts have their own trading class), e.g. "
                    "ES:202703:CME:USD:ES:50; repeatable")
    ib.add_argument("--fx", action="append", default=[], metavar="PAIR",
                    help="an FX pair on IDEALPRO (quotes and depth; FX has no trades), e.g. "
                    "EURUSD; repeatable")
    ib.add_argument("--instruments", action="append", default=[], type=Path, metavar="FILE",
                    help="instruments file, YAML or CSV (format in the README); repeatable")
    ib.add_argument("--depth-rows", type=int, metavar="N",
                    help="depth rows per side, 0-10, 0 for none (default: "
                    "NAUTILUS_IBKR_DEPTH_ROWS, 10)")
    ib.add_argument("--no-smart-depth", action="store_true",
                    help="ask for the routing exchange's book, not IB's smart (consolidated) one")
    ib.add_argument("--tick-by-tick-lines", type=int, metavar="N",
                    help="simultaneous tick-by-tick subscriptions the account allows; trades "
                    "take them first, one per instrument, then quotes (default: "
                    "NAUTILUS_IBKR_TICK_BY_TICK_LINES, 3)")
    ib.add_argument("--depth-lines", type=int, metavar="N",
                    help="simultaneous depth subscriptions the account allows, one per "
                    "instrument in order (default: NAUTILUS_IBKR_DEPTH_LINES, 3)")
    ib.add_argument("--quotes", metavar="auto|tick-by-tick|market-data",
                    help="auto: tick-by-tick quotes while lines last, then reqMktData; "
                    "tick-by-tick: never reqMktData; market-data: all quotes from reqMktData "
                    "(default: NAUTILUS_IBKR_QUOTES, auto)")
    ib.set_defaults(handler=_ibkr)


def _ibkr(args: argparse.Namespace) -> int:
    try:
        from streams.feeds import ibkr
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"feed ibkr needs the ibkr extra ({exc.name} is missing): "
            "pip install 'nautilus-streams[ibkr]'"
        ) from None
    settings = get_settings()
    given = (args.symbols, args.stock, args.future, args.fx, args.instruments)
    if any(given):
        instruments = ibkr.collect(*given)
    else:
        instruments = ibkr.collect(
            _symbol_list(settings.ibkr_symbols) if settings.ibkr_symbols else [],
            files=[settings.ibkr_instruments] if settings.ibkr_instruments else [],
        )
    if not instruments:
        raise ConfigError("no instruments: give --symbols, --stock, --future, --fx or "
                          "--instruments (or NAUTILUS_IBKR_SYMBOLS / NAUTILUS_IBKR_INSTRUMENTS)")
    config = ibkr.IbkrConfig(
        host=args.host or settings.ibkr_host,
        port=args.port if args.port is not None else settings.ibkr_port,
        client_id=args.client_id if args.client_id is not None else settings.ibkr_client_id,
        depth_rows=args.depth_rows if args.depth_rows is not None else settings.ibkr_depth_rows,
        smart_depth=not args.no_smart_depth,
        tick_by_tick_lines=_given(args.tick_by_tick_lines, settings.ibkr_tick_by_tick_lines),
        depth_lines=_given(args.depth_lines, settings.ibkr_depth_lines),
        quotes=args.quotes or settings.ibkr_quotes,
        retry_s=settings.ibkr_retry_ms / 1e3,
        stale_after_s=settings.ibkr_stale_after_ms / 1e3,
        connect_timeout_s=settings.ibkr_connect_timeout_ms / 1e3,
        heartbeat_s=settings.ibkr_heartbeat_ms / 1e3,
        stall_timeout_s=settings.ibkr_stall_timeout_ms / 1e3,
        reconnect_min_s=settings.ibkr_reconnect_min_ms / 1e3,
        reconnect_max_s=settings.ibkr_reconnect_max_ms / 1e3,
        health_interval_s=settings.health_interval_ms / 1e3,
    )
    brokers = reachable_kafka_brokers(settings)
    logging.getLogger("ib_async").setLevel(max(logging.WARNING, logging.getLogger().level))
    print(f"feed ibkr: {config.host}:{config.port} client {config.client_id} -> {brokers}; "
          f"{len(instruments)} instrument(s): {', '.join(i.label for i in instruments)}",
          file=sys.stderr)
    publisher = ibkr.KafkaPublisher(brokers).start()
    feed = ibkr.IbkrFeed(instruments, config, publisher)
    try:
        asyncio.run(_run_ibkr(feed))
    finally:
        stats = publisher.close()
    c = feed.counters
    refused = ", ".join(f"{k} {n}" for k, n in sorted(c.refused.items())) or "none"
    print(f"ibkr: {c.sessions} session(s), {c.outages} outage(s), {c.skipped} tick(s) skipped, "
          f"{c.errors} IB error(s), refused subscriptions: {refused}")
    return _summary(stats) if stats is not None else 1


def _given(flag: int | None, setting: int) -> int:
    return setting if flag is None else flag


async def _run_ibkr(feed: IbkrFeed) -> None:
    """Run the feed until SIGINT / SIGTERM (a second one cancels it), printing its status."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(feed.run(stop))

    def handle(signum: int) -> None:
        if stop.is_set():
            task.cancel()
            return
        print(f"feed ibkr: {signal.Signals(signum).name}, stopping", file=sys.stderr)
        stop.set()

    for s in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(s, handle, s)
    status = _IbkrStatus(feed)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=PROGRESS_INTERVAL_S)
            status.print()
        await task
    finally:
        for s in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(s)


class _IbkrStatus:
    """One status line per call: state, counts, rate since the last line; then, once each,
    new refusals, data outages and data the feed does not get."""

    def __init__(self, feed: IbkrFeed) -> None:
        self._feed = feed
        self._last = (time.monotonic(), 0)
        self._shown: set[str] = set()

    def print(self) -> None:
        feed, c = self._feed, self._feed.counters
        now = time.monotonic()
        rate = (c.events_out - self._last[1]) / max(now - self._last[0], 1e-9)
        self._last = (now, c.events_out)
        line = (f"ibkr {feed.status}: trades={c.trades} quotes={c.quotes} depth={c.depth} "
                f"({rate:.0f}/s)")
        if c.last_event_ts is not None:
            line += f", last event {(time.time_ns() - c.last_event_ts) / 1e9:.1f} s ago"
        if feed.outage is not None:
            line += (f"; DOWN {(time.time_ns() - feed.outage.start_ns) / 1e9:.0f} s "
                     f"({feed.outage.reason}), reconnecting")
        print(line, file=sys.stderr)
        notes = list(feed.refused())
        notes += [f"outage: {o.reason} ({', '.join(o.symbols)})"
                  for o in feed.outages.values() if o is not feed.outage]
        notes += [f"{symbol} gets no {kind}: {why}" for symbol, kinds in feed.lacking().items()
                  for kind, why in kinds.items() if not why.startswith("IB refused")]
        for text in notes:
            if text not in self._shown:
                self._shown.add(text)
                print(f"  {text}", file=sys.stderr)
