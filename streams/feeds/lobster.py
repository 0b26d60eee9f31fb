"""LOBSTER files (lobsterdata.com): a message file and its order-book file, row for row.

Message columns: time (seconds after midnight, decimals down to ns), event type (1 new limit
order, 2 partial cancel, 3 full delete, 4 execution of a visible order, 5 execution of a
hidden order, 6 cross trade, 7 trading halt), order id, size, price (in 1/10000 dollars),
direction (1 buy limit order, -1 sell limit order). Order-book columns, one row per message
row (the book after it): ask price 1, ask size 1, bid price 1, bid size 1, ask price 2, ...
for LEVEL levels; an empty level is price 9999999999 (ask) or -9999999999 (bid), size 0.

What comes out:

- a Trade per execution (types 4 and 5): price / 10000, size, and the aggressor opposite the
  resting order (direction 1, a buy order executed: a seller hit it, aggressor "sell").
  Cross trades (6) carry no side and are not turned into trades; 1-3 and 7 are book events.
- a DepthSnapshot per order-book row that changes the book (its first 10 levels; empty
  levels dropped), at its message's time; rows that leave those levels as they were (hidden
  executions, changes deeper than level 10, halts) give none.

Times: midnight of the trading day in the exchange's zone (America/New_York unless told)
plus the seconds, as int ns UTC. Files named `TICKER_DATE_START_END_message_LEVEL.csv` (and
`..._orderbook_LEVEL.csv`) carry symbol, day and levels; renamed files need them given.

A bad message row (unparseable, unknown type, an execution with a bad size, price or
direction, time going backwards) skips its line: no trade, no snapshot. A bad book row
(unparseable, a gap, levels out of order, a crossed book) skips only its snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from streams.codec import price_scales
from streams.exceptions import InputFileError
from streams.feeds.badrows import BadRow, BadRows
from streams.feeds.cells import (
    Rejects,
    check_crossed,
    check_levels,
    ints,
    levels_text,
    text,
)
from streams.feeds.chunks import MarketChunk, Step, TimeOrder
from streams.feeds.columns import DEPTH, TRADES, in_layout
from streams.feeds.mapping import epoch_ns, zone
from streams.feeds.progress import Progress
from streams.feeds.tables import ByteCounter, CellChunk, csv_chunks, first_fields
from streams.schema import DEPTH_LEVELS
from streams.schema.base import SYMBOL_PATTERN

DEFAULT_TZ = "America/New_York"
NAME = re.compile(
    r"^(?P<ticker>.+?)_(?P<day>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_"
    r"(?P<kind>message|orderbook)_(?P<levels>\d+)(?P<ext>\.csv(\.gz)?)$", re.IGNORECASE,
)
MESSAGE_COLUMNS = ("time", "type", "order_id", "size", "price", "direction")
EMPTY_ASK, EMPTY_BID = 9_999_999_999, -9_999_999_999
PRICE_SCALE = 10_000
NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class LobsterPair:
    """A message file, its order-book file (None: trades only), and what the names say."""

    message: Path
    book: Path | None
    symbol: str
    day: date
    levels: int | None  # from the names; None: from the book's width


def plan(paths: Sequence[Path], *, fmt: str, symbol: str | None, day: date | None
         ) -> list[Path | LobsterPair]:
    """The inputs in the order given: LOBSTER files paired, other files as they are.

    With format `auto` or `lobster`, files with standard names pair by name (a partner next
    to a given file is found on its own). With `lobster`, renamed files are told apart by
    their width (6 fields: messages; 4 per level: books) and paired in the order given.
    """
    items: list[Path | LobsterPair] = []
    taken: set[Path] = set()
    renamed: dict[str, list[Path]] = {"message": [], "orderbook": []}
    for path in paths:
        match = NAME.match(path.name) if fmt in ("auto", "lobster") else None
        if path in taken:
            continue
        if match:
            pair = _named(path, match, symbol, day)
            taken.update(p for p in (pair.message, pair.book) if p is not None)
            items.append(pair)
        elif fmt == "lobster":
            renamed[_kind_by_width(path)].append(path)
            items.append(path)
        else:
            items.append(path)
    return _pair_renamed(items, renamed, symbol, day)


def _named(path: Path, match: re.Match, symbol: str | None, day: date | None) -> LobsterPair:
    def partner(kind: str) -> Path:
        g = match.groupdict()
        return path.with_name(
            f"{g['ticker']}_{g['day']}_{g['start']}_{g['end']}_{kind}_{g['levels']}{g['ext']}")

    if match["kind"].lower() == "message":
        book = partner("orderbook")
        message, book_or_none = path, book if book.is_file() else None
    else:
        message, book_or_none = partner("message"), path
        if not message.is_file():
            raise InputFileError(f"{path}: a LOBSTER order book needs its message file "
                                 f"{message.name} (the times are there)")
    ticker = symbol or match["ticker"]
    if not re.fullmatch(SYMBOL_PATTERN, ticker):
        raise InputFileError(f"{path}: {ticker!r} is not a valid symbol: give --symbol")
    try:
        trading_day = day or date.fromisoformat(match["day"])
    except ValueError:
        raise InputFileError(f"{path}: {match['day']} is not a date: give --date") from None
    return LobsterPair(message, book_or_none, ticker, trading_day, int(match["levels"]))


def _kind_by_width(path: Path) -> str:
    width = len(first_fields(path))
    if width == len(MESSAGE_COLUMNS):
        return "message"
    if width and width % 4 == 0:
        return "orderbook"
    raise InputFileError(f"{path}: not a LOBSTER file: {width} fields (a message file has 6, "
                         "an order book 4 per level)")


def _pair_renamed(items: list[Path | LobsterPair], renamed: dict[str, list[Path]],
                  symbol: str | None, day: date | None) -> list[Path | LobsterPair]:
    messages, books = renamed["message"], renamed["orderbook"]
    if not messages and not books:
        return items
    if symbol is None or day is None:
        raise InputFileError(f"{(messages or books)[0]}: not named TICKER_DATE_START_END_"
                             "message_LEVEL.csv: give --symbol and --date")
    if len(books) > len(messages):
        raise InputFileError(f"{books[len(messages)]}: a LOBSTER order book without a "
                             "message file (give each message file, then its book)")
    pairs = {m: LobsterPair(m, b, symbol, day, None)
             for m, b in zip(messages, books + [None] * len(messages), strict=False)}
    return [pairs.get(item, item) if isinstance(item, Path) else item
            for item in items if item not in books]


def midnight_ns(day: date, tz: str) -> int:
    """Midnight of `day` in zone `tz`, as ns since the epoch."""
    return int(pd.Timestamp(day).tz_localize(zone(tz)).value)


def book_levels(book: Path, named: int | None) -> int:
    """Levels in an order-book file, checked against the LEVEL of its name (if named)."""
    width = len(first_fields(book))
    if not width or width % 4 or (named is not None and width != 4 * named):
        expected = f"4 x {named}" if named is not None else "4 per level"
        raise InputFileError(f"{book}: {width} fields, expected {expected}")
    return width // 4


def book_columns(levels: int) -> list[str]:
    return [f"{side}_{what}_{k}" for k in range(1, levels + 1)
            for side in ("ask", "bid") for what in ("price", "size")]


def aligned(pair: LobsterPair, *, block_bytes: int, counter: ByteCounter | None = None
            ) -> Iterator[tuple[CellChunk, CellChunk | None]]:
    """Message rows with the book rows of the same lines (book None without a book file).

    Both files are read a block at a time; rows go out once both files have reached their
    line. A book that ends before its message file (or after it) is an InputFileError.
    """
    width = len(first_fields(pair.message))
    if width != len(MESSAGE_COLUMNS):
        raise InputFileError(f"{pair.message}: {width} fields, a LOBSTER message file has 6")
    messages = csv_chunks(pair.message, names=MESSAGE_COLUMNS, block_bytes=block_bytes,
                          counter=counter)
    if pair.book is None:
        for chunk in messages:
            yield chunk, None
        return
    books = csv_chunks(pair.book, names=book_columns(book_levels(pair.book, pair.levels)),
                       block_bytes=block_bytes, counter=counter)
    yield from _lockstep(pair, messages, books)


def _lockstep(pair: LobsterPair, messages: Iterator[CellChunk], books: Iterator[CellChunk]
              ) -> Iterator[tuple[CellChunk, CellChunk | None]]:
    """Rows of both files up to the line both have reached; one side running out early, or
    going on after the other ended, means the files do not belong together."""
    held_m, held_b = _Held(messages), _Held(books)
    while True:
        more_m, more_b = held_m.fill(), held_b.fill()
        if not more_m and not more_b:
            return
        if not more_m or not more_b:
            short = pair.message if not more_m else pair.book
            raise InputFileError(
                f"{short}: ends at line {min(held_m.reach, held_b.reach)} but its partner goes "
                f"on to line {max(held_m.reach, held_b.reach)}: message and book do not match")
        upto = min(held_m.reach, held_b.reach)
        yield held_m.take(upto), held_b.take(upto)


class _Held:
    """Rows read from one file but not yet given out; `reach`: the last line read."""

    def __init__(self, chunks: Iterator[CellChunk]) -> None:
        self._chunks = chunks
        self._held = CellChunk({}, np.empty(0, np.int64), [])
        self.reach = 0

    def fill(self) -> bool:
        """Read on when all is given out; False once the file is done."""
        if len(self._held) or self._held.malformed:
            return True
        chunk = next(self._chunks, None)
        if chunk is None:
            return False
        self._held = chunk
        ends = [int(chunk.lines[-1])] if len(chunk) else []
        self.reach = max([self.reach, *ends, *(r.line for r in chunk.malformed)])
        return True

    def take(self, upto: int) -> CellChunk:
        """Rows up to line `upto` (and the malformed lines reported with them)."""
        held = self._held
        cut = int(np.searchsorted(held.lines, upto, side="right"))
        self._held = CellChunk({k: v.slice(cut) for k, v in held.cells.items()},
                               held.lines[cut:], [])
        return CellChunk({k: v.slice(0, cut) for k, v in held.cells.items()},
                         held.lines[:cut], held.malformed)


def steps(pair: LobsterPair, *, tz: str, max_backwards_ms: int, bad_rows: BadRows,
          block_bytes: int, progress: Progress | None = None) -> Iterator[Step]:
    """A LOBSTER pair as time-ordered steps of trades and depth snapshots."""
    order = TimeOrder(max_backwards_ms)
    convert = _Converter(pair, tz, order)
    counter = progress.count_bytes if progress is not None else None
    for messages, book in aligned(pair, block_bytes=block_bytes, counter=counter):
        pieces, bad = convert(messages, book)
        bad_rows.add(bad)
        if progress is not None:
            progress.advance(rows=len(messages), bad=len(bad))
        yield order.push(pieces)
    yield order.flush()


class _Converter:
    """Message rows (and their book rows) to trades and changed books; keeps the last book."""

    def __init__(self, pair: LobsterPair, tz: str, order: TimeOrder) -> None:
        self._pair = pair
        self._midnight_ns = midnight_ns(pair.day, tz)
        self._order = order
        self._last_book: np.ndarray | None = None

    def __call__(self, messages: CellChunk, book: CellChunk | None
                 ) -> tuple[list[MarketChunk], list[BadRow]]:
        bad = Rejects(len(messages))
        ts, kinds = self._times_and_types(messages, bad)
        trades = self._trades(messages, ts, kinds, bad)
        found = messages.malformed + bad.rows(self._pair.message, messages.lines, messages.raw)
        pieces = [trades]
        if book is not None:
            kept = np.flatnonzero(~bad.mask)
            depth, book_bad = self._depth(book, messages.lines[kept], ts[kept])
            pieces.append(depth)
            found += book.malformed + book_bad
        return pieces, found

    def _times_and_types(self, messages: CellChunk, bad: Rejects) -> tuple[np.ndarray, np.ndarray]:
        seconds = text(messages.cells["time"])
        offset_ns, numeric = epoch_ns(seconds, "s")
        shown = seconds.to_pylist() if not numeric.all() else []
        bad.flag(~numeric, lambda i: f"time is not seconds after midnight: {shown[i]!r}")
        ts = np.where(numeric, offset_ns, 0) + self._midnight_ns
        kinds = ints(messages.cells["type"], "type", bad, 1)
        bad.flag((kinds > 7) & ~bad.mask, lambda i: f"type must be 1-7, got {kinds[i]}")
        self._order.check(ts, messages.lines, bad)
        return ts, kinds

    def _trades(self, messages: CellChunk, ts: np.ndarray, kinds: np.ndarray, bad: Rejects
                ) -> MarketChunk:
        """Executions (types 4, 5): size, price / 10000, aggressor against the resting order."""
        rows = np.flatnonzero(((kinds == 4) | (kinds == 5)) & ~bad.mask)
        cells = {k: messages.cells[k].take(pa.array(rows, pa.int64()))
                 for k in ("size", "price", "direction")}
        part = Rejects(rows.size)
        size = ints(cells["size"], "size", part, 1)
        price = ints(cells["price"], "price", part, 1)
        direction = ints(cells["direction"], "direction", part, -1)
        part.flag(~np.isin(direction, (1, -1)) & ~part.mask,
                  lambda i: f"direction must be 1 or -1, got {direction[i]}")
        bad.absorb(part, rows)
        ok = ~part.mask
        rows, price = rows[ok], price[ok] / PRICE_SCALE
        text = _price_text(price)
        columns = in_layout(TRADES, {
            "ts_event": ts[rows], "ts_init": ts[rows], "symbol": self._symbols(rows.size),
            "price": price, "price_scale": price_scales(text), "size": size[ok],
            "aggressor": -direction[ok],
        })
        return MarketChunk(TRADES, columns, {"price": text}, messages.lines[rows])

    def _symbols(self, n: int) -> np.ndarray:
        return np.full(n, self._pair.symbol, dtype=object)

    def _depth(self, book: CellChunk, lines: np.ndarray, ts: np.ndarray
               ) -> tuple[MarketChunk, list[BadRow]]:
        """Book rows of the kept message lines, checked, and only those that change the book."""
        pos = np.minimum(np.searchsorted(book.lines, lines), max(len(book) - 1, 0))
        matched = np.flatnonzero(book.lines[pos] == lines) if len(book) else pos[:0]
        rows = pa.array(pos[matched], pa.int64())
        sub = CellChunk({k: v.take(rows) for k, v in book.cells.items()}, lines[matched], [])
        bad = Rejects(len(sub))
        levels = min(len(sub.cells) // 4, DEPTH_LEVELS)
        sides = {side: _book_side(sub, side, levels, bad) for side in ("bid", "ask")}
        (bid, bid_size, bid_text), (ask, ask_size, ask_text) = sides["bid"], sides["ask"]
        check_crossed(bid, ask, bid_text[0], ask_text[0], bad)
        found = bad.rows(self._pair.book or self._pair.message, sub.lines, sub.raw)
        state = np.hstack([np.nan_to_num(bid, nan=-1.0), bid_size,
                           np.nan_to_num(ask, nan=-1.0), ask_size])
        keep = np.flatnonzero(~bad.mask)
        changed = self._changed(state[keep])
        emit = keep[changed]
        when = ts[matched][emit]
        columns = in_layout(DEPTH, {
            "ts_event": when, "ts_init": when.copy(), "symbol": self._symbols(emit.size),
            "bid_price": bid[emit], "bid_size": bid_size[emit],
            "ask_price": ask[emit], "ask_size": ask_size[emit],
        })
        texts = {"bid_price": levels_text(bid_text, DEPTH_LEVELS).take(emit),
                 "ask_price": levels_text(ask_text, DEPTH_LEVELS).take(emit)}
        return MarketChunk(DEPTH, columns, texts, sub.lines[emit]), found

    def _changed(self, state: np.ndarray) -> np.ndarray:
        """Rows that differ from the row before (the first from the last book of before)."""
        if not len(state):
            return np.zeros(0, dtype=bool)
        previous = self._last_book if self._last_book is not None else np.full_like(state[0], -2)
        before = np.vstack([previous[None, :], state[:-1]])
        self._last_book = state[-1]
        return (state != before).any(axis=1)


def _book_side(book: CellChunk, side: str, levels: int, bad: Rejects
               ) -> tuple[np.ndarray, np.ndarray, list[pa.Array]]:
    """(n, 10) prices (NaN where empty), sizes (0 where empty) and level texts of a side."""
    n, empty = len(book), EMPTY_BID if side == "bid" else EMPTY_ASK
    prices = np.full((n, DEPTH_LEVELS), np.nan)
    sizes = np.zeros((n, DEPTH_LEVELS), dtype=np.int64)
    for k in range(levels):
        p, s = f"{side}_price_{k + 1}", f"{side}_size_{k + 1}"
        ticks = ints(book.cells[p], p, bad, EMPTY_BID)
        sizes[:, k] = ints(book.cells[s], s, bad, 0)
        absent = ticks == empty
        bad.flag((ticks < 1) & ~absent & ~bad.mask,
                 lambda i, p=p, t=ticks: f"{p} must be positive or {empty} (empty), got {t[i]}")
        prices[:, k] = np.where(absent, np.nan, ticks / PRICE_SCALE)
        sizes[absent, k] = 0
    check_levels(prices, side, bad)
    return prices, sizes, [_price_text(prices[:, k]) for k in range(levels)]


def _price_text(prices: np.ndarray) -> pa.Array:
    """Exact decimal texts of prices in whole ticks of 1/10000 (585.94, not 585.9400); NaN
    gives null. Arrow writes a double's shortest round-trip form, which for a tick count
    under 15 digits is exactly ticks / 10000."""
    return pc.cast(pa.array(prices, pa.float64(), from_pandas=True), pa.string())
