"""The paper venue's cancels (logic.order.cancels, pre-trade risk's halt): a working order is
canceled with the request's reason and fills no more; a cancel of an order that no longer
works changes nothing, however often it is delivered; one that comes before its order (the
two topics arrive independently in a worker) cancels it on arrival."""

from __future__ import annotations

import json

from tests.factories import T0, columns
from tests.processors.execution_events import (
    MINUTE_NS,
    SECOND_NS,
    bar,
    cancel,
    engine,
    feed,
    fills,
    limit,
    order,
    order_events,
    states,
    trade,
)

HALTED = "account paper halted by c-1 (cli): desk limit"


def test_a_working_limit_is_canceled_with_the_reason_and_fills_no_more() -> None:
    # Arrange: a buy limit at 99 rests (the first trade, 100, is above it)
    eng = engine()
    feed(eng, trade(T0, "100.00"), limit(ts=T0, price="99.00"),
         trade(T0 + 2 * SECOND_NS, "100.00"))

    # Act: the cancel is dated before the newest trade the venue has seen
    out = feed(eng, cancel(ts=T0 + SECOND_NS, reason=HALTED),
               trade(T0 + 3 * SECOND_NS, "98.00"))

    # Assert: canceled when the venue has it (its newest data: T0 + 2 s), no fill after
    assert states(out) == [("test:AAPL:1#3", "canceled", 0, 0, None, 2 * SECOND_NS)]
    assert order_events(out)[0].reason == HALTED
    assert eng.snapshot("AAPL")["orders"] == []


def test_a_cancel_delivered_again_or_of_a_filled_order_changes_nothing() -> None:
    eng = engine()
    feed(eng, trade(T0, "100.00"), limit(1, ts=T0, price="99.00"), order(2, ts=T0),
         trade(T0 + SECOND_NS, "100.00"))  # order 2 fills at this trade
    first = feed(eng, cancel(1, T0 + 2 * SECOND_NS))
    state = eng.snapshot("AAPL")

    again = feed(eng, cancel(1, T0 + 2 * SECOND_NS), cancel(2, T0 + 2 * SECOND_NS),
                 cancel(1, T0 + 3 * SECOND_NS, command="c-2"))

    assert [s[:2] for s in states(first)] == [("test:AAPL:1#3", "canceled")]
    assert again == []
    assert eng.snapshot("AAPL") == state


def test_a_bar_model_market_order_between_bars_is_canceled_before_the_next_open() -> None:
    eng = engine(fill_model="bar")
    feed(eng, bar(T0, "100.00", "100.50", "99.50"), order(ts=T0 + MINUTE_NS))

    out = feed(eng, cancel(ts=T0 + MINUTE_NS + SECOND_NS),
               bar(T0 + MINUTE_NS, "100.20", "100.90", "100.10"))

    assert [s[1] for s in states(out)] == ["canceled"]
    assert fills(out) == []


def test_a_cancel_before_its_order_cancels_the_order_on_arrival() -> None:
    # Arrange: the cancel comes first, and survives a restart of the engine
    eng = engine(latency_ms=250)
    assert feed(eng, trade(T0, "100.00"), cancel(ts=T0 + SECOND_NS, reason=HALTED)) == []
    restarted = engine(latency_ms=250)
    restarted.restore("AAPL", json.loads(json.dumps(eng.snapshot("AAPL"))))

    # Act
    out = feed(restarted, limit(ts=T0, price="101.00"), trade(T0 + 2 * SECOND_NS, "100.00"),
               cancel(ts=T0 + SECOND_NS, reason=HALTED))

    # Assert: submitted and accepted at the venue, canceled there with the reason, no fill
    assert states(out) == [
        ("test:AAPL:1#1", "submitted", 0, 10, None, 0),
        ("test:AAPL:1#2", "accepted", 0, 10, None, 250_000_000),
        ("test:AAPL:1#3", "canceled", 0, 0, None, SECOND_NS)]
    assert order_events(out)[-1].reason == HALTED
    assert fills(out) == []
    assert restarted.snapshot("AAPL")["early_cancels"] == {}


def test_cancels_are_never_quiet() -> None:
    assert engine().quiet_rows("logic.order.cancels",
                               columns("CancelRequest", [cancel()])).tolist() == [False]
