"""Market files in, time-ordered chunks of codec columns out, for replay and `feed file`.

Formats (`FileOptions.format`; `auto` tells them by name):

- our own columns, CSV (`.csv`, `.csv.gz`) or Parquet: the kind of data is told by the
  columns (`streams.feeds.columns`): trades `ts_event, symbol, price, size`; quotes
  `ts_event, symbol, bid_price, bid_size, ask_price, ask_size`; depth `ts_event, symbol,
  bid_price_1.., bid_size_1.., ask_price_1.., ask_size_1..`; 1-minute bars `ts_event (the
  bar's end), symbol, open, high, low, close, volume [, start_ns]`, to market.bars.1m
  (other bar lengths are refused: `streams.feeds.bars`);
- anyone's CSV/Parquet, through a column map, a time unit or ISO-8601 times with a zone, and
  a fixed symbol for files without one (`streams.feeds.mapping`);
- LOBSTER message + order-book pairs (`streams.feeds.lobster`).

Files are read in chunks (`streams.feeds.tables`), never whole; rows may be out of time
order by up to `max_backwards_ms`, further is a bad row (`streams.feeds.chunks`). Bad rows
go to a `BadRows` with their file and line; valid rows come out as `MarketChunk`s.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from streams.codec import decode_columns
from streams.exceptions import ConfigError, InputFileError
from streams.feeds import TOPIC_BY_MODEL, MarketEvent
from streams.feeds import lobster as lob
from streams.feeds.badrows import BadRow, BadRows
from streams.feeds.bars import one_minute_bars
from streams.feeds.cells import Rejects, levels_text
from streams.feeds.chunks import MarketChunk, Step, TimeOrder, merge_inputs
from streams.feeds.columns import BARS, DEPTH, PRICE_COLUMNS, QUOTES, TRADES, kind_of, parse
from streams.feeds.mapping import ColumnMap, TimeFormat
from streams.feeds.progress import Progress
from streams.feeds.tables import (
    DEFAULT_BLOCK_BYTES,
    CellChunk,
    csv_chunks,
    first_fields,
    parquet_chunks,
)
from streams.schema import DEPTH_LEVELS, Bar, DepthSnapshot, Quote, Trade
from streams.schema.base import SYMBOL_PATTERN
from streams.schema.market import Side

FORMATS = ("auto", "csv", "parquet", "lobster")
DEFAULT_MAX_BACKWARDS_MS = 300_000
SIDE_NAMES: dict[int, Side | None] = {1: "buy", -1: "sell", 0: None}
MODEL_BY_TOPIC = {topic: model.__name__ for model, topic in TOPIC_BY_MODEL.items()}


@dataclass(frozen=True, slots=True)
class FileOptions:
    """How to read market files; the same for every file of one command."""

    format: str = "auto"
    column_map: ColumnMap = field(default_factory=ColumnMap)
    ts_unit: str = "ns"
    tz: str | None = None  # None: UTC for ISO times, America/New_York for LOBSTER
    symbol: str | None = None
    day: date | None = None
    max_backwards_ms: int = DEFAULT_MAX_BACKWARDS_MS
    block_bytes: int = DEFAULT_BLOCK_BYTES

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {self.format!r}")
        if self.symbol is not None and not re.fullmatch(SYMBOL_PATTERN, self.symbol):
            raise ConfigError(f"invalid symbol {self.symbol!r}")
        if self.max_backwards_ms < 0:
            raise ConfigError(f"max_backwards_ms must be >= 0, got {self.max_backwards_ms}")
        TimeFormat(self.ts_unit, self.tz or "UTC")  # checks unit and zone


@dataclass(frozen=True, slots=True)
class MarketInput:
    """One input (a file, or a LOBSTER pair): its files, its topics, its steps.

    `steps` yields lists of chunks, one per topic, each sorted by time and none earlier than
    the chunks before; reading starts when it is first iterated.
    """

    paths: list[Path]
    topics: list[str]
    steps: Iterator[Step]


@dataclass(frozen=True, eq=False)
class MarketFile(MarketChunk):
    """All valid rows of one topic of one input, read at once, and the input's bad rows."""

    path: Path = Path()
    rejected: list[BadRow] = field(default_factory=list)


