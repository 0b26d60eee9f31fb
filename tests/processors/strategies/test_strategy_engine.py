"""The Strategy base and its engine: callbacks, own position and open orders, the event
clock, snapshot/restore mid-stream, and a strategy in the replay graph with hand-written
executions and order events."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import torch

from processors import ENGINES, Emit, Engine
from processors.strategies import Strategy, StrategyParams, engine_class
from processors.strategies.sma_cross import SmaCrossParams
from streams.clock import TestClock
from streams.codec import event_columns
from streams.replay import Source, run_replay
from streams.schema import Bar, Event, Execution, OrderEvent, VpinReading
from streams.settings import EngineParams
from tests.factories import columns
from tests.processors.strategies.events import (
    TOPIC_OF,
    bar,
    feed,
    fill,
    minute,
    order_event,
    orders,
    signals,
    strategy_engine,
    vpin,
)


class Recorder(Strategy):
    """Submits a limit order on its first bar, a market order on its second, and records
    what it sees in every callback."""

    name = "recorder"

    def __init__(self) -> None:
        self.seen: list[tuple] = []
        self.bars = 0

    def on_start(self) -> None:
        self.seen.append(("start", self.clock.timestamp_ns()))

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        self.seen.append(("bar", self.clock.timestamp_ns(), bar.close, self.position,
                          [o.order_id for o in self.open_orders], self.exposure))
        if self.bars == 1:
            self.submit_order(self.order_factory.limit("buy", 5, Decimal("99.5"), "IOC"))
        elif self.bars == 2:
            self.submit_order(self.order_factory.market("sell", 2, "DAY"))

    def on_fill(self, fill: Execution) -> None:
        self.seen.append(("fill", fill.order_id, self.position, self.exposure))

    def on_order_event(self, event: OrderEvent) -> None:
        self.seen.append(("event", event.state, [o.order_id for o in self.open_orders],
                          self.exposure))

    def on_stop(self) -> None:
        self.seen.append(("stop", self.clock.timestamp_ns(), self.position))

    def on_save(self) -> dict:
        return {"bars": self.bars}

    def on_load(self, state: dict) -> None:
        self.bars = state["bars"]


def _recorder() -> Engine:
    return engine_class(Recorder)(StrategyParams(account="acc"), TestClock(0),
                                  torch.device("cpu"))


def test_callbacks_see_position_open_orders_and_event_time() -> None:
    engine = _recorder()
    events = [bar(1, "100"), order_event("recorder:AAPL:1", "accepted", 0, 5, minute(1) + 1),
              fill("recorder:AAPL:1", "buy", 3, minute(1) + 2),
              fill("other:AAPL:1", "buy", 7, minute(1) + 3),  # another strategy's: not ours
              order_event("recorder:AAPL:1", "canceled", 3, 0, minute(1) + 4, n=2),
              bar(2, "101.25")]

    emits = feed(engine, events)

    strategy = engine._running["AAPL"]  # type: ignore[attr-defined]
    assert strategy.seen == [
        ("start", minute(1)),
        ("bar", minute(1), Decimal("100"), 0, [], 0),
        ("event", "accepted", ["recorder:AAPL:1"], 5),
        ("fill", "recorder:AAPL:1", 3, 5),
        ("event", "canceled", [], 3),
        ("bar", minute(2), Decimal("101.25"), 3, [], 3),
        ("stop", minute(2), 3),
    ]
    sent = [e.value for e in emits if e.topic == "logic.orders"]
    assert [(o.order_id, o.side, o.quantity, o.order_type, o.limit_price, o.time_in_force,
             o.account, o.ts_event) for o in sent] == [
        ("recorder:AAPL:1", "buy", 5, "limit", Decimal("99.5"), "IOC", "acc", minute(1)),
        ("recorder:AAPL:2", "sell", 2, "market", None, "DAY", "acc", minute(2)),
    ]
    assert strategy.open_orders == [sent[1]]  # open from submission, before any event


def test_a_restored_strategy_is_not_started_again_and_keeps_its_orders() -> None:
    engine = _recorder()
    feed(engine, [bar(1, "100")])
    state = json.loads(json.dumps(engine.snapshot("AAPL")))

    restored = _recorder()
    restored.restore("AAPL", state)
    emits = feed(restored, [bar(2, "100")])

    strategy = restored._running["AAPL"]  # type: ignore[attr-defined]
    assert [s[0] for s in strategy.seen] == ["bar", "stop"]  # `seen` is not saved
    assert [o.order_id for o in strategy.open_orders] == ["recorder:AAPL:1", "recorder:AAPL:2"]
    assert orders(emits) == [("recorder:AAPL:2", "sell", 2, minute(2))]


def _two_symbols() -> list[Event]:
    """sma_cross (fast 2, slow 3) in two symbols with fills, a partial fill and a cancel."""
    events: list[Event] = []
    for m, (a, b) in enumerate(zip(["10", "11", "12", "13", "11", "8", "9", "12"],
                                   ["50", "49", "48", "47", "49", "52", "53", "51"],
                                   strict=True), start=1):
        events += [bar(m, a, "AAPL"), bar(m, b, "MSFT")]
        if m == 4:
            events += [fill("sma_cross:AAPL:1", "buy", 10, minute(4)),
                       order_event("sma_cross:AAPL:1", "filled", 10, 0, minute(4))]
        if m == 6:
            events += [order_event("sma_cross:MSFT:1", "partially_filled", 4, 6, minute(6)),
                       fill("sma_cross:MSFT:1", "buy", 4, minute(6)),
                       order_event("sma_cross:MSFT:1", "canceled", 4, 0, minute(6), n=2),
                       vpin(minute(6), 0.5, "MSFT")]
    return events


def _outputs(emits: list[Emit]) -> list[dict]:
    return [e.value.model_dump(mode="json") for e in emits]


@pytest.mark.parametrize("allow_short", [False, True])
def test_snapshot_and_restore_mid_stream_equal_an_uninterrupted_run(allow_short: bool) -> None:
    params = {"fast": 2, "slow": 3, "quantity": 10, "allow_short": allow_short}
    events = _two_symbols()
    whole = strategy_engine("sma_cross", **params)
    expected = _outputs(feed(whole, events))
    assert len(orders(feed(strategy_engine("sma_cross", **params), events))) >= 3
    for cut in range(1, len(events)):
        before = strategy_engine("sma_cross", **params)
        out = [e for ev in events[:cut] for e in before.process(
            TOPIC_OF[type(ev).__name__], event_columns(type(ev).__name__, [ev]))]
        saved = {k: json.loads(json.dumps(before.snapshot(k))) for k in before.keys()}  # noqa: SIM118

        after = strategy_engine("sma_cross", **params)
        for key, state in saved.items():
            after.restore(key, state)
        out += feed(after, events[cut:])

        assert _outputs(out) == expected, f"cut at {cut}"
        assert {k: after.snapshot(k) for k in after.keys()} == {  # noqa: SIM118
            k: whole.snapshot(k) for k in whole.keys()}  # noqa: SIM118


def _sources(events: list[Event], topics_first: list[str]) -> list[Source]:
    """One source per topic (events in time order), in the order `topics_first` names."""
    by_topic: dict[str, list[Event]] = {}
    for ev in events:
        by_topic.setdefault(TOPIC_OF[type(ev).__name__], []).append(ev)
    models = {TOPIC_OF[type(ev).__name__]: type(ev).__name__ for ev in events}
    return [Source(t, event_columns(models[t], by_topic[t])) for t in topics_first
            if t in by_topic]


@pytest.mark.parametrize("topic_order", [
    ["market.bars.1m", "market.executions", "logic.order.events"],
    ["logic.order.events", "market.executions", "market.bars.1m"],
    ["market.executions", "market.bars.1m", "logic.order.events"],
], ids=["bars first", "order events first", "fills first"])
@pytest.mark.parametrize("batch_rows", [1, 65_536])
def test_in_the_replay_graph_fills_at_a_bar_instant_give_the_same_orders(
    topic_order: list[str], batch_rows: int
) -> None:
    # bars 1-6 of AAPL; order 1 fills at bar 4's ts_event: the graph hands the strategy the
    # bar, the execution and the order event of that instant in the sources' order
    events = [bar(m, c) for m, c in enumerate(["10", "11", "12", "13", "11", "8"], start=1)]
    events += [fill("sma_cross:AAPL:1", "buy", 10, minute(4)),
               order_event("sma_cross:AAPL:1", "filled", 10, 0, minute(4))]
    params = EngineParams(sma_cross=SmaCrossParams(fast=2, slow=3, quantity=10))

    result = run_replay(_sources(events, topic_order), [ENGINES["sma_cross"]], params,
                        batch_rows=batch_rows)

    assert orders(result.outputs["logic.orders"]) == [
        ("sma_cross:AAPL:1", "buy", 10, minute(3)), ("sma_cross:AAPL:2", "sell", 10, minute(6))]
    assert signals(result.outputs["logic.signals"]) == [
        ("sma_cross:AAPL:signal-1", 1, minute(3)), ("sma_cross:AAPL:signal-2", 0, minute(6))]


def test_market_rows_are_quiet_only_where_the_strategy_ignores_them_and_already_runs() -> None:
    # Arrange: sma_cross reads bars, not VPIN; Recorder neither, but starts on its first event
    sma = strategy_engine("sma_cross", fast=2, slow=3)
    readings = columns("VpinReading", [vpin(minute(1), 0.5), vpin(minute(1), 0.5, "MSFT")])
    bars = columns("Bar", [bar(1, "10"), bar(1, "20", "MSFT")])

    # Act: AAPL's strategy starts on its first bar
    feed(sma, [bar(1, "10")])

    # Assert: VPIN rows of a running symbol are quiet (no on_start due), bars never
    assert sma.quiet_rows("logic.vpin", readings).tolist() == [True, False]
    assert sma.quiet_rows("market.bars.1m", bars).tolist() == [False, False]
    assert sma.process("logic.vpin", {k: v[:1] for k, v in readings.items()}) == []


def test_a_strategy_that_reads_vpin_never_has_quiet_vpin_rows() -> None:
    class ReadsVpin(Strategy):
        name = "reads_vpin"

        def on_vpin(self, reading: VpinReading) -> None:
            self.publish_signal(1, 1.0)

    engine = engine_class(ReadsVpin)(StrategyParams(account="acc"), TestClock(0),
                                     torch.device("cpu"))
    readings = columns("VpinReading", [vpin(minute(1), 0.5)])
    feed(engine, [vpin(minute(1), 0.5)])

    assert engine.quiet_rows("logic.vpin", readings).tolist() == [False]
