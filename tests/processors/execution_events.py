"""Event factories for the execution engine's tests: orders, bars, trades, books, cancels, and
a feed that hands each event to the engine as the runtime would (one batch per event).
Orders go to the engine as pre-trade risk approved them (logic.orders.approved)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import torch

from processors.base import Emit
from processors.execution.engine import ExecutionEngine
from processors.execution.params import ExecutionParams
from streams.clock import TestClock
from streams.schema import (
    Bar,
    CancelRequest,
    DepthSnapshot,
    Event,
    Execution,
    Order,
    OrderEvent,
    Trade,
)
from tests.factories import T0, columns

SECOND_NS = 1_000_000_000
MS_NS = 1_000_000
MINUTE_NS = 60 * SECOND_NS
# the first midnight UTC after T0 (2023-11-14T22:13:00Z)
MIDNIGHT = int(datetime(2023, 11, 15, tzinfo=UTC).timestamp()) * SECOND_NS
TOPICS = {Order: "logic.orders.approved", Bar: "market.bars.1m", Trade: "market.trades",
          DepthSnapshot: "market.depth", CancelRequest: "logic.order.cancels"}


def engine(**params: Any) -> ExecutionEngine:
    return ExecutionEngine(ExecutionParams(**params), TestClock(0), torch.device("cpu"))


def order(seq: int = 1, ts: int = T0, **overrides: Any) -> Order:
    fields: dict[str, Any] = {
        "ts_event": ts, "ts_init": ts, "order_id": f"test:AAPL:{seq}", "strategy": "test",
        "account": "paper", "symbol": "AAPL", "side": "buy", "quantity": 10,
        "order_type": "market", "time_in_force": "GTC", **overrides}
    return Order(**fields)


def limit(seq: int = 1, ts: int = T0, price: str = "100.00", **overrides: Any) -> Order:
    return order(seq, ts, order_type="limit", limit_price=price, **overrides)


def cancel(seq: int = 1, ts: int = T0, reason: str = "account paper halted by c-1",
           command: str = "c-1") -> CancelRequest:
    order_id = f"test:AAPL:{seq}"
    return CancelRequest(ts_event=ts, ts_init=ts, cancel_id=f"{order_id}:cancel:{command}",
                         order_id=order_id, account="paper", symbol="AAPL", reason=reason)


def bar(start: int, open_: str, high: str, low: str, close: str = "", symbol: str = "AAPL") -> Bar:
    return Bar(ts_event=start + MINUTE_NS, ts_init=start + MINUTE_NS,
               bar_id=f"{symbol}@1m@{start}", symbol=symbol, start_ns=start, open=open_,
               high=high, low=low, close=close or open_, volume=1_000, trade_count=10,
               vwap=open_)


def trade(ts: int, price: str, size: int = 100, symbol: str = "AAPL") -> Trade:
    return Trade(ts_event=ts, ts_init=ts, symbol=symbol, price=price, size=size)


def book(ts: int, bids: list[tuple[str, int]] = (), asks: list[tuple[str, int]] = (),  # type: ignore[assignment]
         symbol: str = "AAPL") -> DepthSnapshot:
    return DepthSnapshot(ts_event=ts, ts_init=ts, symbol=symbol,
                         bid_prices=[p for p, _ in bids], bid_sizes=[q for _, q in bids],
                         ask_prices=[p for p, _ in asks], ask_sizes=[q for _, q in asks])


def feed(eng: ExecutionEngine, *events: Event) -> list[Emit]:
    """Each event to the engine in its own batch, in the order given."""
    out: list[Emit] = []
    for ev in events:
        out += eng.process(TOPICS[type(ev)], columns(type(ev).__name__, [ev]))
    return out


def order_events(emits: list[Emit]) -> list[OrderEvent]:
    assert all(e.topic == "logic.order.events" for e in emits if isinstance(e.value, OrderEvent))
    return [e.value for e in emits if isinstance(e.value, OrderEvent)]


def executions(emits: list[Emit]) -> list[Execution]:
    assert all(e.topic == "market.executions" for e in emits if isinstance(e.value, Execution))
    return [e.value for e in emits if isinstance(e.value, Execution)]


def states(emits: list[Emit]) -> list[tuple[str, str, int, int, Decimal | None, int]]:
    """Each order event as (event_id, state, filled, leaves, avg fill price, ts - T0)."""
    return [(e.event_id, e.state, e.filled_quantity, e.leaves_quantity, e.avg_fill_price,
             e.ts_event - T0) for e in order_events(emits)]


def fills(emits: list[Emit]) -> list[tuple[str, str, Decimal, int, Decimal, int]]:
    """Each execution as (exec_id, side, price, quantity, commission, ts - T0)."""
    return [(x.exec_id, x.side, x.price, x.quantity, x.commission, x.ts_event - T0)
            for x in executions(emits)]