def market_runs(
    paths: Sequence[Path],
    options: FileOptions,
    bad_rows: BadRows,
    progress: Progress | None = None,
    topics: Collection[str] | None = None,
) -> Iterator[MarketChunk]:
    """The rows of all files as runs of one topic, in one order: time, file, line.

    `topics` keeps only those topics (a LOBSTER book is not even read without market.depth).
    """
    inputs = open_inputs(paths, options, bad_rows, progress, topics)
    for merged in merge_inputs([i.steps for i in inputs]):
        yield from merged.runs()


def market_events(
    paths: Sequence[Path],
    options: FileOptions,
    bad_rows: BadRows,
    progress: Progress | None = None,
) -> Iterator[MarketEvent]:
    """The rows of all files as wire models, in the order of `market_runs`."""
    inputs = open_inputs(paths, options, bad_rows, progress)
    for merged in merge_inputs([i.steps for i in inputs]):
        if merged.order is None:
            for piece in merged.pieces:
                yield from iter_events(piece)
        else:  # topics interleave row by row (LOBSTER): no chunk per row
            events = [iter_events(piece) for piece in merged.pieces]
            for k in merged.order.tolist():
                yield next(events[k])


def open_inputs(
    paths: Sequence[Path],
    options: FileOptions,
    bad_rows: BadRows,
    progress: Progress | None = None,
    topics: Collection[str] | None = None,
) -> list[MarketInput]:
    """The inputs in the order given; their headers are checked now, their rows read later.

    With `topics`, only those topics are kept, and an input left with none is not read.
    """
    plan = lob.plan([Path(p) for p in paths], fmt=options.format, symbol=options.symbol,
                    day=options.day)
    inputs = []
    for item in plan:
        if isinstance(item, lob.LobsterPair):
            if topics is not None and DEPTH not in topics:
                item = lob.LobsterPair(item.message, None, item.symbol, item.day, item.levels)
            inputs.append(_lobster_input(item, options, bad_rows, progress))
        else:
            inputs.append(_table_input(item, options, bad_rows, progress))
    if topics is not None:
        inputs = [MarketInput(i.paths, [t for t in i.topics if t in topics],
                              _only(i.steps, topics)) for i in inputs]
    return [i for i in inputs if i.topics]


def _only(steps: Iterator[Step], topics: Collection[str]) -> Iterator[Step]:
    for step in steps:
        yield [piece for piece in step if piece.topic in topics]


def _lobster_input(pair: lob.LobsterPair, options: FileOptions, bad_rows: BadRows,
                   progress: Progress | None) -> MarketInput:
    paths = [p for p in (pair.message, pair.book) if p is not None]
    for path in paths:
        _check_file(path)
        if progress is not None:
            progress.add_total(path.stat().st_size)
    steps = lob.steps(pair, tz=options.tz or lob.DEFAULT_TZ,
                      max_backwards_ms=options.max_backwards_ms, bad_rows=bad_rows,
                      block_bytes=options.block_bytes, progress=progress)
    return MarketInput(paths, [TRADES, DEPTH] if pair.book else [TRADES], steps)


def _table_input(path: Path, options: FileOptions, bad_rows: BadRows,
                 progress: Progress | None) -> MarketInput:
    """A CSV or Parquet file of our columns (or mapped onto them)."""
    _check_file(path)
    is_parquet = _is_parquet(path, options.format)
    cells_of = _Cells(options, str(path))
    names = _header(path, is_parquet)
    header = cells_of(dict.fromkeys(names, pa.array([], pa.string())))
    topic = kind_of(str(path), header)
    if progress is not None:
        progress.add_total(path.stat().st_size)
    counter = progress.count_bytes if progress is not None else None
    chunks = (parquet_chunks(path, counter=counter) if is_parquet
              else csv_chunks(path, block_bytes=options.block_bytes, counter=counter))
    steps = _table_steps(path, topic, chunks, cells_of, options, bad_rows, progress)
    if topic == BARS:
        steps = one_minute_bars(path, steps, has_start="start_ns" in header)
    return MarketInput([path], [topic], steps)


