"""Market files (CSV, gzipped CSV, Parquet) read into columns for replay and `feed file`.

The kind of data is told by the columns: `price`/`size` are trades, `bid_price`/`ask_price`
are quotes, `bid_price_1`... are depth. Columns come out with the names and dtypes
`streams.codec.decode_columns` gives the same model, so engines cannot tell a file from a
topic. Prices also keep their exact decimal text (`price_text`), so publishing a file puts
the very digits of the file on the wire, never a float's rounding of them.

Bad rows are not dropped silently: each comes back in `rejected` as (line, reason), line as a
spreadsheet numbers it (the header is line 1, the first data row line 2; for CSV, the physical
line). Rows come out sorted by `ts_event`, stably, so equal timestamps keep the file's order.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import gzip
import heapq
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from streams.exceptions import InputFileError
from streams.feeds import MarketEvent
from streams.schema import DEPTH_LEVELS, DepthSnapshot, Quote, Trade
from streams.schema.market import Side

if TYPE_CHECKING:
    from _csv import Reader

log = logging.getLogger(__name__)

TRADES, QUOTES, DEPTH = "market.trades", "market.quotes", "market.depth"
REQUIRED: dict[str, tuple[str, ...]] = {
    TRADES: ("ts_event", "symbol", "price", "size"),
    QUOTES: ("ts_event", "symbol", "bid_price", "bid_size", "ask_price", "ask_size"),
    DEPTH: ("ts_event", "symbol", "bid_price_1", "bid_size_1", "ask_price_1", "ask_size_1"),
}
SIDE_COLUMNS = ("aggressor", "side")
# Aggressor spellings: buy/sell, B/S, 1/-1; Databento's A (ask side: a seller hit the bid).
SIDE_CODES = {"buy": 1, "b": 1, "1": 1, "sell": -1, "s": -1, "a": -1, "-1": -1,
              "": 0, "0": 0, "n": 0, "none": 0, "unknown": 0}
SIDE_NAMES: dict[int, Side | None] = {1: "buy", -1: "sell", 0: None}
_LEVEL = re.compile(r"^(bid|ask)_(price|size)_(\d+)$")
_SYMBOL = re.compile(r"^[A-Za-z0-9._:/^-]{1,64}$")


@dataclass(frozen=True, eq=False)
class MarketFile:
    """One file's valid rows as columns, sorted by ts_event, plus the rows it rejected.

    `price_text` maps each price column to its exact decimal strings (object arrays of the
    same shape; None where a depth level is absent). `lines` is each kept row's line number.
    """

    path: Path
    topic: str
    columns: dict[str, np.ndarray]
    price_text: dict[str, np.ndarray]
    lines: np.ndarray
    rejected: list[tuple[int, str]]

    def __len__(self) -> int:
        return int(self.lines.size)


@dataclass(slots=True)
class _Raw:
    """A file's cells as text, per lower-cased column name, with each row's line number."""

    columns: dict[str, np.ndarray]
    lines: np.ndarray
    rejected: list[tuple[int, str]]


def read_market_file(path: Path | str) -> MarketFile:
    """Read a .csv, .csv.gz or .parquet market file; raises InputFileError if unusable."""
    path = Path(path)
    name = path.name.lower()
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    if name.endswith((".csv", ".csv.gz")):
        raw = _read_csv(path)
    elif name.endswith(".parquet"):
        raw = _read_parquet(path)
    else:
        raise InputFileError(f"{path}: unknown file type (expected .csv, .csv.gz or .parquet)")
    topic = _kind(path, raw.columns.keys())
    bad = _Rejects(raw.lines)
    columns, texts = _PARSERS[topic](path, raw.columns, bad)
    keep = np.flatnonzero(~bad.mask)
    order = keep[np.argsort(columns["ts_event"][keep], kind="stable")]
    rejected = sorted(raw.rejected + bad.items())
    log.info("read market file path=%s topic=%s rows=%d rejected=%d",
             path, topic, order.size, len(rejected))
    return MarketFile(
        path=path,
        topic=topic,
        columns={k: v[order] for k, v in columns.items()},
        price_text={k: v[order] for k, v in texts.items()},
        lines=raw.lines[order],
        rejected=rejected,
    )


# ---- reading cells -------------------------------------------------------------------------


def _read_csv(path: Path) -> _Raw:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", newline="", encoding="utf-8-sig") as fh, _gc_paused():
            header, rows, lines, rejected = _csv_rows(path, csv.reader(fh))
            cells = list(zip(*rows, strict=True)) if rows else [() for _ in header]
            columns = {name: _object_array(col) for name, col in zip(header, cells, strict=True)}
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputFileError(f"{path}: cannot read as CSV: {exc}") from exc
    return _Raw(columns, np.array(lines, dtype=np.int64), rejected)


def _csv_rows(
    path: Path, reader: Reader
) -> tuple[list[str], list[list[str]], list[int], list[tuple[int, str]]]:
    """Header, rows of the right width, their line numbers, and rows of the wrong width."""
    header = [h.strip().lower() for h in next(reader, [])]
    if not header:
        raise InputFileError(f"{path}: empty file (expected a header line)")
    _check_unique(path, header)
    width = len(header)
    rows: list[list[str]] = []
    lines: list[int] = []
    rejected: list[tuple[int, str]] = []
    for row in reader:
        if len(row) != width:
            if row and (len(row) > 1 or row[0].strip()):  # blank lines are skipped
                rejected.append((reader.line_num, f"expected {width} fields, got {len(row)}"))
            continue
        rows.append(row)
        lines.append(reader.line_num)
    return header, rows, lines, rejected


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Millions of small lists would trigger collection after collection, finding nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_parquet(path: Path) -> _Raw:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputFileError(f"{path}: cannot read as Parquet: {exc}") from exc
    header = [n.strip().lower() for n in table.column_names]
    _check_unique(path, header)
    columns = {name: _arrow_text(table.column(i)) for i, name in enumerate(header)}
    return _Raw(columns, np.arange(2, table.num_rows + 2, dtype=np.int64), [])


def _arrow_text(column: pa.ChunkedArray) -> np.ndarray:
    """A Parquet column as text cells ("" for null), so one parser serves both formats."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        column = column.cast(pa.timestamp("ns", tz=kind.tz)).cast(pa.int64())
    if pa.types.is_floating(column.type):
        values = column.to_pylist()
        return _object_array(
            "" if v is None else np.format_float_positional(v, trim="-") for v in values
        )
    return _object_array("" if v is None else str(v) for v in column.to_pylist())


