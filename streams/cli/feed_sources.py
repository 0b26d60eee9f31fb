"""`nautilus-streams feed fred|edgar|alphavantage|dbnomics|yahoo|datagov|tradingeconomics` (one
source) and `feed sources` (every configured one, once or on a schedule): poll and publish
what is new.

The polling itself is `streams.feeds.sources.poll`; this module is its command line: options,
a progress line per item on stderr and the summary on stdout. Exit 0 when every item was
fetched and delivered, 1 when one failed (the others are published), 2 when the source (for
`feed sources`: every source) is not configured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from streams.catalog import Catalog
from streams.cli.arguments import positive
from streams.cli.signals import stop_on_signals
from streams.endpoints import reachable_kafka_brokers
from streams.exceptions import ConfigError
from streams.feeds.sources import load_source
from streams.feeds.sources.base import parse_tickers
from streams.feeds.sources.fred import SERIES_ID
from streams.feeds.sources.poll import (
    ItemResult,
    open_source,
    poll_once,
    poll_source,
    source_states,
)
from streams.settings import get_settings


@dataclass(frozen=True, slots=True)
class _ListedSource:
    """A source whose items are one variable's list: its option overrides that variable."""

    help: str
    option: str
    variable: str
    example: str


LISTED_SOURCES = {
    "dbnomics": _ListedSource("publish DBnomics series (any provider/dataset/series) to "
                              "market.macro (once, idempotent)", "--series",
                              "NAUTILUS_DBNOMICS_SERIES", "AMECO/ZUTN/EA19.1.0.0.0.ZUTN"),
    "yahoo": _ListedSource("publish daily closes of Yahoo Finance symbols (UNOFFICIAL) to "
                           "market.macro (once, idempotent)", "--symbols",
                           "NAUTILUS_YAHOO_SYMBOLS", "^VIX,^TNX"),
    "datagov": _ListedSource("publish the Treasury's average interest rates (Data.gov, Fiscal "
                             "Data) to market.macro (once, idempotent)", "--securities",
                             "NAUTILUS_DATAGOV_SECURITIES", "'Treasury Bills,Treasury Notes'"),
    "tradingeconomics": _ListedSource("publish Trading Economics indicators to market.macro "
                                      "(once, idempotent)", "--indicators",
                                      "NAUTILUS_TRADINGECONOMICS_INDICATORS",
                                      "'united states/gdp growth rate'"),
}


def register(cmds: argparse._SubParsersAction) -> None:
    fred = cmds.add_parser(
        "fred",
        help="publish FRED economic series, every vintage, to market.macro (once, idempotent)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fetch observations of FRED series with all their vintages (ALFRED's\n"
        "real-time periods) and publish to market.macro, keyed by series, the records the\n"
        "topic does not hold yet: running it twice publishes nothing new. Each record is one\n"
        "value of one period as known from `realtime_start` on (ts_event: the end of that\n"
        "day, UTC: FRED gives no release times, so never before the release); a revision is\n"
        "a new record. FRED's missing values ('.') are counted, not published. A series\n"
        "that fails (refused, retries used up, a malformed or partial payload) publishes\n"
        "nothing and the others go on.\n\n"
        "Needs FRED_API_KEY (free: https://fred.stlouisfed.org/docs/api/api_key.html). The\n"
        "default series are the file NAUTILUS_FRED_SERIES_FILE (default: fred_series.yaml,\n"
        "32 series in five groups). Responses with validators are cached for conditional\n"
        "requests under NAUTILUS_SOURCES_CACHE_DIR (default: <state dir>/http-cache).\n"
        "Progress per series goes to stderr, the summary line to stdout.",
        epilog="examples:\n"
        "  FRED_API_KEY=... nautilus-streams feed fred\n"
        "  nautilus-streams feed fred --series DGS3MO,DGS2,DGS10 --since 2020-01-01",
    )
    fred.add_argument("--series", type=_series_list, metavar="A,B",
                      help="comma-separated FRED series ids (default: every series of the "
                      "series file)")
    fred.add_argument("--since", type=_date, metavar="YYYY-MM-DD",
                      help="only periods from this date on (FRED's observation_start); every "
                      "vintage of them is still fetched (default: the whole history)")
    fred.set_defaults(handler=_fred)
    _register_edgar(cmds)
    _register_alphavantage(cmds)
    for name, listed in LISTED_SOURCES.items():
        _register_listed(cmds, name, listed)
    _register_every_source(cmds)