def _table_steps(path: Path, topic: str, chunks: Iterator[CellChunk], cells_of: _Cells,
                 options: FileOptions, bad_rows: BadRows, progress: Progress | None
                 ) -> Iterator[Step]:
    times = TimeFormat(options.ts_unit, options.tz or "UTC")
    order = TimeOrder(options.max_backwards_ms)
    for chunk in chunks:
        bad = Rejects(len(chunk))
        columns, texts = parse(topic, cells_of(chunk.cells, len(chunk)), times, bad)
        order.check(columns["ts_event"], chunk.lines, bad)
        found = chunk.malformed + bad.rows(path, chunk.lines, chunk.raw)
        bad_rows.add(found)
        if progress is not None:
            progress.advance(rows=len(chunk), bad=len(found))
        keep = np.flatnonzero(~bad.mask)
        piece = MarketChunk(topic, columns, texts, chunk.lines)
        yield order.push([piece if keep.size == len(piece) else piece.take(keep)])
    yield order.flush()


class _Cells:
    """A chunk's cells under our names: the column map applied, --symbol filled in."""

    def __init__(self, options: FileOptions, where: str) -> None:
        self._map, self._symbol, self._where = options.column_map, options.symbol, where

    def __call__(self, cells: dict[str, pa.Array], n: int = 0) -> dict[str, pa.Array]:
        out = self._map.apply(cells, self._where) if self._map.targets else dict(cells)
        if self._symbol is not None and "symbol" not in out:
            out["symbol"] = pa.array([self._symbol] * n, pa.string())
        return out


def _check_file(path: Path | None) -> None:
    if path is not None and not path.is_file():
        raise InputFileError(f"{path}: no such file")


def _is_parquet(path: Path, fmt: str) -> bool:
    name = path.name.lower()
    if fmt == "parquet" or (fmt == "auto" and name.endswith(".parquet")):
        return True
    if fmt == "csv" or name.endswith((".csv", ".csv.gz")):
        return False
    raise InputFileError(f"{path}: unknown file type (expected .csv, .csv.gz or .parquet; "
                         "--format csv|parquet reads other names)")


def _header(path: Path, is_parquet: bool) -> list[str]:
    if is_parquet:
        try:
            names = pq.ParquetFile(path).schema_arrow.names
        except (OSError, pa.ArrowException) as exc:
            raise InputFileError(f"{path}: cannot read as Parquet: {exc}") from exc
    else:
        names = first_fields(path)
    if not names:
        raise InputFileError(f"{path}: empty file (expected a header line)")
    return [n.strip().lower() for n in names]


# ---- reading whole (small) files -----------------------------------------------------------


def read_market_files(paths: Sequence[Path | str], options: FileOptions = FileOptions()
                      ) -> list[MarketFile]:
    """Every input read whole: one MarketFile per input and topic (LOBSTER: trades, depth).

    For tests and small files; big ones go through `market_runs`, a chunk at a time.
    """
    bad_rows = BadRows(keep=None)
    files = []
    for market_input in open_inputs([Path(p) for p in paths], options, bad_rows):
        pieces: dict[str, list[MarketChunk]] = {t: [_empty(t)] for t in market_input.topics}
        for step in market_input.steps:
            for piece in step:
                pieces[piece.topic].append(piece)
        rejected = bad_rows.of(market_input.paths)
        for topic, parts in pieces.items():
            whole = MarketChunk.concat(parts)
            files.append(MarketFile(topic, whole.columns, whole.price_text, whole.lines,
                                    path=market_input.paths[0], rejected=rejected))
    return files


