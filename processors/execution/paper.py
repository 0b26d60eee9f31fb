"""The paper venue: fills orders against the market data the engine reads, in event time.

Per symbol it keeps what it has seen of the market (the latest event time; the first trade
and the first depth snapshot at the newest time seen, the snapshot less what our orders took
from it) and the orders working there, and applies each event in arrival order, so results
do not depend on how the stream was batched. See `processors.execution` for the rules.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from processors.execution.fills import Level, bar_fill, price_of, taker_price, walk
from processors.execution.orders import Fill, Model, WorkingOrder, day_end_ns
from processors.execution.params import ExecutionParams
from processors.execution.seen import SeenOrders
from processors.execution.venue import CancelOrder, OrderRequest, Report

log = logging.getLogger(__name__)
MS_NS = 1_000_000
EARLY_CANCELS = 1_024  # cancels of orders not seen yet kept per symbol, oldest dropped first


@dataclass(slots=True)
class _SymbolState:
    last_ts: int = -1  # the newest event time of any market data seen
    seen_bars: bool = False
    seen_trades: bool = False
    seen_depth: bool = False
    trade_ts: int = -1  # the first trade at the newest trade time: its time and price
    trade_price: float = math.nan
    depth_ts: int = -1  # the first depth snapshot at the newest depth time, less our takes
    bids: list[Level] = field(default_factory=list)
    asks: list[Level] = field(default_factory=list)
    orders: list[WorkingOrder] = field(default_factory=list)  # working, in arrival order
    seen: SeenOrders = field(default_factory=SeenOrders)
    # cancels that came before their order (another topic): order id -> [ts_event, reason]
    early_cancels: dict[str, list] = field(default_factory=dict)

    def waiting(self, model: Model, since_ns: int) -> list[WorkingOrder]:
        """Orders of `model` at the venue by `since_ns` that have not met the market yet."""
        return [w for w in self.orders if w.model == model and w.resting_since_ns is None
                and w.venue_ns <= since_ns and not w.is_closed]

    def prune(self) -> None:
        self.orders = [w for w in self.orders if not w.is_closed]

    def to_state(self) -> dict[str, object]:
        return {
            "last_ts": self.last_ts, "seen_bars": self.seen_bars,
            "seen_trades": self.seen_trades, "seen_depth": self.seen_depth,
            "trade_ts": self.trade_ts,
            "trade_price": None if math.isnan(self.trade_price) else self.trade_price,
            "depth_ts": self.depth_ts, "bids": self.bids, "asks": self.asks,
            "orders": [w.to_state() for w in self.orders], "seen": self.seen.to_state(),
            "early_cancels": self.early_cancels,
        }

    @classmethod
    def from_state(cls, state: dict) -> _SymbolState:  # type: ignore[type-arg]
        price = state["trade_price"]
        return cls(
            last_ts=int(state["last_ts"]), seen_bars=bool(state["seen_bars"]),
            seen_trades=bool(state["seen_trades"]), seen_depth=bool(state["seen_depth"]),
            trade_ts=int(state["trade_ts"]),
            trade_price=math.nan if price is None else float(price),
            depth_ts=int(state["depth_ts"]),
            bids=[list(level) for level in state["bids"]],
            asks=[list(level) for level in state["asks"]],
            orders=[WorkingOrder.from_state(o) for o in state["orders"]],
            seen=SeenOrders.from_state(state["seen"]),
            early_cancels={str(k): [int(ts), str(reason)]
                           for k, (ts, reason) in state.get("early_cancels", {}).items()},
        )


class PaperVenue:
    """The simulated venue (`processors.execution.venue.Venue`) behind the execution engine."""

    def __init__(self, params: ExecutionParams, now_ns: Callable[[], int]) -> None:
        self.params = params
        self._now_ns = now_ns
        self._latency_ns = params.latency_ms * MS_NS
        self._state: dict[str, _SymbolState] = {}
        self.redelivered = 0  # orders ignored because their id was seen before

    # ---- orders -----------------------------------------------------------------------

    def submit(self, order: OrderRequest) -> list[Report]:
        s = self._state.setdefault(order.symbol, _SymbolState())
        if not s.seen.add(order.order_id):
            self.redelivered += 1
            log.info("re-delivered order ignored order_id=%s", order.order_id)
            return []
        receipt_ns = max(order.ts_event, s.last_ts)
        venue_ns = max(order.ts_event + self._latency_ns, receipt_ns)
        model, model_problem = self._model(s, order.symbol)
        w = WorkingOrder(
            order_id=order.order_id, strategy=order.strategy, account=order.account,
            symbol=order.symbol, side=order.side, quantity=order.quantity,
            order_type=order.order_type,
            limit_price=None if order.limit_price is None else str(order.limit_price),
            time_in_force=order.time_in_force, venue_ns=venue_ns, model=model,
            day_end_ns=day_end_ns(venue_ns) if order.time_in_force == "DAY" else None,
        )
        now = self._now_ns()
        out: list[Report] = [w.submitted(receipt_ns, now)]
        early = s.early_cancels.pop(order.order_id, None)
        problem = _invalid(order) or model_problem
        if problem is not None:
            out.append(w.event("rejected", venue_ns, now, problem))
            return out
        out.append(w.event("accepted", venue_ns, now))
        if early is not None:  # its cancel came first: canceled as it arrives
            return [*out, w.event("canceled", max(early[0], venue_ns), now, early[1])]
        s.orders.append(w)
        if model == "book" and s.depth_ts >= venue_ns:
            out += self._walk(s, w, s.depth_ts)
        elif model == "trade" and s.trade_ts >= venue_ns:
            out += self._first_trade(w, s.trade_ts, s.trade_price)
        s.prune()
        return out

    def cancel(self, request: CancelOrder) -> list[Report]:
        """Cancel the order if it works, dated when the venue has it (the request's time,
        the symbol's newest market data, the order's arrival: the latest); a cancel of an
        order not seen yet (the two topics arrive independently) cancels it on arrival; of
        one that no longer works, nothing. `latency_ms` does not apply to cancels."""
        s = self._state.setdefault(request.symbol, _SymbolState())
        for w in s.orders:
            if w.order_id == request.order_id and not w.is_closed:
                ts = max(request.ts_event, s.last_ts, w.venue_ns)
                out: list[Report] = [w.event("canceled", ts, self._now_ns(), request.reason)]
                s.prune()
                return out
        if not s.seen.has(request.order_id) and request.order_id not in s.early_cancels:
            s.early_cancels[request.order_id] = [request.ts_event, request.reason]
            while len(s.early_cancels) > EARLY_CANCELS:
                del s.early_cancels[next(iter(s.early_cancels))]
        return []

    def _model(self, s: _SymbolState, symbol: str) -> tuple[Model, str | None]:
        """The fill model for a new order of `symbol`, or why there is none for its data."""
        wanted = self.params.fill_model
        if wanted == "auto":
            return ("book" if s.seen_depth else "trade" if s.seen_trades else "bar"), None
        if wanted == "book" and not s.seen_depth:
            return "book", f"fill_model=book but no depth seen for {symbol}"
        if wanted == "trade" and not s.seen_trades:
            return "trade", f"fill_model=trade but no trades seen for {symbol}"
        return wanted, None

    # ---- market data ------------------------------------------------------------------

    def on_bars(self, symbol: str, ts: np.ndarray, start: np.ndarray, open_: np.ndarray,
                high: np.ndarray, low: np.ndarray) -> list[Report]:
        s = self._state.setdefault(symbol, _SymbolState())
        s.seen_bars = True
        out: list[Report] = []
        if s.orders:
            for i in range(len(ts)):
                out += self._bar(s, int(ts[i]), int(start[i]), float(open_[i]), float(high[i]),
                                 float(low[i]))
        s.last_ts = max(s.last_ts, int(ts.max()))
        return out

    def on_trades(self, symbol: str, ts: np.ndarray, price: np.ndarray,
                  size: np.ndarray) -> list[Report]:
        s = self._state.setdefault(symbol, _SymbolState())
        s.seen_trades = True
        out: list[Report] = []
        if s.orders:
            for i in range(len(ts)):
                out += self._trade(s, int(ts[i]), float(price[i]), int(size[i]))
        else:  # nothing works here: only the newest first trade matters
            newest = int(ts.max())
            if newest > s.trade_ts:
                s.trade_ts, s.trade_price = newest, float(price[np.argmax(ts == newest)])
        s.last_ts = max(s.last_ts, int(ts.max()))
        return out

    def on_depth(self, symbol: str, ts: np.ndarray, bid_price: np.ndarray, bid_size: np.ndarray,
                 ask_price: np.ndarray, ask_size: np.ndarray) -> list[Report]:
        s = self._state.setdefault(symbol, _SymbolState())
        s.seen_depth = True
        out: list[Report] = []
        rows = range(len(ts)) if s.orders else [int(np.argmax(ts == ts.max()))]
        for i in rows:
            row_ts = int(ts[i])
            s.last_ts = max(s.last_ts, row_ts)
            out += self._expire(s, row_ts, row_ts)
            if row_ts > s.depth_ts:
                s.depth_ts = row_ts
                s.bids = _levels(bid_price[i], bid_size[i])
                s.asks = _levels(ask_price[i], ask_size[i])
                for w in s.waiting("book", row_ts):
                    out += self._walk(s, w, row_ts)
            s.prune()
        s.last_ts = max(s.last_ts, int(ts.max()))
        return out

    def _bar(self, s: _SymbolState, ts: int, start: int, open_: float, high: float,
             low: float) -> list[Report]:
        out = self._expire(s, start, ts)
        for w in s.orders:
            if w.model != "bar" or w.venue_ns > start or w.is_closed:
                continue
            first = w.resting_since_ns is None
            w.resting_since_ns = ts
            fill = bar_fill(w, price_of(open_), price_of(high), price_of(low), first,
                            self.params.slippage_bps)
            if w.time_in_force == "IOC" and (fill is None or not fill.taker):
                out.append(w.event("canceled", ts, self._now_ns(),
                                   "IOC: not marketable at the open of the next bar"))
            elif fill is not None:
                out += self._fill(w, fill, ts)
        s.prune()
        return out

    def _trade(self, s: _SymbolState, ts: int, price: float, size: int) -> list[Report]:
        s.last_ts = max(s.last_ts, ts)
        out = self._expire(s, ts, ts)
        if ts > s.trade_ts:
            s.trade_ts, s.trade_price = ts, price
            for w in s.waiting("trade", ts):
                out += self._first_trade(w, ts, price)
        traded, left = price_of(price), size
        for w in s.orders:  # resting limits, in time priority, share the trade's size
            limit = w.limit
            if not left or limit is None or w.is_closed or w.model == "bar" \
                    or w.resting_since_ns is None or ts <= w.resting_since_ns \
                    or not w.marketable(traded):
                continue
            taken = min(left, w.leaves)
            left -= taken
            out += self._fill(w, Fill(limit, taken, taker=False), ts)
        s.prune()
        return out

    def _expire(self, s: _SymbolState, market_ns: int, ts: int) -> list[Report]:
        """DAY orders whose UTC day ended by `market_ns` (the time the data describes)."""
        return [w.event("expired", ts, self._now_ns(), "DAY order: the UTC day ended")
                for w in s.orders
                if w.day_end_ns is not None and market_ns >= w.day_end_ns and not w.is_closed]

    # ---- fills ------------------------------------------------------------------------

    def _walk(self, s: _SymbolState, w: WorkingOrder, ts: int) -> list[Report]:
        """Take the book at `ts`; what it cannot fill rests (limit) or is canceled."""
        out: list[Report] = []
        for fill in walk(w, s.asks if w.buys else s.bids):
            out += self._fill(w, fill, ts)
        if w.is_closed:
            return out
        if w.order_type == "market":
            reason = f"market order: the book held {w.filled} of {w.quantity}"
        elif w.time_in_force == "IOC":
            reason = f"IOC: {w.leaves} not marketable in the book at arrival"
        else:
            w.resting_since_ns = ts
            return out
        return [*out, w.event("canceled", ts, self._now_ns(), reason)]

    def _first_trade(self, w: WorkingOrder, ts: int, price: float) -> list[Report]:
        """A trade-model order meets its first trade: takes it whole, rests, or is canceled."""
        traded = price_of(price)
        if w.marketable(traded):
            fill = Fill(taker_price(w, traded, self.params.slippage_bps), w.leaves, taker=True)
            return self._fill(w, fill, ts)
        if w.time_in_force == "IOC":
            return [w.event("canceled", ts, self._now_ns(),
                            f"IOC: first trade {traded} not at or through the limit")]
        w.resting_since_ns = ts
        return []

    def _fill(self, w: WorkingOrder, fill: Fill, ts: int) -> list[Report]:
        fee = self.params.fee_bps if fill.taker else self.params.maker_fee_bps
        execution, event = w.fill(fill, ts, self._now_ns(), fee)
        return [execution, event]

    # ---- state ------------------------------------------------------------------------

    def working_symbols(self) -> list[str]:
        return [symbol for symbol, s in self._state.items() if s.orders]

    def keys(self) -> list[str]:
        return list(self._state)

    def snapshot(self, key: str) -> dict[str, object]:
        return self._state[key].to_state()

    def restore(self, key: str, state: dict) -> None:  # type: ignore[type-arg]
        self._state[key] = _SymbolState.from_state(state)

    def forget(self, key: str) -> None:
        self._state.pop(key, None)


def _invalid(order: OrderRequest) -> str | None:
    """Why the venue rejects `order` whatever the market, or None."""
    if order.order_type == "limit" and order.limit_price is None:
        return "limit order without a limit price"
    if order.order_type == "market" and order.limit_price is not None:
        return "market order with a limit price"
    if order.limit_price is not None and order.limit_price <= Decimal(0):
        return f"limit price must be positive, got {order.limit_price}"
    return None


def _levels(prices: np.ndarray, sizes: np.ndarray) -> list[Level]:
    """One side of a snapshot as [price, size] levels, best first (missing levels dropped)."""
    return [[float(p), int(q)] for p, q in zip(prices, sizes, strict=True) if not math.isnan(p)]
