"""1-minute OHLCV bars per symbol, in event time.

A trade belongs to the bar starting at `ts_event - ts_event % interval`. A bar closes when a
later trade of the same symbol falls in a later interval, or when the clock passes its end
plus `grace_ms` (`on_time`), or at the end of input (`flush`). A trade older than the
symbol's open bar (or of a bar already closed) is late: it is counted and dropped, because
a published bar is never rewritten. Bars without trades do not exist. Prints flagged
`unreported` (odd lots, combo legs, derivative and average-price trades: not the regular tape)
are left out unless `include_unreported` is set.

Prices (see `processors.prices`): open, high, low and close are trade prices, written with
the most decimals any trade of the bar was written with (`price_scale`; trades at `5012.25`
and `5012.50` give `5012.50`); vwap is rounded half-even to 9 decimals, written with at least
as many decimals as the bar's prices.

Vectorised per batch: rows are stably grouped by symbol (`processors.kit.keyed`), late rows
masked with a running maximum of bar starts, then each (symbol, bar) run is reduced with
`np.*.reduceat`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from processors.base import Emit, Engine, State, handles
from processors.kit.keyed import group_by_key
from processors.prices import rounded, written
from streams.codec import price_scale
from streams.schema import Bar

MINUTE_NS = 60 * 1_000_000_000
# VWAP accumulates notional as exact integers in nano-units of price (Python ints: no
# overflow), so the sum, and the bar, do not depend on how the stream was cut into batches
# (float addition is not associative).
NOTIONAL_SCALE = 1_000_000_000
OUTPUT_TOPIC = "market.bars.1m"


class BarParams(BaseModel):
    """Parameters of the bars engine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    grace_ms: int = Field(default=2_000, ge=0, description="wait past a bar's end for late trades")
    include_unreported: bool = Field(
        default=False, description="count prints flagged unreported (odd lots, average-price "
        "and derivative trades) in bars",
    )


@dataclass(slots=True)
class _OpenBar:
    start_ns: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    trade_count: int
    notional_nano: int
    last_ts: int
    scale: int  # decimals of the bar's prices: the most any of its trades had

    def merge(self, other: _OpenBar) -> None:
        self.scale = max(self.scale, other.scale)
        self.high = max(self.high, other.high)
        self.low = min(self.low, other.low)
        self.close = other.close
        self.volume += other.volume
        self.trade_count += other.trade_count
        self.notional_nano += other.notional_nano
        self.last_ts = other.last_ts


@dataclass(slots=True)
class _SymbolState:
    open_bar: _OpenBar | None = None
    # Start of the newest bar already published; trades at or before it are late.
    closed_start_ns: int = -1
    late_trades: int = 0

    @property
    def horizon_ns(self) -> int:
        """Trades whose bar starts before this are late."""
        if self.open_bar is not None:
            return self.open_bar.start_ns
        return self.closed_start_ns + 1


