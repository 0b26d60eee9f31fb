"""`nautilus-streams feed fred|dbnomics|yahoo|datagov|tradingeconomics`: poll a data source
once and publish what is new.

The polling itself is `streams.feeds.sources.poll`; this module is its command line: options,
a progress line per item on stderr and the summary on stdout. Exit 0 when every item was
fetched and delivered, 1 when one failed (the others are published), 2 when the source is not
configured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from streams.catalog import Catalog
from streams.endpoints import reachable_kafka_brokers
from streams.exceptions import ConfigError
from streams.feeds.sources import load_source
from streams.feeds.sources.fred import SERIES_ID
from streams.feeds.sources.poll import ItemResult, open_source, poll_source
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
    _register_fred(cmds)
    for name, listed in LISTED_SOURCES.items():
        _register_listed(cmds, name, listed)


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
    return _poll(args.source, environ, None, args.since, "")


def _register_fred(cmds: argparse._SubParsersAction) -> None:
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


def _series_list(text: str) -> list[str]:
    series = [s.strip() for s in text.split(",") if s.strip()]
    if not series:
        raise argparse.ArgumentTypeError("give at least one series id")
    bad = [s for s in series if not SERIES_ID.fullmatch(s)]
    if bad:
        raise argparse.ArgumentTypeError(f"not a FRED series id: {', '.join(bad)}")
    return series


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _fred(args: argparse.Namespace) -> int:
    return _poll("fred", os.environ, args.series, args.since,
                 " (a free key: https://fred.stlouisfed.org/docs/api/api_key.html)")


def _poll(name: str, environ: Mapping[str, str], items: list[str] | None,
          since: dt.date | None, off_hint: str) -> int:
    settings = get_settings()
    source = open_source(load_source(name), settings, environ)
    if isinstance(source, str):
        raise ConfigError(f"source {name} is off: {source}{off_hint}")
    brokers = reachable_kafka_brokers(settings)
    items = items or source.items()
    print(f"feed {name}: {len(items)} item(s) -> {source.topic} at {brokers}", file=sys.stderr)
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