def _register_listed(cmds: argparse._SubParsersAction, name: str, listed: _ListedSource) -> None:
    module = sys.modules[load_source(name).__module__]
    parser = cmds.add_parser(
        name, help=listed.help, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"{module.__doc__}\nProgress per item goes to stderr, the summary line to "
        "stdout; exit 1 when an item failed (the others are published), 2 when the source is "
        "off.",
        epilog=f"example:\n  nautilus-streams feed {name} {listed.option} {listed.example}")
    parser.add_argument(listed.option, dest="items", metavar="A,B",
                        help=f"comma-separated, instead of {listed.variable}")
    parser.add_argument("--since", type=_date, metavar="YYYY-MM-DD",
                        help="only periods from this date on (default: all the source gives)")
    parser.set_defaults(handler=_listed, source=name)


def _listed(args: argparse.Namespace) -> int:
    listed = LISTED_SOURCES[args.source]
    environ = dict(os.environ)
    if args.items is not None:
        environ[listed.variable] = args.items
    return _poll(args.source, None, args.since, None, environ)


def _register_every_source(cmds: argparse._SubParsersAction) -> None:
    every = cmds.add_parser(
        "sources",
        help="poll every configured data source (FRED, ...) once, or on a schedule (--every)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Poll every data source whose variables are set (each source's section\n"
        "in README, .env.example) for its default items and publish what the topics do not\n"
        "hold yet; the others are named with why they are off, one line each. Polling twice\n"
        "publishes nothing new (none configured: exit 2). With --every, poll again each\n"
        "period until SIGTERM/Ctrl-C, saying each time which sources are off (compose's\n"
        "`sources` service; `up` runs it every NAUTILUS_SOURCES_POLL_S when one is).\n"
        "A summary line per source goes to stdout after each poll.",
        epilog="examples:\n"
        "  FRED_API_KEY=... nautilus-streams feed sources\n"
        "  FRED_API_KEY=... nautilus-streams feed sources --every 3600",
    )
    every.add_argument("--every", type=positive(float), metavar="SECONDS",
                       help="poll again every SECONDS until stopped (default: poll once)")
    every.set_defaults(handler=_every_source)


def _every_source(args: argparse.Namespace) -> int:
    settings = get_settings()
    states = source_states(os.environ)
    if args.every is None and all(why is not None for why in states.values()):
        for name, why in states.items():
            print(f"{name}: off ({why})", file=sys.stderr)
        print("feed sources: no data source is configured; set one's variables "
              "(.env.example, 'Data beyond the tape' in README)", file=sys.stderr)
        return 2
    failed = False
    with stop_on_signals("feed sources") as stop:
        while not stop.is_set():
            summaries = poll_once(settings)
            for summary in summaries:
                print(summary.line(), flush=True)
            failed = any(not s.ok for s in summaries if s.off is None)
            if args.every is None or stop.wait(args.every):
                break
    return 1 if failed else 0


def _register_edgar(cmds: argparse._SubParsersAction) -> None:
    edgar = cmds.add_parser(
        "edgar",
        help="publish SEC EDGAR company facts (revenue, net income, assets, ...) to "
        "market.fundamentals and recent filings to market.filings (once, idempotent)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fetch each ticker's company facts from the SEC's XBRL API and publish to\n"
        "market.fundamentals, keyed by ticker, the records the topic does not hold yet:\n"
        "revenue, net_income, operating_cash_flow, assets, equity and shares_outstanding,\n"
        "one record per figure and filing, so a restated period is a new record. ts_event is\n"
        "the filing's acceptance time on EDGAR. The filings of the filings list's recent part\n"
        "(a year's at least, or the latest 1,000: form, filing day, report date, main\n"
        "document, an 8-K's items) go to market.filings, one record per filing. A ticker\n"
        "that fails (unknown, refused, a malformed or partial payload) publishes nothing and\n"
        "the others go on.\n\n"
        "Needs NAUTILUS_EDGAR_USER_AGENT, a name and an email, as the SEC requires. Requests\n"
        "stay under the SEC's 10 a second.",
        epilog="examples:\n"
        "  NAUTILUS_EDGAR_USER_AGENT='Jane Doe jane@example.com' nautilus-streams feed edgar "
        "--tickers AAPL,MSFT\n"
        "  nautilus-streams feed edgar --since 2020-01-01   # NAUTILUS_EDGAR_TICKERS",
    )
    edgar.add_argument("--tickers", type=_tickers, metavar="A,B",
                       help="comma-separated tickers (default: NAUTILUS_EDGAR_TICKERS)")
    edgar.add_argument("--since", type=_date, metavar="YYYY-MM-DD",
                       help="only periods ending, and filings filed, on or after this date "
                       "(default: all)")
    edgar.set_defaults(handler=lambda args: _poll(
        "edgar", args.tickers, args.since,
        "set a name and an email, e.g. NAUTILUS_EDGAR_USER_AGENT='Jane Doe jane@example.com'"))