def _object_array(values: Iterable[str | None]) -> np.ndarray:
    cells = list(values)
    out = np.empty(len(cells), dtype=object)
    out[:] = cells
    return out


def _check_unique(path: Path, header: list[str]) -> None:
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise InputFileError(f"{path}: column(s) named twice: {', '.join(repeated)}")


def _kind(path: Path, names: Iterable[str]) -> str:
    """Which topic the columns belong to; InputFileError naming what is missing."""
    present = set(names)
    if any(_LEVEL.match(n) for n in present):
        topic = DEPTH
    elif present & {"bid_price", "ask_price", "bid_size", "ask_size"}:
        topic = QUOTES
    elif present & {"price", "size"}:
        topic = TRADES
    else:
        needs = "; ".join(f"{t} needs {', '.join(cols)}" for t, cols in REQUIRED.items())
        raise InputFileError(
            f"{path}: cannot tell trades, quotes or depth from columns "
            f"{', '.join(sorted(present)) or '(none)'} ({needs})"
        )
    missing = [c for c in REQUIRED[topic] if c not in present]
    if missing:
        raise InputFileError(
            f"{path}: {topic} file is missing required column(s): {', '.join(missing)}"
        )
    return topic


# ---- parsing cells, row by row where needed -------------------------------------------------


