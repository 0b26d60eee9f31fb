"""Events for strategy tests: bars by minute and close, the strategy's fills and order
events, and a driver that feeds them to a strategy engine one event at a time."""

from __future__ import annotations

import torch
from pydantic import BaseModel

from processors import ENGINES, Emit, Engine
from streams.clock import TestClock
from streams.schema import Bar, Event, Execution, OrderEvent, VpinReading
from tests.factories import MINUTE_NS, T0, columns, event

TOPIC_OF = {"Bar": "market.bars.1m", "Execution": "market.executions",
            "OrderEvent": "logic.order.events", "VpinReading": "logic.vpin",
            "FeatureVector": "logic.features", "Prediction": "logic.predictions"}


def minute(m: int) -> int:
    """The end of bar `m` (bar 1 ends at T0 + 1 min)."""
    return T0 + m * MINUTE_NS


def bar(m: int, close: str, symbol: str = "AAPL") -> Bar:
    """Bar `m` of `symbol`, opening and closing at `close`."""
    start = minute(m - 1)
    return event("Bar", ts_event=minute(m), ts_init=minute(m), bar_id=f"{symbol}@1m@{start}",
                 symbol=symbol, start_ns=start, open=close, high=close, low=close, close=close,
                 vwap=close)  # type: ignore[return-value]


def fill(order_id: str, side: str, quantity: int, ts: int, price: str = "100",
         n: int = 1) -> Execution:
    """Execution `n` of `order_id` (exec id `<order_id>-<n>`, as the execution engine names
    them)."""
    symbol = order_id.split(":")[1]
    return event("Execution", ts_event=ts, ts_init=ts, exec_id=f"{order_id}-{n}", order_id=order_id,
                 account="paper", symbol=symbol, side=side, price=price, quantity=quantity,
                 commission="0")  # type: ignore[return-value]


def order_event(order_id: str, state: str, filled: int, leaves: int, ts: int,
                n: int = 1) -> OrderEvent:
    strategy, symbol, _ = order_id.split(":")
    return event("OrderEvent", ts_event=ts, ts_init=ts, event_id=f"{order_id}#{n}",
                 order_id=order_id, strategy=strategy, account="paper", symbol=symbol,
                 state=state, filled_quantity=filled, leaves_quantity=leaves,
                 avg_fill_price="100" if filled else None)  # type: ignore[return-value]


def vpin(ts: int, cdf: float | None, symbol: str = "AAPL") -> VpinReading:
    return event("VpinReading", ts_event=ts, ts_init=ts, symbol=symbol,
                 vpin_cdf=cdf)  # type: ignore[return-value]


def strategy_engine(name: str, **params: object) -> Engine:
    model: type[BaseModel] = ENGINES.params_model(name)
    return ENGINES[name](model(**params), TestClock(0), torch.device("cpu"))


def feed(engine: Engine, events: list[Event]) -> list[Emit]:
    """Each event as a batch of one, in the order given; then the end of input."""
    out = []
    for ev in events:
        out += engine.process(TOPIC_OF[type(ev).__name__], columns(type(ev).__name__, [ev]))
    return out + engine.flush()


def orders(emits: list[Emit]) -> list[tuple[str, str, int, int]]:
    """(order_id, side, quantity, ts_event) of each order, in emission order."""
    return [(e.value.order_id, e.value.side, e.value.quantity, e.value.ts_event)  # type: ignore[attr-defined]
            for e in emits if e.topic == "logic.orders"]


def signals(emits: list[Emit]) -> list[tuple[str, int, int]]:
    """(signal_id, direction, ts_event) of each signal, in emission order."""
    return [(e.value.signal_id, e.value.direction, e.value.ts_event)  # type: ignore[attr-defined]
            for e in emits if e.topic == "logic.signals"]
