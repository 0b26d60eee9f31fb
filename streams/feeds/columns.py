"""Our own market-file columns: which kind a file is, and its cells as codec columns.

The kind is told by the columns: `price`/`size` are trades, `bid_price`/`ask_price` quotes,
`bid_price_1`... depth, `open`/`high`/`low`/`close` bars (1-minute bars: their length is
checked by `streams.feeds.bars`). Columns come out in the model's one layout
(streams/schema/columns.py), as `streams.codec.decode_columns` gives them, so engines cannot
tell a file from a topic (a trade's `price_scale` is the decimals its text has). Prices also
keep their exact decimal text (`price_text`), so publishing a file puts the very digits of
the file on the wire, never a float's rounding of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.cells import default_column
from streams.codec import price_scales
from streams.exceptions import InputFileError
from streams.feeds import TOPIC_BY_MODEL
from streams.feeds.cells import (
    Rejects,
    check_crossed,
    check_levels,
    ints,
    levels_text,
    prices,
    sides,
    symbols,
    text,
)
from streams.feeds.mapping import TimeFormat, parse_times
from streams.schema import DEPTH_LEVELS
from streams.schema.columns import LAYOUTS

TRADES, QUOTES, DEPTH = "market.trades", "market.quotes", "market.depth"
BARS = "market.bars.1m"
OHLC = ("open", "high", "low", "close")
REQUIRED: dict[str, tuple[str, ...]] = {
    TRADES: ("ts_event", "symbol", "price", "size"),
    QUOTES: ("ts_event", "symbol", "bid_price", "bid_size", "ask_price", "ask_size"),
    DEPTH: ("ts_event", "symbol", "bid_price_1", "bid_size_1", "ask_price_1", "ask_size_1"),
    BARS: ("ts_event", "symbol", *OHLC, "volume"),
}
PRICE_COLUMNS: dict[str, tuple[str, ...]] = {
    TRADES: ("price",), QUOTES: ("bid_price", "ask_price"), DEPTH: ("bid_price", "ask_price"),
    BARS: OHLC,
}
"""Per kind, the price columns whose exact text a chunk keeps (`MarketChunk.price_text`)."""
BAR_NS = 60 * 1_000_000_000  # market.bars.1m: a bar file's bars are 1 minute long
SIDE_COLUMNS = ("aggressor", "side")
_LEVEL = re.compile(r"^(bid|ask)_(price|size)_(\d+)$")

Cells = dict[str, pa.Array]
Parsed = tuple[dict[str, np.ndarray], dict[str, np.ndarray]]


def kind_of(where: str, names: Iterable[str]) -> str:
    """Which topic the columns belong to; InputFileError naming what is missing."""
    present = set(names)
    if any(_LEVEL.match(n) for n in present):
        topic = DEPTH
    elif present & {"bid_price", "ask_price", "bid_size", "ask_size"}:
        topic = QUOTES
    elif present & set(OHLC):
        topic = BARS
    elif present & {"price", "size"}:
        topic = TRADES
    else:
        needs = "; ".join(f"{t} needs {', '.join(cols)}" for t, cols in REQUIRED.items())
        raise InputFileError(
            f"{where}: cannot tell trades, quotes, depth or bars from columns "
            f"{', '.join(sorted(present)) or '(none)'} ({needs}; other names: --map)"
        )
    missing = [c for c in REQUIRED[topic] if c not in present]
    if missing:
        raise InputFileError(
            f"{where}: {topic} file is missing required column(s): {', '.join(missing)} "
            "(a file without symbols: --symbol; other names: --map)"
        )
    if topic == DEPTH:
        for side in ("bid", "ask"):
            level_count(where, present, side)
    return topic


def level_count(where: str, names: Iterable[str], side: str) -> int:
    """How many levels of `side` the file has; every price column needs its size column."""
    names = set(names)
    found = sorted({int(m.group(3)) for c in names if (m := _LEVEL.match(c)) and m[1] == side})
    if found != list(range(1, len(found) + 1)) or len(found) > DEPTH_LEVELS:
        raise InputFileError(
            f"{where}: {side} levels must be numbered 1..n with n <= {DEPTH_LEVELS}, got {found}"
        )
    for k in found:
        for what in ("price", "size"):
            if f"{side}_{what}_{k}" not in names:
                raise InputFileError(f"{where}: missing column {side}_{what}_{k}")
    return len(found)


def parse(topic: str, cells: Cells, times: TimeFormat, bad: Rejects) -> Parsed:
    """A chunk's cells as codec columns and price texts; bad rows flagged in `bad`."""
    columns, texts = _PARSERS[topic](cells, times, bad)
    return in_layout(topic, columns), texts