class _Rejects:
    """The first reason each row is bad, by row index; `mask` marks bad rows."""

    def __init__(self, lines: np.ndarray) -> None:
        self._lines = lines
        self.mask = np.zeros(lines.size, dtype=bool)
        self._reasons: dict[int, str] = {}

    def flag(self, rows: np.ndarray, reason: str | Sequence[str]) -> None:
        for j, i in enumerate(rows.tolist()):
            if i not in self._reasons:
                self._reasons[i] = reason if isinstance(reason, str) else reason[j]
        self.mask[rows] = True

    def items(self) -> list[tuple[int, str]]:
        return [(int(self._lines[i]), why) for i, why in self._reasons.items()]


def _convert(texts: np.ndarray, kind: type) -> tuple[np.ndarray, np.ndarray]:
    """Cells to int64 or float64, vectorised when all parse; returns (values, failed rows)."""
    dtype, blank = (np.int64, 0) if kind is int else (np.float64, np.nan)
    try:
        return texts.astype(dtype), np.empty(0, dtype=np.int64)
    except (ValueError, TypeError, OverflowError):
        pass
    values = np.full(texts.size, blank, dtype=dtype)
    failed = []
    for i, cell in enumerate(texts.tolist()):
        try:
            values[i] = kind(cell)
        except (ValueError, TypeError, OverflowError):
            failed.append(i)
    return values, np.array(failed, dtype=np.int64)


def _ints(cols: dict, name: str, bad: _Rejects, minimum: int) -> np.ndarray:
    texts = cols[name]
    values, failed = _convert(texts, int)
    bad.flag(failed, [
        f"{name} is missing" if not texts[i].strip() else f"{name} is not an integer: {texts[i]!r}"
        for i in failed
    ])
    low = np.flatnonzero(values < minimum)
    low = low[~np.isin(low, failed)]
    bad.flag(low, [f"{name} must be >= {minimum}, got {texts[i].strip()}" for i in low])
    return values


