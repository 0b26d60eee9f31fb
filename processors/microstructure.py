"""Order-book features per symbol from market.depth and market.quotes, in event time.

The book. Per symbol the engine holds the newest depth snapshot and the newest quote. An event
older (ts_event) than the one held from its own topic is stale: counted and dropped; on equal
ts_event the later arrival replaces it. The book is the snapshot, with the quote laid on top
when the quote arrived after it (ts_init strictly greater; the two topics' venue times need not
share a clock: IB stamps quotes with whole venue seconds and depth with its arrival in ns):
the quote's bid becomes level 1 and the snapshot's bid levels priced at or above it are dropped
(asks mirrored), truncated to 10 levels; on equal ts_init the snapshot wins. So the book
depends on which events arrived, not on how the two topics interleave. A quote's level is
taken as sent, size 0 included.

Features, with b_i / a_i the bid / ask size at level i (0 where the level is missing) and
pb / pa the best bid / ask price:
  spread       = pa - pb
  mid          = (pb + pa) / 2
  microprice   = (pb * a_1 + pa * b_1) / (b_1 + a_1), computed as pb + spread * b_1/(b_1 + a_1):
                 the size-weighted mid ("weighted mid-price", Stoikov 2018, The micro-price,
                 Quantitative Finance 18(12)); mid when b_1 + a_1 = 0. These three are None
                 when either side has no level.
  imbalance_k  = (B_k - A_k) / (B_k + A_k), B_k = sum of b_i and A_k of a_i over i <= k, for
                 k = 1, 5, 10; 0 when B_k + A_k = 0. In [-1, 1]; positive: more bids.
  bid_depth[j] = B_(j+1), ask_depth[j] = A_(j+1): cumulative size of the best j+1 levels, ten
                 entries per side.
  pressure     = sum w_i (b_i - a_i) / sum w_i (b_i + a_i), w_i = 1/i, i = 1..10; 0 on an empty
                 book. Depth imbalance weighted toward the touch: levels behind the best quotes
                 carry information, but less (Cao, Hansch & Wang 2009, The information content
                 of an open limit-order book, J. Futures Markets 29(1)). Summed exactly in
                 integers (weights times lcm(1..10) = 2520), then divided once.
Spread, mid and microprice are prices: computed exactly from the decimals the book's prices
were written as (`processors.prices`), so a one-cent spread is `0.01`, and published as exact
decimals in their shortest form, the microprice rounded half-even to 9 decimals. The others are
float64 statistics: ratios of integer sizes.

Cadence. Event time is cut into intervals [k*I, (k+1)*I), I = `interval_ms`. For each interval
in which a symbol had an event (stale ones aside), one record is published with ts_event = the
interval's end, holding the book after the events before that end. It goes out when the
symbol's next event falls in a later interval, when the clock passes end + `grace_ms`
(`on_time`), or at `flush` (end of input: every interval still pending), whichever comes first.
Intervals without events publish nothing (the book did not change). `(symbol, ts_event)`
identifies a record: a re-processed batch publishes the same values again. Replay merges the
topics in event-time order, so every event before an end is applied before it is published.
A live worker reads the two topics on separate agents: an event that arrives after a later
event of the other topic still updates the book, but an interval already published is never
published again.

Vectorised per batch: rows are stably grouped by symbol (`processors.kit.keyed`), stale rows
and interval advances found with grouped running maxima, and the books of every record of a
batch computed at once. State is a set of arrays indexed by a slot per symbol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from processors.base import Emit, Engine, State, handles
from processors.kit.keyed import group_by_key
from processors.prices import exact, rounded
from streams.schema import DEPTH_LEVELS, MicrostructureFeatures

DEPTH_TOPIC, QUOTES_TOPIC = "market.depth", "market.quotes"
OUTPUT_TOPIC = "logic.microstructure"
LEVELS = {DEPTH_TOPIC: DEPTH_LEVELS, QUOTES_TOPIC: 1}
IMBALANCE_LEVELS = (1, 5, 10)
PRESSURE_WEIGHTS = 2520 // np.arange(1, DEPTH_LEVELS + 1)  # 1/i times lcm(1..10), exact ints
MS = 1_000_000
BID, ASK = 0, 1


class MicrostructureParams(BaseModel):
    """Parameters of the microstructure engine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    interval_ms: int = Field(default=1_000, ge=1, description="publishing cadence, event time")
    grace_ms: int = Field(
        default=1_000, ge=0, description="wait past an interval's end before the clock closes it"
    )