def in_layout(topic: str, parsed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Parsed columns in the topic's model layout: declared order and dtypes; a column the file
    does not carry (a trade's `unreported`, an absent aggressor) is the field's default."""
    layout = _LAYOUT_BY_TOPIC[topic]
    n = len(parsed["ts_event"])
    return {c.name: parsed[c.name].astype(c.dtype, copy=False) if c.name in parsed
            else default_column(c, n) for c in layout.columns}


def _common(cells: Cells, times: TimeFormat, bad: Rejects) -> dict[str, np.ndarray]:
    """ts_event, ts_init (ts_event where absent or blank) and symbol: what every kind has."""
    ts_event = parse_times(cells["ts_event"], "ts_event", times, bad)
    init = cells.get("ts_init")
    if init is None:
        ts_init = ts_event.copy()
    else:
        if init.type == cells["ts_event"].type:
            blank = pc.is_null(init) if init.type != pa.string() else pc.equal(text(init), "")
            init = pc.if_else(blank, cells["ts_event"], init)
        ts_init = parse_times(init, "ts_init", times, bad)
    return {"ts_event": ts_event, "ts_init": ts_init, "symbol": symbols(cells["symbol"], bad)}


def _trades(cells: Cells, times: TimeFormat, bad: Rejects) -> Parsed:
    out = _common(cells, times, bad)
    out["price"], price_text = prices(cells["price"], "price", bad)
    out["price_scale"] = price_scales(price_text)
    out["size"] = ints(cells["size"], "size", bad, 1)
    side = next((c for c in SIDE_COLUMNS if c in cells), None)
    if side:
        out["aggressor"] = sides(cells[side], side, bad)
    return out, {"price": price_text}  # files carry regular trades: `unreported` is False


def _quotes(cells: Cells, times: TimeFormat, bad: Rejects) -> Parsed:
    out = _common(cells, times, bad)
    out["bid_price"], bid_text = prices(cells["bid_price"], "bid_price", bad)
    out["bid_size"] = ints(cells["bid_size"], "bid_size", bad, 0)
    out["ask_price"], ask_text = prices(cells["ask_price"], "ask_price", bad)
    out["ask_size"] = ints(cells["ask_size"], "ask_size", bad, 0)
    bad.flag(out["bid_price"] > out["ask_price"], lambda i: (
        f"crossed quote: bid {bid_text[i].as_py()} > ask {ask_text[i].as_py()}"))
    return out, {"bid_price": bid_text, "ask_price": ask_text}


def _bars(cells: Cells, times: TimeFormat, bad: Rejects) -> Parsed:
    """OHLCV bars: `start_ns` (read like ts_event) defaults to ts_event - 1 minute; a bar's
    high and low bound its open and close. Whether the bars are 1 minute long is checked on
    the rows in time order (`streams.feeds.bars`); trade_count and vwap are unknown (None)."""
    out = _common(cells, times, bad)
    texts = {}
    for name in OHLC:
        out[name], texts[name] = prices(cells[name], name, bad)
    out["volume"] = ints(cells["volume"], "volume", bad, 1)
    start = cells.get("start_ns")
    out["start_ns"] = (out["ts_event"] - BAR_NS if start is None
                       else parse_times(start, "start_ns", times, bad))
    bad.flag(out["start_ns"] < 0, "start_ns is before 1970")
    for name in ("open", "close", "low"):
        bad.flag(out[name] > out["high"], _outside(texts, name, "above", "high"))
    for name in ("open", "close"):
        bad.flag(out[name] < out["low"], _outside(texts, name, "below", "low"))
    ids = pc.binary_join_element_wise(pa.array(out["symbol"], pa.string()), "1m",
                                      pa.array(out["start_ns"]).cast(pa.string()), "@")
    out["bar_id"] = ids.to_numpy(zero_copy_only=False)
    return out, texts


def _outside(texts: dict[str, pa.Array], name: str, where: str, bound: str
             ) -> Callable[[int], str]:
    """The reason of a bar whose `name` lies outside its `bound` (high or low)."""
    return lambda i: (f"{name} {texts[name][i].as_py()} is {where} {bound} "
                      f"{texts[bound][i].as_py()}")


def _depth(cells: Cells, times: TimeFormat, bad: Rejects) -> Parsed:
    out = _common(cells, times, bad)
    texts, best = {}, {}
    for side in ("bid", "ask"):
        levels, sizes, level_texts = _depth_side(cells, side, bad)
        out[f"{side}_price"], out[f"{side}_size"] = levels, sizes
        texts[f"{side}_price"] = levels_text(level_texts, DEPTH_LEVELS)
        best[side] = level_texts[0]
    check_crossed(out["bid_price"], out["ask_price"], best["bid"], best["ask"], bad)
    return out, texts


def _depth_side(cells: Cells, side: str, bad: Rejects
                ) -> tuple[np.ndarray, np.ndarray, list[pa.Array]]:
    """One side's levels: (n, 10) prices (NaN-padded), sizes (0-padded), texts per level."""
    n = len(bad.mask)
    levels = np.full((n, DEPTH_LEVELS), np.nan)
    sizes = np.zeros((n, DEPTH_LEVELS), dtype=np.int64)
    texts = []
    for k in range(level_count("", cells.keys(), side)):
        p, s = f"{side}_price_{k + 1}", f"{side}_size_{k + 1}"
        levels[:, k], level_text = prices(cells[p], p, bad, optional=True)
        texts.append(level_text)
        size_blank = pc.equal(text(cells[s]), "").to_numpy(zero_copy_only=False)
        sizes[:, k] = ints(cells[s], s, bad, 0, blank="0")
        has_price = ~np.isnan(levels[:, k])
        bad.flag(has_price & size_blank, f"{s} missing for a priced level")
        bad.flag(~has_price & ~size_blank, f"{s} given without {p}")
    check_levels(levels, side, bad)
    return levels, sizes, texts


_PARSERS: dict[str, Callable[[Cells, TimeFormat, Rejects], Parsed]] = {
    TRADES: _trades, QUOTES: _quotes, DEPTH: _depth, BARS: _bars,
}
_LAYOUT_BY_TOPIC = {topic: LAYOUTS[model.__name__] for model, topic in TOPIC_BY_MODEL.items()}