class BarEngine(Engine):
    """market.trades -> market.bars.1m."""

    name = "bars"
    outputs = (OUTPUT_TOPIC,)
    params_model = BarParams
    interval_ns = MINUTE_NS

    def __init__(self, params: BarParams, clock, device) -> None:  # type: ignore[no-untyped-def]
        super().__init__(params, clock, device)
        self._grace_ns = params.grace_ms * 1_000_000
        self._include_unreported = params.include_unreported
        self._state: dict[str, _SymbolState] = {}

    @property
    def late_trades(self) -> int:
        return sum(s.late_trades for s in self._state.values())

    @handles("market.trades")
    def on_trades(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        if not self._include_unreported and columns["unreported"].any():
            regular = ~columns["unreported"]
            columns = {name: column[regular] for name, column in columns.items()}
        symbols = columns["symbol"]
        if len(symbols) == 0:
            return []
        ts = columns["ts_event"]
        starts = ts - ts % self.interval_ns
        groups = group_by_key(symbols)
        emits: list[Emit] = []
        price, scale, size = columns["price"], columns["price_scale"], columns["size"]
        for code, symbol in enumerate(groups.keys):
            rows = groups.rows(code)
            emits.extend(self._apply(symbol, starts[rows], ts[rows], price[rows], scale[rows],
                                     size[rows]))
        return emits

    def _apply(
        self, symbol: str, starts: np.ndarray, ts: np.ndarray, price: np.ndarray,
        scale: np.ndarray, size: np.ndarray,
    ) -> list[Emit]:
        state = self._state.setdefault(symbol, _SymbolState())
        self.mark_dirty(symbol)
        # A trade is late when its bar starts before the newest bar seen so far.
        running = np.maximum.accumulate(np.maximum(starts, state.horizon_ns))
        on_time = starts >= running
        state.late_trades += int((~on_time).sum())
        if not on_time.any():
            return []
        starts, ts, price, scale, size = (
            starts[on_time], ts[on_time], price[on_time], scale[on_time], size[on_time])
        cut = np.flatnonzero(np.r_[True, starts[1:] != starts[:-1]])
        last = np.r_[cut[1:], len(starts)] - 1
        scaled = np.rint(price * NOTIONAL_SCALE).astype(np.int64).astype(object)
        notional = scaled * size.astype(object)
        bars = [
            _OpenBar(
                start_ns=int(starts[c]),
                open=float(price[c]),
                high=float(h),
                low=float(lo),
                close=float(price[e]),
                volume=int(v),
                trade_count=int(e - c + 1),
                notional_nano=int(n),
                last_ts=int(ts[e]),
                scale=int(d),
            )
            for c, e, h, lo, v, n, d in zip(
                cut,
                last,
                np.maximum.reduceat(price, cut),
                np.minimum.reduceat(price, cut),
                np.add.reduceat(size, cut),
                np.add.reduceat(notional, cut),
                np.maximum.reduceat(scale, cut),
                strict=True,
            )
        ]
        if state.open_bar is not None and state.open_bar.start_ns == bars[0].start_ns:
            state.open_bar.merge(bars[0])
            bars[0] = state.open_bar
        elif state.open_bar is not None:
            bars.insert(0, state.open_bar)
        *closed, state.open_bar = bars
        return [self._close(symbol, state, bar) for bar in closed]

    def on_time(self, now_ns: int) -> list[Emit]:
        emits = []
        for symbol in sorted(self._state):
            state = self._state[symbol]
            bar = state.open_bar
            if bar is not None and now_ns >= bar.start_ns + self.interval_ns + self._grace_ns:
                state.open_bar = None
                emits.append(self._close(symbol, state, bar))
        return emits

    def flush(self) -> list[Emit]:
        emits = []
        for symbol in sorted(self._state):
            state = self._state[symbol]
            if state.open_bar is not None:
                bar, state.open_bar = state.open_bar, None
                emits.append(self._close(symbol, state, bar))
        return emits

    def _close(self, symbol: str, state: _SymbolState, bar: _OpenBar) -> Emit:
        state.closed_start_ns = bar.start_ns
        self.mark_dirty(symbol)
        value = Bar(
            ts_event=bar.start_ns + self.interval_ns,
            ts_init=self.clock.timestamp_ns(),
            bar_id=f"{symbol}@1m@{bar.start_ns}",
            symbol=symbol,
            start_ns=bar.start_ns,
            open=written(bar.open, bar.scale),
            high=written(bar.high, bar.scale),
            low=written(bar.low, bar.scale),
            close=written(bar.close, bar.scale),
            volume=bar.volume,
            trade_count=bar.trade_count,
            vwap=rounded(Fraction(bar.notional_nano, bar.volume * NOTIONAL_SCALE), bar.scale),
        )
        return Emit(OUTPUT_TOPIC, symbol, value)

    def keys(self) -> list[str]:
        return list(self._state)

    def snapshot(self, key: str) -> State:
        state = self._state[key]
        bar = state.open_bar
        return {
            "closed_start_ns": state.closed_start_ns,
            "late_trades": state.late_trades,
            "open_bar": None if bar is None else {
                f: getattr(bar, f) for f in _OpenBar.__dataclass_fields__
            },
        }

    def restore(self, key: str, state: State) -> None:
        bar = state["open_bar"]
        if bar is not None and "scale" not in bar:  # a snapshot from before bars kept scales
            bar = {**bar, "scale": max(price_scale(bar[f]) for f in ("open", "high", "low",
                                                                     "close"))}
        self._state[key] = _SymbolState(
            open_bar=None if bar is None else _OpenBar(**bar),
            closed_start_ns=int(state["closed_start_ns"]),
            late_trades=int(state["late_trades"]),
        )

    def forget(self, key: str) -> None:
        self._state.pop(key, None)
        self._dirty.discard(key)