@dataclass(slots=True)
class _Levels:
    """Book events as arrays: `prices` / `sizes` are (n, 2, levels), bid row then ask row,
    best first, NaN / 0 where there is no level; `ts` (ts_event) and `arrival` (ts_init) are
    -1 where nothing is held."""

    ts: np.ndarray
    arrival: np.ndarray
    prices: np.ndarray
    sizes: np.ndarray

    @classmethod
    def empty(cls, n: int, levels: int) -> _Levels:
        return cls(
            np.full(n, -1, np.int64), np.full(n, -1, np.int64), np.full((n, 2, levels), np.nan),
            np.zeros((n, 2, levels), np.int64),
        )

    @classmethod
    def of_columns(cls, columns: Mapping[str, np.ndarray], levels: int) -> _Levels:
        n = len(columns["ts_event"])
        sides = [columns["bid_price"], columns["ask_price"]]
        sizes = [columns["bid_size"], columns["ask_size"]]
        return cls(
            np.asarray(columns["ts_event"], np.int64),
            np.asarray(columns["ts_init"], np.int64),
            np.stack(sides, axis=1).astype(np.float64).reshape(n, 2, levels),
            np.stack(sizes, axis=1).astype(np.int64).reshape(n, 2, levels),
        )

    def take(self, rows: np.ndarray) -> _Levels:
        return _Levels(self.ts[rows], self.arrival[rows], self.prices[rows], self.sizes[rows])

    def put(self, rows: np.ndarray, other: _Levels) -> None:
        self.ts[rows], self.arrival[rows] = other.ts, other.arrival
        self.prices[rows], self.sizes[rows] = other.prices, other.sizes

    def grown(self, n: int) -> _Levels:
        more = _Levels.empty(n - len(self.ts), self.prices.shape[2])
        return _Levels(
            np.concatenate([self.ts, more.ts]), np.concatenate([self.arrival, more.arrival]),
            np.concatenate([self.prices, more.prices]), np.concatenate([self.sizes, more.sizes]),
        )


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one batch does, rows sorted by symbol code; per-group arrays are per code."""

    publish: np.ndarray  # rows whose arrival publishes the pending interval
    publish_end: np.ndarray  # that interval's end
    before: np.ndarray  # per row: the last accepted row before it of its symbol, -1 if none
    last: np.ndarray  # per group: its last accepted row, -1 if none
    end_ns: np.ndarray  # per group: end of the newest interval with an event
    advanced: np.ndarray  # per group: some event opened a new interval
    stale: np.ndarray  # per group: stale rows


def _plan(codes: np.ndarray, ts: np.ndarray, held_ts: np.ndarray, end_ns: np.ndarray,
          pending: np.ndarray, interval_ns: int) -> _Plan:
    """Stale rows, interval advances and publications of a batch; `codes` sorted 0..u-1."""
    n = len(ts)
    starts = np.flatnonzero(np.diff(codes, prepend=-1))
    first = starts[codes]
    accepted = ts >= _group_cummax(np.maximum(ts, held_ts[codes]), codes)
    ends = ts - ts % interval_ns + interval_ns
    opened = np.maximum(_group_cummax(np.where(accepted, ends, -1), codes), end_ns[codes])
    rows = np.arange(n)
    prev = np.where(rows == first, end_ns[codes], _shifted(opened))
    advance = np.flatnonzero(accepted & (ends > prev))
    group_first = np.diff(codes[advance], prepend=-1) != 0
    publish = advance[np.where(group_first, pending[codes[advance]], True)]
    last = np.maximum.accumulate(np.where(accepted, rows, -1))
    before = _shifted(last)
    group_last = np.append(starts[1:], n) - 1
    return _Plan(
        publish=publish,
        publish_end=prev[publish],
        before=np.where(before >= first, before, -1),
        last=np.where(last[group_last] >= starts, last[group_last], -1),
        end_ns=opened[group_last],
        advanced=np.bincount(codes[advance], minlength=len(starts)) > 0,
        stale=np.add.reduceat((~accepted).astype(np.int64), starts),
    )


def _shifted(values: np.ndarray) -> np.ndarray:
    """`values` one row later: row i holds row i-1's value, row 0 holds -1."""
    return np.concatenate(([-1], values[:-1]))


