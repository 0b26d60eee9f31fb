"""Trading states per account (ACTIVE, REDUCING, HALTED) set by RiskCommands: a halt cancels
the account's open orders in the same batch and rejects every later order; each change of
state is an alert; the state survives a restart."""

from __future__ import annotations

import json

from tests.factories import T0
from tests.processors.pretrade_events import (
    SECOND_NS,
    alerts,
    cancels,
    command,
    engine,
    feed,
    fill,
    order,
    order_event,
    verdict,
    verdicts,
)

HALT_TS = T0 + 5 * SECOND_NS


def _working_account():  # type: ignore[no-untyped-def]
    """ACC1 with buys of AAPL (1) and MSFT (2) working and one of AAPL (3) filled; ACC2
    with one working."""
    eng = engine()
    feed(eng, order(1), order(2, symbol="MSFT"), order(3),
         order_event("s1:AAPL:3", 3, "filled", 10, 0), fill("s1:AAPL:3", "buy", 10, "100"),
         order(4, account="ACC2"))
    return eng


def test_halt_cancels_the_open_orders_in_the_same_batch_and_rejects_every_later_order() -> None:
    eng = _working_account()

    emits = feed(eng, command("halt", "c-1", HALT_TS))

    assert [(e.topic, e.key) for e in emits] == [
        ("logic.order.cancels", "AAPL"), ("logic.order.cancels", "MSFT"),
        ("logic.risk.alerts", "ACC1")]
    assert [(c.cancel_id, c.order_id, c.account, c.symbol, c.ts_event, c.reason)
            for c in cancels(emits)] == [
        (f"s1:{s}:{n}:cancel:c-1", f"s1:{s}:{n}", "ACC1", s, HALT_TS,
         "account ACC1 halted by c-1 (test): desk limit") for s, n in (("AAPL", 1), ("MSFT", 2))]
    [(key, alert)] = alerts(emits)
    assert (alert.alert_id, alert.kind, alert.state, alert.severity, alert.symbol,
            alert.ts_event, alert.values) == (
        f"trading_state:ACC1:{HALT_TS}:c-1", "trading_state", "raised", "critical", None,
        HALT_TS, {"open_orders_canceled": 2})
    assert alert.message == ("account ACC1: ACTIVE -> HALTED by c-1 (test): desk limit; 2 "
                             "open orders canceled")
    halted = "risk: trading_state: account ACC1 is HALTED (c-1: desk limit)"
    later = verdicts(feed(eng, order(5, ts=HALT_TS + 1), order(6, "sell", ts=HALT_TS + 1),
                          order(7, ts=HALT_TS + 1, account="ACC2")))
    assert later == {"s1:AAPL:5": halted, "s1:AAPL:6": halted, "s1:AAPL:7": "approved"}


def test_a_second_halt_cancels_what_still_works_and_changes_no_state() -> None:
    eng = _working_account()
    feed(eng, command("halt", "c-1"), order_event("s1:AAPL:1", 3, "canceled", 0, 0))

    emits = feed(eng, command("halt", "c-2"))

    assert [c.cancel_id for c in cancels(emits)] == ["s1:MSFT:2:cancel:c-2"]
    assert alerts(emits) == []


def test_reducing_lets_only_reduces_through_and_resume_clears_the_episode() -> None:
    # Arrange: long 10 AAPL, halted, then reducing (the canceled buy of 10 works until the
    # venue says it is canceled)
    eng = _working_account()
    feed(eng, command("halt", "c-1", T0))
    reduce = feed(eng, command("reduce", "c-2", T0 + 1, reason="wind down"))

    # Act
    got = verdicts(feed(eng, order(5, "sell", 10), order(6, "sell", 1), order(7)))
    resume = feed(eng, command("resume", "c-3", T0 + 2, reason="all clear"))
    after = verdict(eng, order(8))
    again = feed(eng, command("halt", "c-4", T0 + 3))

    # Assert
    episode = f"trading_state:ACC1:{T0}:c-1"
    assert [(a.alert_id, a.state, a.severity, a.message) for _, a in alerts(reduce)] == [
        (episode, "raised", "warning", "account ACC1: HALTED -> REDUCING by c-2 (test): wind "
         "down")]
    assert cancels(reduce) == []
    assert got == {
        "s1:AAPL:5": "approved",
        "s1:AAPL:6": "risk: trading_state: account ACC1 is REDUCING (c-2: wind down): the "
                     "order is not a reduce (position 10, working sells 10, order sell 1)",
        "s1:AAPL:7": "risk: trading_state: account ACC1 is REDUCING (c-2: wind down): the "
                     "order is not a reduce (position 10, working buys 10, order buy 10)"}
    assert [(a.alert_id, a.state, a.severity) for _, a in alerts(resume)] == [
        (episode, "cleared", "info")]
    assert after == "approved"
    assert [a.alert_id for _, a in alerts(again)] == [f"trading_state:ACC1:{T0 + 3}:c-4"]


def test_the_trading_state_survives_a_restart() -> None:
    eng = _working_account()
    feed(eng, command("halt", "c-1"))
    restarted = engine()
    for key in eng.keys():  # noqa: SIM118 (an engine)
        restarted.restore(key, json.loads(json.dumps(eng.snapshot(key))))

    assert verdict(restarted, order(5)) == (
        "risk: trading_state: account ACC1 is HALTED (c-1: desk limit)")
    assert [c.order_id for c in cancels(feed(restarted, command("halt", "c-2")))] == [
        "s1:AAPL:1", "s1:MSFT:2"]


def test_a_redelivered_order_is_ignored() -> None:
    eng = engine(max_quantity_per_order=5)

    first = feed(eng, order(1), order(2, quantity=5))
    again = feed(eng, order(1), order(2, quantity=5))

    assert verdicts(first) == {"s1:AAPL:1": "risk: max_quantity_per_order: quantity 10 > "
                                            "limit 5 for AAPL", "s1:AAPL:2": "approved"}
    assert again == []