def read_market_file(path: Path | str, options: FileOptions = FileOptions()) -> MarketFile:
    """One file of one kind read whole (see `read_market_files`)."""
    (single,) = read_market_files([path], options)
    return single


def _empty(topic: str) -> MarketChunk:
    columns, _ = decode_columns(MODEL_BY_TOPIC[topic], [])
    text = levels_text([], DEPTH_LEVELS) if topic == DEPTH else pa.array([], pa.string())
    return MarketChunk(topic, columns, dict.fromkeys(PRICE_COLUMNS[topic], text),
                       np.empty(0, np.int64))


# ---- back to wire models --------------------------------------------------------------------


def iter_events(chunk: MarketChunk) -> Iterator[MarketEvent]:
    """The chunk's rows as wire models, prices exactly as the file wrote them."""
    c = chunk.columns
    head = zip(c["ts_event"].tolist(), c["ts_init"].tolist(), c["symbol"].tolist(), strict=True)
    if chunk.topic == TRADES:
        return _trades(head, chunk)
    if chunk.topic == BARS:
        return _bars(head, chunk)
    return _quotes(head, chunk) if chunk.topic == QUOTES else _books(head, chunk)


def _trades(head: Iterator[tuple[int, int, str]], chunk: MarketChunk) -> Iterator[Trade]:
    c = chunk.columns
    rest = zip(chunk.price_text["price"].to_pylist(), c["size"].tolist(), c["aggressor"].tolist(),
               strict=True)
    for (ts, ti, sym), (price, size, side) in zip(head, rest, strict=True):
        yield Trade(ts_event=ts, ts_init=ti, symbol=sym, price=Decimal(price), size=size,
                    aggressor=SIDE_NAMES[side])


def _quotes(head: Iterator[tuple[int, int, str]], chunk: MarketChunk) -> Iterator[Quote]:
    c, t = chunk.columns, chunk.price_text
    rest = zip(t["bid_price"].to_pylist(), c["bid_size"].tolist(), t["ask_price"].to_pylist(),
               c["ask_size"].tolist(), strict=True)
    for (ts, ti, sym), (bp, bs, ap, asz) in zip(head, rest, strict=True):
        yield Quote(ts_event=ts, ts_init=ti, symbol=sym, bid_price=Decimal(bp), bid_size=bs,
                    ask_price=Decimal(ap), ask_size=asz)


def _books(head: Iterator[tuple[int, int, str]], chunk: MarketChunk) -> Iterator[DepthSnapshot]:
    c, t = chunk.columns, chunk.price_text
    rest = zip(t["bid_price"].to_pylist(), c["bid_size"].tolist(), t["ask_price"].to_pylist(),
               c["ask_size"].tolist(), strict=True)
    for (ts, ti, sym), (bp, bs, ap, asz) in zip(head, rest, strict=True):
        bids = [Decimal(p) for p in bp if p is not None]  # levels are contiguous from 1
        asks = [Decimal(p) for p in ap if p is not None]
        yield DepthSnapshot(ts_event=ts, ts_init=ti, symbol=sym, bid_prices=bids,
                            bid_sizes=bs[:len(bids)], ask_prices=asks, ask_sizes=asz[:len(asks)])


def _bars(head: Iterator[tuple[int, int, str]], chunk: MarketChunk) -> Iterator[Bar]:
    """Bars as the file wrote them; trade_count and vwap unknown (None)."""
    c, t = chunk.columns, chunk.price_text
    rest = zip(c["bar_id"].tolist(), c["start_ns"].tolist(), t["open"].to_pylist(),
               t["high"].to_pylist(), t["low"].to_pylist(), t["close"].to_pylist(),
               c["volume"].tolist(), strict=True)
    for (ts, ti, sym), (bar_id, start, o, h, lo, cl, volume) in zip(head, rest, strict=True):
        yield Bar(ts_event=ts, ts_init=ti, symbol=sym, bar_id=bar_id, start_ns=start,
                  open=Decimal(o), high=Decimal(h), low=Decimal(lo), close=Decimal(cl),
                  volume=volume)