def _register_alphavantage(cmds: argparse._SubParsersAction) -> None:
    alphavantage = cmds.add_parser(
        "alphavantage",
        help="publish Alpha Vantage company overviews (market cap, book value, EPS, ...) to "
        "market.fundamentals and daily prices to market.prices.1d (once, idempotent, within "
        "a daily budget)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Fetch each ticker's company overview from Alpha Vantage and publish its\n"
        "figures to market.fundamentals, each dated when first seen: an unchanged figure is\n"
        "not published again. Then its daily prices (ALPHAVANTAGE_DAILY: `adjusted`, the\n"
        "default, TIME_SERIES_DAILY_ADJUSTED with each day's dividend and split, a premium\n"
        "function; `raw`, TIME_SERIES_DAILY, free, without them; `off`) to market.prices.1d:\n"
        "unadjusted OHLCV per finished day, dated at the day's end (UTC); adjusted prices\n"
        "are derived from them as of any instant. A free key asking for the adjusted series\n"
        "is told to set ALPHAVANTAGE_DAILY=raw, and the overviews go on.\n\n"
        "Each ticker's overview and prices are asked at most once a UTC day, and at most\n"
        "ALPHAVANTAGE_DAILY_CALLS requests (default 25, the free tier's: two a ticker) go out\n"
        "a day, counted across runs; past it, or when Alpha Vantage answers with its limit\n"
        "note, the remaining items publish nothing and say so.\n\n"
        "Needs ALPHAVANTAGE_API_KEY (free: https://www.alphavantage.co/support/#api-key).",
        epilog="examples:\n"
        "  ALPHAVANTAGE_API_KEY=... nautilus-streams feed alphavantage --tickers IBM,MSFT\n"
        "  ALPHAVANTAGE_DAILY=raw nautilus-streams feed alphavantage --tickers IBM",
    )
    alphavantage.add_argument("--tickers", type=_tickers, metavar="A,B",
                              help="comma-separated tickers, instead of "
                              "NAUTILUS_ALPHAVANTAGE_TICKERS")
    alphavantage.add_argument("--since", type=_date, metavar="YYYY-MM-DD",
                              help="only daily prices from this date on (default: all the "
                              "answer holds: ALPHAVANTAGE_OUTPUTSIZE)")
    alphavantage.set_defaults(handler=_alphavantage)


def _alphavantage(args: argparse.Namespace) -> int:
    environ = dict(os.environ)
    if args.tickers is not None:
        environ["NAUTILUS_ALPHAVANTAGE_TICKERS"] = ",".join(args.tickers)
    return _poll("alphavantage", None, args.since,
                 "a free key: https://www.alphavantage.co/support/#api-key", environ)


def _series_list(text: str) -> list[str]:
    series = [s.strip() for s in text.split(",") if s.strip()]
    if not series:
        raise argparse.ArgumentTypeError("give at least one series id")
    bad = [s for s in series if not SERIES_ID.fullmatch(s)]
    if bad:
        raise argparse.ArgumentTypeError(f"not a FRED series id: {', '.join(bad)}")
    return series


def _tickers(text: str) -> list[str]:
    try:
        tickers = list(parse_tickers(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not tickers:
        raise argparse.ArgumentTypeError("give at least one ticker")
    return tickers


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _fred(args: argparse.Namespace) -> int:
    return _poll("fred", args.series, args.since,
                 "a free key: https://fred.stlouisfed.org/docs/api/api_key.html")


def _poll(name: str, items: list[str] | None, since: dt.date | None, hint: str | None,
          environ: Mapping[str, str] = os.environ) -> int:
    """Poll source `name` once for `items` (default: its own, from `environ`); `hint` says
    how to turn it on."""
    settings = get_settings()
    source = open_source(load_source(name), settings, environ)
    if isinstance(source, str):
        raise ConfigError(f"source {name} is off: {source}"
                          + (f" ({hint})" if hint else ""))
    items = items or source.items()
    if not items:
        raise ConfigError(f"source {name}: nothing to fetch: give --tickers or set "
                          f"NAUTILUS_{name.upper()}_TICKERS")
    brokers = reachable_kafka_brokers(settings)
    print(f"feed {name}: {len(items)} item(s) -> {', '.join(source.topics)} at {brokers}",
          file=sys.stderr)
    with source.http:
        summary = poll_source(source, brokers, Catalog.load(settings.topics_file), items=items,
                              since=since, progress=_print_item)
    print(summary.line())
    return 0 if summary.ok else 1


def _print_item(result: ItemResult) -> None:
    if result.error is not None:  # why: the error line logged just before
        print(f"  {result.item}: FAILED, nothing published", file=sys.stderr)
        return
    print(f"  {result.item}: {result.fetched} fetched, {result.published} published, "
          f"{result.known} known, {result.missing} missing", file=sys.stderr)
