"""The execution engine: logic.orders.approved, logic.order.cancels + market data ->
market.executions, logic.order.events.

A thin shell around a `Venue` (processors/execution/venue.py; today the `PaperVenue`): it
decodes each batch, hands it to the venue one symbol at a time in arrival order, and
publishes what the venue reports, keyed by symbol. The rules are in `processors.execution`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import numpy as np

from processors.base import Emit, Engine, State, handles
from processors.execution.fills import price_of
from processors.execution.paper import PaperVenue
from processors.execution.params import ExecutionParams
from processors.execution.venue import CancelOrder, OrderRequest, Report, Venue
from processors.kit.keyed import group_by_key
from streams.schema import Execution
from streams.schema.columns import SIDE_CODES

EXECUTIONS = "market.executions"
ORDER_EVENTS = "logic.order.events"
APPROVED_ORDERS, CANCELS = "logic.orders.approved", "logic.order.cancels"
_SIDES: dict[int, Literal["buy", "sell"]] = {SIDE_CODES["buy"]: "buy", SIDE_CODES["sell"]: "sell"}


class ExecutionEngine(Engine):
    """Orders to the venue, fills and order state changes back (see processors.execution)."""

    name = "execution"
    outputs = (EXECUTIONS, ORDER_EVENTS)
    params_model = ExecutionParams

    def __init__(self, params: ExecutionParams, clock, device) -> None:  # type: ignore[no-untyped-def]
        super().__init__(params, clock, device)
        self.venue: Venue = PaperVenue(params, clock.timestamp_ns)

    @handles(APPROVED_ORDERS)
    def on_orders(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        reports: list[Report] = []
        limits = columns["limit_price"]
        for i in range(len(columns["ts_event"])):
            limit = float(limits[i])
            order = OrderRequest(
                ts_event=int(columns["ts_event"][i]), order_id=str(columns["order_id"][i]),
                strategy=str(columns["strategy"][i]), account=str(columns["account"][i]),
                symbol=str(columns["symbol"][i]), side=_SIDES[int(columns["side"][i])],
                quantity=int(columns["quantity"][i]),
                order_type=columns["order_type"][i], time_in_force=columns["time_in_force"][i],
                limit_price=None if math.isnan(limit) else price_of(limit),
            )
            self.mark_dirty(order.symbol)
            reports += self.venue.submit(order)
        return _emits(reports)

    @handles(CANCELS)
    def on_cancels(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        reports: list[Report] = []
        rows = zip(columns["ts_event"].tolist(), columns["cancel_id"].tolist(),
                   columns["order_id"].tolist(), columns["account"].tolist(),
                   columns["symbol"].tolist(), columns["reason"].tolist(), strict=True)
        for ts, cancel_id, order_id, account, symbol, reason in rows:
            self.mark_dirty(symbol)
            reports += self.venue.cancel(CancelOrder(ts, cancel_id, order_id, account, symbol,
                                                     reason))
        return _emits(reports)

    @handles("market.bars.1m")
    def on_bars(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        return self._by_symbol(columns, lambda symbol, c: self.venue.on_bars(
            symbol, c("ts_event"), c("start_ns"), c("open"), c("high"), c("low")))

    @handles("market.trades")
    def on_trades(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        if columns["unreported"].any():  # not the regular tape: never a fill, nor a price
            regular = ~columns["unreported"]
            columns = {name: column[regular] for name, column in columns.items()}
        return self._by_symbol(columns, lambda symbol, c: self.venue.on_trades(
            symbol, c("ts_event"), c("price"), c("size")))

    @handles("market.depth")
    def on_depth(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        return self._by_symbol(columns, lambda symbol, c: self.venue.on_depth(
            symbol, c("ts_event"), c("bid_price"), c("bid_size"), c("ask_price"),
            c("ask_size")))

    def quiet_rows(self, topic: str, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Market data of a symbol where no order works: the venue only notes the newest
        price and time (no fill, no expiry, no clock); orders and cancels are never quiet."""
        symbols = columns["symbol"]
        if topic in (APPROVED_ORDERS, CANCELS):
            return np.zeros(len(symbols), dtype=bool)
        quiet = np.ones(len(symbols), dtype=bool)
        for symbol in self.venue.working_symbols():
            quiet &= symbols != symbol
        return quiet

    def _by_symbol(self, columns: Mapping[str, np.ndarray], apply) -> list[Emit]:  # type: ignore[no-untyped-def]
        """`apply(symbol, column)` per symbol in order of first appearance, `column(name)`
        giving that symbol's rows of a column in arrival order."""
        if not len(columns["ts_event"]):
            return []
        reports: list[Report] = []
        for symbol, rows in _rows_by_symbol(columns["symbol"]):
            self.mark_dirty(symbol)
            reports += apply(symbol, columns.__getitem__ if rows is None
                             else lambda name, rows=rows: columns[name][rows])
        return _emits(reports)

    def keys(self) -> list[str]:
        return self.venue.keys()

    def snapshot(self, key: str) -> State:
        return self.venue.snapshot(key)

    def restore(self, key: str, state: State) -> None:
        self.venue.restore(key, state)

    def forget(self, key: str) -> None:
        self.venue.forget(key)
        self._dirty.discard(key)


def _rows_by_symbol(symbols: np.ndarray) -> list[tuple[str, np.ndarray | None]]:
    """Each symbol of a batch with its rows (None: all of them), in order of first
    appearance; a batch of one symbol, the most common in a replay, is not indexed."""
    first = symbols[0]
    if (symbols == first).all():
        return [(str(first), None)]
    groups = group_by_key(symbols)
    return [(symbol, groups.rows(code)) for code, symbol in enumerate(groups.keys)]


def _emits(reports: list[Report]) -> list[Emit]:
    return [Emit(EXECUTIONS if isinstance(r, Execution) else ORDER_EVENTS, r.symbol, r)
            for r in reports]