def _group_cummax(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Running maximum within each run of equal `codes` (sorted): on ranks offset per code,
    so a group's keys all exceed the previous group's and one accumulate does every group."""
    uniq, rank = np.unique(values, return_inverse=True)
    offset = codes.astype(np.int64) * len(uniq)
    return uniq[np.maximum.accumulate(offset + rank) - offset]


def _book(depth: _Levels, quote: _Levels) -> tuple[np.ndarray, np.ndarray]:
    """Prices and sizes (m, 2, 10) of each book: the snapshot, the quote on top if it
    arrived later."""
    better = np.array([1.0, -1.0])[None, :, None]  # bids: higher is better; asks: lower
    gone = np.count_nonzero(better * depth.prices >= better * quote.prices, axis=2)
    source = np.arange(DEPTH_LEVELS)[None, None, :] - 1 + gone[:, :, None]
    inside = source < DEPTH_LEVELS
    source = np.clip(source, 0, DEPTH_LEVELS - 1)
    prices = np.where(inside, np.take_along_axis(depth.prices, source, axis=2), np.nan)
    sizes = np.where(inside, np.take_along_axis(depth.sizes, source, axis=2), 0)
    prices[:, :, 0], sizes[:, :, 0] = quote.prices[:, :, 0], quote.sizes[:, :, 0]
    on_top = (quote.arrival > depth.arrival)[:, None, None]
    return np.where(on_top, prices, depth.prices), np.where(on_top, sizes, depth.sizes)


def _features(prices: np.ndarray, sizes: np.ndarray) -> dict[str, np.ndarray]:
    """The module docstring's features of m books, as arrays; the touch (best prices, NaN
    where a side is empty, and their sizes) for `_touch_prices`."""
    depth = np.cumsum(sizes, axis=2)
    features = {
        "bid": prices[:, BID, 0],
        "ask": prices[:, ASK, 0],
        "bid_size": sizes[:, BID, 0],
        "ask_size": sizes[:, ASK, 0],
        "bid_depth": depth[:, BID],
        "ask_depth": depth[:, ASK],
        "pressure": _ratio(
            (sizes[:, BID] - sizes[:, ASK]) @ PRESSURE_WEIGHTS,
            (sizes[:, BID] + sizes[:, ASK]) @ PRESSURE_WEIGHTS,
        ),
    }
    for k in IMBALANCE_LEVELS:
        b, a = depth[:, BID, k - 1], depth[:, ASK, k - 1]
        features[f"imbalance_{k}"] = _ratio(b - a, b + a)
    return features


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.where(den > 0, num / np.maximum(den, 1), 0.0)


def _touch_prices(bid: float, ask: float, bid_size: int, ask_size: int
                  ) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """Spread, mid and microprice of one book, exact (microprice rounded to 9 decimals);
    None while a side is empty (a NaN price)."""
    if bid != bid or ask != ask:
        return None, None, None
    b, a = exact(bid), exact(ask)
    spread, mid, top = a - b, (a + b) / 2, bid_size + ask_size
    microprice = b + spread * Fraction(bid_size, top) if top > 0 else mid
    return rounded(spread), rounded(mid), rounded(microprice)


class MicrostructureEngine(Engine):
    """market.depth + market.quotes -> logic.microstructure."""

    name = "microstructure"
    outputs = (OUTPUT_TOPIC,)
    params_model = MicrostructureParams

    def __init__(self, params: MicrostructureParams, clock, device) -> None:  # type: ignore[no-untyped-def]
        super().__init__(params, clock, device)
        self._interval_ns = params.interval_ms * MS
        self._grace_ns = params.grace_ms * MS
        self._slots: dict[str, int] = {}
        self._free: list[int] = []
        self._held = {topic: _Levels.empty(0, levels) for topic, levels in LEVELS.items()}
        self._end_ns = np.empty(0, np.int64)  # end of the newest interval with an event
        self._pending = np.empty(0, bool)  # that interval is not published yet
        self._stale = np.empty(0, np.int64)

    @property
    def stale_events(self) -> int:
        return int(sum(self._stale[slot] for slot in self._slots.values()))

    @handles(DEPTH_TOPIC)
    def on_depth(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        return self._apply(DEPTH_TOPIC, columns)

    @handles(QUOTES_TOPIC)
    def on_quotes(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        return self._apply(QUOTES_TOPIC, columns)

    def _apply(self, topic: str, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        """A batch of depth or quotes: both replace the book they carry (see LEVELS)."""
        if len(columns["ts_event"]) == 0:
            return []
        groups = group_by_key(columns["symbol"])
        symbols = groups.keys
        slots = self._allocate(symbols)
        rows = _Levels.of_columns(columns, LEVELS[topic]).take(groups.order)
        codes = groups.sorted_codes
        held = self._held[topic]
        plan = _plan(codes, rows.ts, held.ts[slots], self._end_ns[slots],
                     self._pending[slots], self._interval_ns)
        emits = self._publish_batch(topic, plan, rows, codes, slots, symbols)
        has = plan.last >= 0
        held.put(slots[has], rows.take(plan.last[has]))
        self._end_ns[slots] = plan.end_ns
        self._pending[slots] |= plan.advanced
        self._stale[slots] += plan.stale
        for symbol in symbols:
            self.mark_dirty(symbol)
        return emits

    def _publish_batch(self, topic: str, plan: _Plan, rows: _Levels, codes: np.ndarray,
                       slots: np.ndarray, symbols: list[str]) -> list[Emit]:
        """The records a batch publishes: each book as of just before its publishing row."""
        if not len(plan.publish):
            return []
        group = codes[plan.publish]
        books = {t: held.take(slots[group]) for t, held in self._held.items()}
        before = plan.before[plan.publish]
        books[topic].put(np.flatnonzero(before >= 0), rows.take(before[before >= 0]))
        names = [symbols[g] for g in group.tolist()]
        return self._publish(names, plan.publish_end, books[DEPTH_TOPIC], books[QUOTES_TOPIC])

    def on_time(self, now_ns: int) -> list[Emit]:
        return self._publish_pending(now_ns - self._grace_ns)

    def flush(self) -> list[Emit]:
        return self._publish_pending(None)

    def _publish_pending(self, ended_by_ns: int | None) -> list[Emit]:
        """Publish every pending interval (ending at or before `ended_by_ns`), by symbol."""
        symbols = sorted(self._slots)
        slots = np.array([self._slots[s] for s in symbols], dtype=np.intp)
        due = self._pending[slots]
        if ended_by_ns is not None:
            due &= self._end_ns[slots] <= ended_by_ns
        slots = slots[due]
        names = [symbols[i] for i in np.flatnonzero(due).tolist()]
        self._pending[slots] = False
        for symbol in names:
            self.mark_dirty(symbol)
        depth, quote = (self._held[t].take(slots) for t in (DEPTH_TOPIC, QUOTES_TOPIC))
        return self._publish(names, self._end_ns[slots], depth, quote)

    def _publish(self, symbols: list[str], ends: np.ndarray, depth: _Levels,
                 quote: _Levels) -> list[Emit]:
        if not symbols:
            return []
        f = {k: v.tolist() for k, v in _features(*_book(depth, quote)).items()}
        touch = [_touch_prices(*t) for t in zip(f["bid"], f["ask"], f["bid_size"],
                                                 f["ask_size"], strict=True)]
        now = self.clock.timestamp_ns()
        return [
            Emit(OUTPUT_TOPIC, symbol, MicrostructureFeatures(
                ts_event=end, ts_init=now, symbol=symbol,
                spread=touch[i][0], mid=touch[i][1], microprice=touch[i][2],
                imbalance_1=f["imbalance_1"][i],
                imbalance_5=f["imbalance_5"][i], imbalance_10=f["imbalance_10"][i],
                bid_depth=f["bid_depth"][i], ask_depth=f["ask_depth"][i],
                pressure=f["pressure"][i],
            ))
            for i, (symbol, end) in enumerate(zip(symbols, ends.tolist(), strict=True))
        ]

    def _allocate(self, symbols: list[str]) -> np.ndarray:
        """The state slot of each symbol, making room for new ones."""
        for symbol in symbols:
            if symbol not in self._slots:
                self._slots[symbol] = self._free.pop() if self._free else len(self._slots)
        size = len(self._end_ns)
        if len(self._slots) > size:
            grown = max(2 * size, len(self._slots), 64)
            self._held = {t: held.grown(grown) for t, held in self._held.items()}
            self._end_ns = np.r_[self._end_ns, np.full(grown - size, -1, np.int64)]
            self._pending = np.r_[self._pending, np.zeros(grown - size, bool)]
            self._stale = np.r_[self._stale, np.zeros(grown - size, np.int64)]
        return np.array([self._slots[s] for s in symbols], dtype=np.intp)

    def keys(self) -> list[str]:
        return list(self._slots)

    def snapshot(self, key: str) -> State:
        slot = self._slots[key]
        return {
            "end_ns": int(self._end_ns[slot]),
            "pending": bool(self._pending[slot]),
            "stale_events": int(self._stale[slot]),
            "held": {t: _held_doc(held.take(slot)) for t, held in self._held.items()},
        }

    def restore(self, key: str, state: State) -> None:
        (slot,) = self._allocate([key])
        self._end_ns[slot] = int(state["end_ns"])
        self._pending[slot] = bool(state["pending"])
        self._stale[slot] = int(state["stale_events"])
        for topic, held in self._held.items():
            doc = state["held"][topic]
            levels = _Levels.empty(1, LEVELS[topic])
            levels.ts[0] = int(doc["ts"])
            levels.arrival[0] = int(doc.get("arrival", doc["ts"]))  # state saved before it
            for side, name in ((BID, "bid"), (ASK, "ask")):
                prices, sizes = doc[f"{name}_prices"], doc[f"{name}_sizes"]
                levels.prices[0, side, : len(prices)] = prices
                levels.sizes[0, side, : len(sizes)] = sizes
            held.put(np.array([slot]), levels)

    def forget(self, key: str) -> None:
        slot = self._slots.pop(key, None)
        self._dirty.discard(key)
        if slot is None:
            return
        self._free.append(slot)
        for topic, held in self._held.items():
            held.put(np.array([slot]), _Levels.empty(1, LEVELS[topic]))
        self._end_ns[slot], self._pending[slot], self._stale[slot] = -1, False, 0


def _held_doc(held: _Levels) -> dict[str, object]:
    """One held event as JSON-able data: its times and the levels present on each side."""
    doc: dict[str, object] = {"ts": int(held.ts), "arrival": int(held.arrival)}
    for side, name in ((BID, "bid"), (ASK, "ask")):
        present = ~np.isnan(held.prices[side])
        doc[f"{name}_prices"] = held.prices[side][present].tolist()
        doc[f"{name}_sizes"] = held.sizes[side][present].tolist()
    return doc
