"""The market-file options that `feed file` and `replay --input` share, and their help."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from streams.exceptions import ConfigError
from streams.feeds.badrows import BadRows
from streams.feeds.chunks import MAX_HELD_ROWS
from streams.feeds.files import DEFAULT_MAX_BACKWARDS_MS, FORMATS, FileOptions
from streams.feeds.lobster import DEFAULT_TZ
from streams.feeds.mapping import UNITS, ColumnMap, TimeFormat

FORMATS_HELP = """\
file formats (--format auto tells them by name):
  our own columns, CSV (.csv, .csv.gz) or Parquet; other columns are ignored:
    trades  ts_event, symbol, price, size [, aggressor or side: buy/sell, B/S]
    quotes  ts_event, symbol, bid_price, bid_size, ask_price, ask_size
    depth   ts_event, symbol, bid_price_1..N, bid_size_1..N, ask_price_1..N,
            ask_size_1..N (N <= 10; empty cells for missing levels)
    bars    ts_event (the bar's end), symbol, open, high, low, close, volume
            [, start_ns (default ts_event - 60 s)]: 1-minute bars only, straight
            to market.bars.1m (no bars engine needed); a file of other bars is
            refused: start_ns not 60 s before ts_event, a symbol's bars less than
            60 s apart, or (without start_ns) its first two a day or more apart
    The columns tell the kind: price/size trades, bid_*/ask_* quotes,
    *_1..N depth, open/high/low/close bars.
    ts_event (and optional ts_init, start_ns): int ns since the epoch, another
    --ts-unit, or ISO-8601 text. Prices keep their exact decimal text.
  other CSVs: --map puts their columns under our names; --symbol fills one in.
  LOBSTER: TICKER_DATE_START_END_message_LEVEL.csv and, found next to it,
    TICKER_DATE_START_END_orderbook_LEVEL.csv. Executions (types 4, 5) become
    trades, the aggressor opposite the resting order; every book row that
    changes the first 10 levels becomes a depth snapshot. Renamed files:
    --format lobster --symbol S --date D -i MESSAGES -i BOOK.

Files are read in chunks with a progress line on stderr; memory stays flat.
A row up to --max-backwards-ms behind an earlier row of its file is put in
order; one further back is a bad row. Bad rows (unparseable, negative sizes,
crossed books, a bar's high below its open, times going back) are shown as
FILE:LINE: REASON and skipped;
--strict stops at the first (exit 2).
"""


def add_input_option(
    container: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup, *,
    required: bool = False,
) -> None:
    """Add `--input FILE` / `-i FILE` (repeatable; the files are merged in time order)."""
    container.add_argument(
        "--input", "-i", type=Path, action="append", required=required, metavar="FILE",
        help="a market file; repeat for several (merged in time order). "
        "Example: -i trades.csv -i quotes.parquet")


def add_file_options(parser: argparse.ArgumentParser) -> None:
    """Add --format, --map, --ts-unit, --tz, --symbol, --date, --max-backwards-ms, --strict."""
    group = parser.add_argument_group("reading files")
    group.add_argument(
        "--format", choices=FORMATS, default="auto",
        help="auto (default): .csv/.csv.gz/.parquet by extension, LOBSTER by its standard "
        "names; or force one for every --input. Example: --format lobster")
    group.add_argument(
        "--map", dest="column_map", type=_column_map, default=ColumnMap(),
        metavar="TARGET=SOURCE,...",
        help="read the file's column SOURCE as our column TARGET (ts = ts_event, symbol, "
        "price, size, aggressor, bid_price, bid_size, ask_price, ask_size, bid_price_N..., "
        "open, high, low, close, volume, start_ns). "
        "Example: --map ts=timestamp,price=px,size=qty,symbol=ticker")
    group.add_argument(
        "--ts-unit", choices=tuple(UNITS), default="ns",
        help="unit of numeric times: s, ms, us or ns (default: ns); decimals are exact to "
        "the ns. Text times are read as ISO-8601 whatever the unit. Example: --ts-unit ms")
    group.add_argument(
        "--tz", metavar="ZONE", type=_zone,
        help="IANA time zone of ISO-8601 times without an offset (default: UTC; times with "
        f"an offset keep it) and of LOBSTER trading days (default: {DEFAULT_TZ}). "
        "Example: --tz America/New_York")
    group.add_argument(
        "--symbol", metavar="SYMBOL",
        help="symbol for files without a symbol column, and for LOBSTER files whose names do "
        "not say it (overrides the name). Example: --symbol AAPL")
    group.add_argument(
        "--date", dest="day", type=_day, metavar="YYYY-MM-DD",
        help="trading day of LOBSTER files whose names do not say it (overrides the name). "
        "Example: --date 2012-06-21")
    group.add_argument(
        "--max-backwards-ms", type=_non_negative, default=DEFAULT_MAX_BACKWARDS_MS,
        metavar="MS",
        help="how far a row's time may go back behind an earlier row of its file: such rows "
        f"are put in order (at most {MAX_HELD_ROWS:,} held), rows further back are bad rows "
        f"(default: {DEFAULT_MAX_BACKWARDS_MS}, 5 minutes). "
        "Example: --max-backwards-ms 0 (the file must be sorted)")
    group.add_argument(
        "--strict", action="store_true",
        help="stop at the first bad row with FILE:LINE: REASON and exit 2, instead of "
        "skipping bad rows. Example: --strict")


def file_options(args: argparse.Namespace) -> FileOptions:
    return FileOptions(
        format=args.format, column_map=args.column_map, ts_unit=args.ts_unit, tz=args.tz,
        symbol=args.symbol, day=args.day, max_backwards_ms=args.max_backwards_ms,
    )


def print_bad_rows(bad_rows: BadRows) -> None:
    """One line per file with bad rows: how many were skipped, and where the first was."""
    for line in bad_rows.summary():
        print(line, file=sys.stderr)


def _column_map(text: str) -> ColumnMap:
    try:
        return ColumnMap.parse(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _zone(text: str) -> str:
    try:
        TimeFormat(tz=text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value
