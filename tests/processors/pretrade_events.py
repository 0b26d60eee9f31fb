"""Event factories for pre-trade risk's tests: orders, bars (reference prices), fills, order
events, margin states, risk commands and VPIN alerts, and a feed that hands each event to
the engine as the runtime would (one batch per event)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import torch

from processors.base import Emit
from processors.pretrade.engine import PretradeEngine
from processors.pretrade.params import PretradeParams
from streams.clock import TestClock
from streams.schema import (
    Alert,
    ApprovedOrder,
    Bar,
    CancelRequest,
    Event,
    Execution,
    MarginState,
    Order,
    OrderEvent,
    RiskCommand,
)
from tests.factories import MINUTE_NS, T0, columns

SECOND_NS = 1_000_000_000
TOPICS = {Order: "logic.orders", Bar: "market.bars.1m", Execution: "market.executions",
          OrderEvent: "logic.order.events", MarginState: "logic.margin",
          RiskCommand: "logic.risk.commands", Alert: "logic.risk.alerts"}


def engine(**params: Any) -> PretradeEngine:
    return PretradeEngine(PretradeParams(**params), TestClock(0), torch.device("cpu"))


def order(seq: int, side: str = "buy", quantity: int = 10, limit: str | None = None,
          ts: int = T0, symbol: str = "AAPL", account: str = "ACC1",
          strategy: str = "s1") -> Order:
    return Order(ts_event=ts, ts_init=ts, order_id=f"{strategy}:{symbol}:{seq}",
                 strategy=strategy, account=account, symbol=symbol, side=side,
                 quantity=quantity, order_type="market" if limit is None else "limit",
                 limit_price=limit)


def bar(close: str, symbol: str = "AAPL", end: int = T0) -> Bar:
    """A 1-minute bar ending at `end` that closed at `close` (the reference price)."""
    return Bar(ts_event=end, ts_init=end, bar_id=f"{symbol}@1m@{end - MINUTE_NS}",
               symbol=symbol, start_ns=end - MINUTE_NS, open=close, high=close, low=close,
               close=close, volume=100)


def fill(order_id: str, side: str, quantity: int, price: str, n: int = 1, ts: int = T0,
         account: str = "ACC1") -> Execution:
    symbol = order_id.split(":")[1]
    return Execution(ts_event=ts, ts_init=ts, exec_id=f"{order_id}-{n}", order_id=order_id,
                     account=account, symbol=symbol, side=side, price=price,
                     quantity=quantity, commission="0")


def order_event(order_id: str, n: int, state: str, filled: int, leaves: int, ts: int = T0,
                account: str = "ACC1") -> OrderEvent:
    strategy, symbol, _ = order_id.split(":")
    return OrderEvent(ts_event=ts, ts_init=ts, event_id=f"{order_id}#{n}", order_id=order_id,
                      strategy=strategy, account=account, symbol=symbol, state=state,
                      filled_quantity=filled, leaves_quantity=leaves)


def margin(excess: str, method: str = "reg_t", ts: int = T0, account: str = "ACC1",
           maintenance: str = "0") -> MarginState:
    equity = Decimal(excess) + Decimal(maintenance)
    return MarginState(ts_event=ts, ts_init=ts, account=account, currency="USD",
                       equity=equity, initial_margin=maintenance,
                       maintenance_margin=maintenance, excess_liquidity=excess, method=method)


def command(action: str, command_id: str, ts: int = T0, account: str = "ACC1",
            reason: str = "desk limit") -> RiskCommand:
    return RiskCommand(ts_event=ts, ts_init=ts, command_id=command_id, account=account,
                       action=action, reason=reason, issued_by="test")


def vpin_alert(state: str, bucket: int, ts: int, symbol: str = "AAPL",
               episode: str = "") -> Alert:
    alert_id = episode or f"vpin:{symbol}:{ts}:{bucket}"
    return Alert(ts_event=ts, ts_init=ts, alert_id=alert_id, kind="vpin", state=state,
                 severity="warning" if state == "raised" else "info", symbol=symbol,
                 message="test", values={"vpin": 0.5, "vpin_cdf": 0.95, "bucket": bucket})


def feed(eng: PretradeEngine, *events: Event) -> list[Emit]:
    """Each event to the engine in its own batch, in the order given."""
    out: list[Emit] = []
    for ev in events:
        out += eng.process(TOPICS[type(ev)], columns(type(ev).__name__, [ev]))
    return out


def verdicts(emits: list[Emit]) -> dict[str, str]:
    """Each order's fate: `approved`, or its rejection's reason."""
    out: dict[str, str] = {}
    for e in emits:
        if isinstance(e.value, ApprovedOrder):
            out[e.value.order_id] = "approved"
        elif isinstance(e.value, OrderEvent) and e.value.state == "rejected":
            assert e.value.reason is not None
            out[e.value.order_id] = e.value.reason
    return out


def verdict(eng: PretradeEngine, ev: Order) -> str:
    """The fate of one order fed now."""
    return verdicts(feed(eng, ev))[ev.order_id]


def cancels(emits: list[Emit]) -> list[CancelRequest]:
    assert all(e.topic == "logic.order.cancels" for e in emits
               if isinstance(e.value, CancelRequest))
    return [e.value for e in emits if isinstance(e.value, CancelRequest)]


def alerts(emits: list[Emit]) -> list[tuple[str, Alert]]:
    """(Emit key, alert) of every alert."""
    assert all(e.topic == "logic.risk.alerts" for e in emits if isinstance(e.value, Alert))
    return [(e.key, e.value) for e in emits if isinstance(e.value, Alert)]
