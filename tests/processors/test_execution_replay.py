"""The execution engine in the replay graph (streams/graph.py): orders + bars -> executions,
from source topics and in a cycle with a strategy that reads its order events (its orders
through pre-trade risk)."""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from processors import ENGINES, Emit, Engine
from processors.base import State, handles
from processors.execution.params import ExecutionParams
from streams.codec import event_columns
from streams.replay import Source, run_replay
from streams.schema import Order
from streams.settings import EngineParams
from tests.factories import T0
from tests.processors.execution_events import MINUTE_NS, bar, order

BARS = [bar(T0 + k * MINUTE_NS, open_, high, low) for k, (open_, high, low) in enumerate([
    ("100.00", "100.40", "99.80"), ("100.20", "100.90", "100.10"),
    ("101.00", "101.00", "99.00"), ("99.50", "99.70", "99.10")])]
PARAMS = EngineParams(execution=ExecutionParams(slippage_bps="10", fee_bps="1"))


def _bar_source() -> Source:
    return Source("market.bars.1m", event_columns("Bar", BARS))


@pytest.mark.parametrize("batch_rows", [1, 65_536])
def test_orders_and_bars_replay_to_next_open_executions(batch_rows: int) -> None:
    # Arrange: a buy decided at the end of bar 0, a sell at the end of bar 2
    orders = [order(1, ts=BARS[0].ts_event), order(2, ts=BARS[2].ts_event, side="sell")]

    # Act
    approved = Source("logic.orders.approved", event_columns("ApprovedOrder", orders))
    result = run_replay([_bar_source(), approved], [ENGINES["execution"]], PARAMS,
                        batch_rows=batch_rows)

    # Assert: the next bar's open, slipped 10 bps, fee 1 bp, dated at that bar's end
    assert [(x["exec_id"], x["side"], D(x["price"]), x["quantity"], D(x["commission"]),
             x["ts_event"]) for x in result.rows("market.executions")] == [
        ("test:AAPL:1-1", "buy", D("100.3002"), 10, D("0.1003002"), BARS[1].ts_event),
        ("test:AAPL:2-1", "sell", D("99.4005"), 10, D("0.0994005"), BARS[3].ts_event),
    ]
    assert [(e["event_id"], e["state"]) for e in result.rows("logic.order.events")] == [
        ("test:AAPL:1#1", "submitted"), ("test:AAPL:1#2", "accepted"),
        ("test:AAPL:1#3", "filled"), ("test:AAPL:2#1", "submitted"),
        ("test:AAPL:2#2", "accepted"), ("test:AAPL:2#3", "filled")]


class _NoParams(BaseModel):
    model_config = ConfigDict(frozen=True)


class BuyEveryBar(Engine):
    """A toy strategy: one market buy per closed bar; it counts its filled orders from the
    order events, which closes the cycle strategy -> pre-trade risk -> execution ->
    strategy."""

    name = "buy_every_bar"
    outputs = ("logic.orders",)
    params_model = _NoParams

    def __init__(self, params, clock, device) -> None:  # type: ignore[no-untyped-def]
        super().__init__(params, clock, device)
        self.sent = 0
        self.filled: list[tuple[str, int]] = []

    @handles("market.bars.1m")
    def on_bars(self, columns: dict[str, np.ndarray]) -> list[Emit]:
        out = []
        for ts in columns["ts_event"]:
            self.sent += 1
            out.append(Emit("logic.orders", "AAPL", Order(
                ts_event=int(ts), ts_init=0, order_id=f"toy:AAPL:{self.sent}", strategy="toy",
                account="paper", symbol="AAPL", side="buy", quantity=1, order_type="market")))
        return out

    @handles("logic.order.events")
    def on_order_events(self, columns: dict[str, np.ndarray]) -> list[Emit]:
        self.filled += [(str(order_id), int(ts)) for order_id, state, ts in zip(
            columns["order_id"], columns["state"], columns["ts_event"], strict=True)
            if state == "filled"]
        return []

    def keys(self) -> list[str]:
        return []

    def snapshot(self, key: str) -> State:
        return {}

    def restore(self, key: str, state: State) -> None:
        pass

    def forget(self, key: str) -> None:
        pass


def test_a_strategy_and_the_venue_run_as_a_cycle_in_event_time() -> None:
    filled: list[tuple[str, int]] = []

    class Recording(BuyEveryBar):
        def on_order_events(self, columns: dict[str, np.ndarray]) -> list[Emit]:
            out = super().on_order_events(columns)
            filled[:] = self.filled
            return out

    result = run_replay([_bar_source()],
                        [Recording, ENGINES["pretrade"], ENGINES["execution"]], PARAMS)

    # each order fills at the next bar's open, dated at that bar's end, and its fill reaches
    # the strategy in the same run; the last bar's order is still working at the end
    expected = [("toy:AAPL:1", D("100.3002"), BARS[1].ts_event),
                ("toy:AAPL:2", D("101.101"), BARS[2].ts_event),
                ("toy:AAPL:3", D("99.5995"), BARS[3].ts_event)]
    assert [(x.value.order_id, x.value.price, x.value.ts_event)
            for x in result.outputs["market.executions"]] == expected
    assert filled == [(order_id, ts) for order_id, _, ts in expected]
    assert [o.value.ts_event for o in result.outputs["logic.orders"]] == [
        b.ts_event for b in BARS]
