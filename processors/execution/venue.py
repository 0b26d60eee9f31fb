"""Where the execution engine sends orders: the `Venue` interface.

The engine (`processors.execution.engine`) decodes batches and publishes what a venue
reports; the venue decides what happens to orders. Orders come approved by pre-trade risk
(logic.orders.approved); cancels (logic.order.cancels) are pre-trade risk's kill switch: a
venue cancels the order if it still works and reports `canceled` with the request's reason,
and otherwise does nothing, so a cancel delivered twice changes nothing. `PaperVenue`
(processors/execution/paper.py) is the one implementation today: it fills against the
market data the engine reads. Live routing (Interactive Brokers' paper account through
ib_async) is a later step: a venue that forwards `submit` and `cancel` to the broker and
reports its order statuses and executions, with the same ids and events, so strategies,
portfolio and storage do not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

import numpy as np

from streams.schema import Execution, OrderEvent

Report = OrderEvent | Execution


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One order of logic.orders.approved, as a venue receives it."""

    ts_event: int
    order_id: str
    strategy: str
    account: str
    symbol: str
    side: Literal["buy", "sell"]
    quantity: int
    order_type: Literal["market", "limit"]
    limit_price: Decimal | None
    time_in_force: Literal["GTC", "IOC", "DAY"]


@dataclass(frozen=True, slots=True)
class CancelOrder:
    """One cancel of logic.order.cancels, as a venue receives it."""

    ts_event: int
    cancel_id: str
    order_id: str
    account: str
    symbol: str
    reason: str


class Venue(Protocol):
    """Takes orders and market data of one symbol at a time (in arrival order) and reports
    order events and executions; keeps its state per symbol, snapshot-able as JSON."""

    def submit(self, order: OrderRequest) -> list[Report]: ...

    def cancel(self, request: CancelOrder) -> list[Report]:
        """Cancel the order if it works (its `canceled` event); nothing otherwise."""
        ...

    def on_bars(self, symbol: str, ts: np.ndarray, start: np.ndarray, open_: np.ndarray,
                high: np.ndarray, low: np.ndarray) -> list[Report]: ...

    def on_trades(self, symbol: str, ts: np.ndarray, price: np.ndarray,
                  size: np.ndarray) -> list[Report]: ...

    def on_depth(self, symbol: str, ts: np.ndarray, bid_price: np.ndarray,
                 bid_size: np.ndarray, ask_price: np.ndarray,
                 ask_size: np.ndarray) -> list[Report]: ...

    def working_symbols(self) -> list[str]:
        """Symbols with orders working; market data of the others changes no order."""
        ...

    def keys(self) -> list[str]: ...

    def snapshot(self, key: str) -> dict[str, object]: ...

    def restore(self, key: str, state: dict[str, object]) -> None: ...

    def forget(self, key: str) -> None: ...
