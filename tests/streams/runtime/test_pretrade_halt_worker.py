"""The kill switch on the real broker: a worker runs the trading loop (`sma_cross`,
`pretrade`, `execution`, `portfolio`); a RiskCommand `halt` published to logic.risk.commands
cancels the account's open orders at the venue and, from then on, no order of the account is
approved: every later one is rejected with the trading-state reason.

The expected records are the replay of the same bars with the same command (the backtest
graph, in-process), which puts the halt after the bar whose orders are working and before
the next one; the test publishes the command at that point of the worker's progress (the
feed is paced by the loop's progress, as in test_trading_loop_worker.py), and the worker must
publish exactly the replay's orders, approvals, cancels, order events and executions."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from processors.strategies import load
from streams import codec
from streams.backtest import backtest_engines
from streams.codec import event_columns
from streams.params import apply_overrides
from streams.replay import Source, run_replay
from streams.schema import ApprovedOrder, CancelRequest, Event, RiskCommand
from streams.settings import Settings
from tests.streams.runtime.trading_loop import (
    APPROVED,
    CANCELS,
    CONSUMED,
    ENGINES,
    EVENTS,
    FILLS,
    MODELS,
    ORDERS,
    STEP_TIMEOUT_S,
    Loop,
    Tail,
    by_id,
    ids,
    make_loop,
    models,
    published,
    run_paced,
)
from tests.streams.runtime.workers import (
    assert_no_offset_jumps,
    produce,
    read_topic,
    start_group_at_end,
    wait_for,
    worker,
)

pytestmark = pytest.mark.slow
# bars of the loop: the halt meets a working order at bar 24 of 40, and the 15 bars after
# it bring 24 orders to reject
HALT_BARS = 40
COMPARED: dict[str, type[Event]] = {**{t: MODELS[t] for t in (ORDERS, EVENTS, FILLS)},
                                    APPROVED: ApprovedOrder, CANCELS: CancelRequest}


def replay(loop: Loop, halt: RiskCommand | None) -> dict[str, list[Event]]:
    """The backtest graph over the loop's bars and the halt, with the worker's parameters."""
    settings = [f"{name.replace('__', '.')}={value}" for name, value in loop.settings().items()]
    params = apply_overrides(Settings().engine_params(), settings)
    bars = [b for step in loop.steps for b in step]
    sources = [Source("market.bars.1m", event_columns("Bar", bars))]
    if halt is not None:
        sources.append(Source("logic.risk.commands", event_columns("RiskCommand", [halt])))
    result = run_replay(sources, backtest_engines(load("sma_cross")), params)
    return {topic: [e.value for e in result.outputs.get(topic, [])] for topic in COMPARED}


def test_a_halt_cancels_the_open_orders_and_every_later_order_is_rejected(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: halt after a bar whose orders work at the venue (to fill at the next open)
    loop = make_loop(seed=11, bars=HALT_BARS)
    unhalted = replay(loop, None)
    order_times = {o.ts_event for o in unhalted[ORDERS]}
    halt_at = next(k for k in range(HALT_BARS // 2, HALT_BARS - 10)
                   if loop.steps[k][0].ts_event in order_times)
    halt = RiskCommand(ts_event=loop.steps[halt_at][0].ts_event + 1, ts_init=0,
                       command_id=f"halt-{uuid.uuid4().hex[:8]}", account=loop.account,
                       action="halt", reason="desk limit", issued_by="test")
    expected = replay(loop, halt)
    working = ids(unhalted[ORDERS], "order_id", halt.ts_event) - ids(
        unhalted[FILLS], "order_id", halt.ts_event)
    app_id = f"test-halt-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id, CONSUMED)
    tail = Tail(kafka_brokers, loop, tuple(COMPARED))
    log = tmp_path / "worker.log"

    # Act: the loop up to the halt's bar, the halt, then the rest of the bars
    with worker(services_env, app_id, log, engines=ENGINES, **loop.worker_settings()):
        run_paced(kafka_brokers, loop, expected, tail, range(halt_at + 1))
        produce(kafka_brokers, [(halt.account, codec.encode(halt))], "logic.risk.commands")
        wait_for(published(tail, ids(expected[EVENTS], "event_id", halt.ts_event), set()),
                 STEP_TIMEOUT_S, "the halt's cancels")
        run_paced(kafka_brokers, loop, expected, tail, range(halt_at + 1, HALT_BARS))
        wait_for(lambda: ids(expected[EVENTS], "event_id") <= tail.ids(EVENTS, "event_id"),
                 STEP_TIMEOUT_S, "every order event")
    rows = tail.read()

    # Assert: the open orders were canceled at the venue with the halt's reason
    reason = f"account {loop.account} halted by {halt.command_id} (test): desk limit"
    assert working, "no order was working at the halt"
    assert {(c.order_id, c.reason) for c in models(rows[CANCELS], CancelRequest)} == {
        (order_id, reason) for order_id in working}
    events = by_id(models(rows[EVENTS], MODELS[EVENTS]), "event_id")
    assert {e["order_id"] for e in events.values()
            if e["state"] == "canceled" and e["reason"] == reason} == working
    # no order after the halt was approved: each was rejected by the trading state
    after = {o["order_id"] for o in rows[ORDERS] if o["ts_event"] > halt.ts_event}
    assert after, "the strategy sent no order after the halt"
    assert not after & {o["order_id"] for o in rows[APPROVED]}
    rejected = {e["order_id"]: e["reason"] for e in events.values() if e["state"] == "rejected"}
    assert rejected == dict.fromkeys(
        after, f"risk: trading_state: account {loop.account} is HALTED ({halt.command_id}: "
        "desk limit)")
    # exactly the replay's records, and the trading-state alert
    for topic, model in COMPARED.items():
        assert by_id(models(rows[topic], model), _id(topic)) == by_id(expected[topic],
                                                                      _id(topic)), topic
    alerts = read_topic(kafka_brokers, "logic.risk.alerts",
                        lambda a: a["alert_id"].startswith(f"trading_state:{loop.account}:"))
    assert {(a["state"], a["severity"], a["values"]["open_orders_canceled"])
            for a in alerts} == {("raised", "critical", len(working))}
    assert_no_offset_jumps(log)
    assert "dead-lettered" not in log.read_text()


def _id(topic: str) -> str:
    return {ORDERS: "order_id", APPROVED: "order_id", EVENTS: "event_id", FILLS: "exec_id",
            CANCELS: "cancel_id"}[topic]