def _prices(
    cols: dict, name: str, bad: _Rejects, optional: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Positive finite prices and their stripped text; with `optional`, blank cells are NaN."""
    texts = _object_array(t.strip() for t in cols[name].tolist())
    blank = texts == ""
    values, failed = _convert(np.where(blank, "nan", texts) if optional else texts, float)
    bad.flag(failed, [
        f"{name} is missing" if texts[i] == "" else f"{name} is not a number: {texts[i]!r}"
        for i in failed
    ])
    nonpositive = ~(values > 0) | ~np.isfinite(values)
    if optional:
        nonpositive &= ~blank
    wrong = np.setdiff1d(np.flatnonzero(nonpositive), failed)
    bad.flag(wrong, [f"{name} must be a positive finite price, got {texts[i]!r}" for i in wrong])
    texts[blank] = None
    return values, texts


def _common(cols: dict, bad: _Rejects) -> dict[str, np.ndarray]:
    """ts_event, ts_init (default ts_event) and symbol: the columns every kind has."""
    symbols = _object_array(s.strip() for s in cols["symbol"].tolist())
    ts_event = _ints(cols, "ts_event", bad, 0)
    if "ts_init" in cols:
        blank = np.array([not t.strip() for t in cols["ts_init"].tolist()], dtype=bool)
        filled = {"ts_init": np.where(blank, cols["ts_event"], cols["ts_init"])}
        ts_init = _ints(filled, "ts_init", bad, 0)
    else:
        ts_init = ts_event.copy()
    missing = np.flatnonzero(symbols == "")
    bad.flag(missing, "missing symbol")
    odd = [i for i, s in enumerate(symbols.tolist()) if s and not _SYMBOL.match(s)]
    bad.flag(np.array(odd, dtype=np.int64), [f"invalid symbol {symbols[i]!r}" for i in odd])
    return {"ts_event": ts_event, "ts_init": ts_init, "symbol": symbols}


def _parse_trades(path: Path, cols: dict, bad: _Rejects) -> tuple[dict, dict]:
    out = _common(cols, bad)
    out["price"], text = _prices(cols, "price", bad)
    out["size"] = _ints(cols, "size", bad, 1)
    side_col = next((c for c in SIDE_COLUMNS if c in cols), None)
    sides = np.zeros(len(bad.mask), dtype=np.int8)
    if side_col is not None:
        for i, cell in enumerate(cols[side_col].tolist()):
            code = SIDE_CODES.get(cell.strip().lower())
            if code is None:
                bad.flag(np.array([i]), f"{side_col} must be buy/sell/B/S or blank, got {cell!r}")
            else:
                sides[i] = code
    out["aggressor"] = sides
    return out, {"price": text}


def _parse_quotes(path: Path, cols: dict, bad: _Rejects) -> tuple[dict, dict]:
    out = _common(cols, bad)
    out["bid_price"], bid_text = _prices(cols, "bid_price", bad)
    out["bid_size"] = _ints(cols, "bid_size", bad, 0)
    out["ask_price"], ask_text = _prices(cols, "ask_price", bad)
    out["ask_size"] = _ints(cols, "ask_size", bad, 0)
    crossed = np.flatnonzero(out["bid_price"] > out["ask_price"])
    bad.flag(crossed, [f"crossed quote: bid {bid_text[i]} > ask {ask_text[i]}" for i in crossed])
    return out, {"bid_price": bid_text, "ask_price": ask_text}


def _parse_depth(path: Path, cols: dict, bad: _Rejects) -> tuple[dict, dict]:
    out = _common(cols, bad)
    texts = {}
    for side in ("bid", "ask"):
        prices, sizes, text = _depth_side(path, cols, side, bad)
        out[f"{side}_price"], out[f"{side}_size"], texts[f"{side}_price"] = prices, sizes, text
    best_bid, best_ask = out["bid_price"][:, 0], out["ask_price"][:, 0]
    crossed = np.flatnonzero(best_bid >= best_ask)  # NaN (empty side) compares False
    bad.flag(crossed, [
        f"crossed book: best bid {texts['bid_price'][i, 0]} >= best ask {texts['ask_price'][i, 0]}"
        for i in crossed
    ])
    return out, texts


def _depth_side(
    path: Path, cols: dict, side: str, bad: _Rejects
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One side's levels as (n, 10) prices (NaN-padded), sizes (0-padded) and texts (None)."""
    levels = _level_count(path, cols, side)
    n = len(bad.mask)
    prices = np.full((n, DEPTH_LEVELS), np.nan)
    sizes = np.zeros((n, DEPTH_LEVELS), dtype=np.int64)
    texts = np.full((n, DEPTH_LEVELS), None, dtype=object)
    for k in range(levels):
        p, s = f"{side}_price_{k + 1}", f"{side}_size_{k + 1}"
        prices[:, k], texts[:, k] = _prices(cols, p, bad, optional=True)
        size_blank = np.array([not t.strip() for t in cols[s].tolist()], dtype=bool)
        filled = {s: np.where(size_blank, "0", cols[s])}
        sizes[:, k] = _ints(filled, s, bad, 0)
        has_price = np.array([x is not None for x in texts[:, k].tolist()], dtype=bool)
        bad.flag(np.flatnonzero(has_price & size_blank), f"{s} missing for a priced level")
        bad.flag(np.flatnonzero(~has_price & ~size_blank), f"{s} given without {p}")
    present = ~np.isnan(prices)
    bad.flag(np.flatnonzero((~present[:, :-1] & present[:, 1:]).any(axis=1)),
             f"{side} levels have a gap (an empty level before a priced one)")
    step = np.diff(prices, axis=1)
    wrong = (step >= 0) if side == "bid" else (step <= 0)  # NaN compares False
    order = "strictly decrease" if side == "bid" else "strictly increase"
    bad.flag(np.flatnonzero(wrong.any(axis=1)), f"{side} prices must {order} from level 1")
    return prices, sizes, texts


def _level_count(path: Path, cols: dict, side: str) -> int:
    """How many levels of `side` the file has; every price column needs its size column."""
    found = sorted(
        {int(m.group(3)) for c in cols if (m := _LEVEL.match(c)) and m.group(1) == side}
    )
    if found != list(range(1, len(found) + 1)) or len(found) > DEPTH_LEVELS:
        raise InputFileError(
            f"{path}: {side} levels must be numbered 1..n with n <= {DEPTH_LEVELS}, got {found}"
        )
    for k in found:
        for what in ("price", "size"):
            if f"{side}_{what}_{k}" not in cols:
                raise InputFileError(f"{path}: missing column {side}_{what}_{k}")
    return len(found)


_PARSERS = {TRADES: _parse_trades, QUOTES: _parse_quotes, DEPTH: _parse_depth}


# ---- back to wire models --------------------------------------------------------------------


def iter_events(mf: MarketFile) -> Iterator[MarketEvent]:
    """The file's rows as wire models in ts_event order, prices exactly as the file wrote them."""
    c = mf.columns
    head = zip(c["ts_event"].tolist(), c["ts_init"].tolist(), c["symbol"].tolist(), strict=True)
    if mf.topic == TRADES:
        return _trades(head, mf)
    return _quotes(head, mf) if mf.topic == QUOTES else _books(head, mf)


def _trades(head: Iterator[tuple[int, int, str]], mf: MarketFile) -> Iterator[Trade]:
    c = mf.columns
    rest = zip(mf.price_text["price"].tolist(), c["size"].tolist(), c["aggressor"].tolist(),
               strict=True)
    for (ts, ti, sym), (price, size, side) in zip(head, rest, strict=True):
        yield Trade(ts_event=ts, ts_init=ti, symbol=sym, price=Decimal(price), size=size,
                    aggressor=SIDE_NAMES[side])


def _quotes(head: Iterator[tuple[int, int, str]], mf: MarketFile) -> Iterator[Quote]:
    c, t = mf.columns, mf.price_text
    rest = zip(t["bid_price"].tolist(), c["bid_size"].tolist(), t["ask_price"].tolist(),
               c["ask_size"].tolist(), strict=True)
    for (ts, ti, sym), (bp, bs, ap, asz) in zip(head, rest, strict=True):
        yield Quote(ts_event=ts, ts_init=ti, symbol=sym, bid_price=Decimal(bp), bid_size=bs,
                    ask_price=Decimal(ap), ask_size=asz)


def _books(head: Iterator[tuple[int, int, str]], mf: MarketFile) -> Iterator[DepthSnapshot]:
    c, t = mf.columns, mf.price_text
    rest = zip(t["bid_price"].tolist(), c["bid_size"].tolist(), t["ask_price"].tolist(),
               c["ask_size"].tolist(), strict=True)
    for (ts, ti, sym), (bp, bs, ap, asz) in zip(head, rest, strict=True):
        bids = [Decimal(p) for p in bp if p is not None]  # levels are contiguous from 1
        asks = [Decimal(p) for p in ap if p is not None]
        yield DepthSnapshot(ts_event=ts, ts_init=ti, symbol=sym, bid_prices=bids,
                            bid_sizes=bs[:len(bids)], ask_prices=asks, ask_sizes=asz[:len(asks)])


def merge_events(files: Sequence[MarketFile]) -> Iterator[MarketEvent]:
    """Events of several files in one ts_event order; ties keep the order the files were given."""
    return heapq.merge(*(iter_events(f) for f in files), key=lambda e: e.ts_event)
