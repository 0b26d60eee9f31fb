"""The execution engine's paper venue (processors/execution): order states, fill models, fees,
venue time, idempotence and snapshot/restore, each against hand-computed answers.

Known answers: NautilusTrader's order states (submitted -> accepted | rejected -> partially_filled
-> filled | canceled | expired); backtrader's market fill at the next bar's open; book walks and
fees computed by hand from the issue's definitions (fee = price * quantity * bps / 1e4).
"""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from tests.factories import T0, columns
from tests.processors.execution_events import (
    MIDNIGHT,
    MINUTE_NS,
    MS_NS,
    SECOND_NS,
    bar,
    book,
    engine,
    executions,
    feed,
    fills,
    limit,
    order,
    order_events,
    states,
    trade,
)

# ---- the order state machine -------------------------------------------------------------


def test_a_resting_limit_goes_accepted_partially_filled_filled() -> None:
    # Arrange: 10 offered at the limit, the next level above it
    eng = engine(fee_bps="2", maker_fee_bps="1")
    market = book(T0, bids=[("99.90", 10)], asks=[("100.00", 10), ("100.50", 100)])

    # Act: the order takes the 10, rests; trades at/through the limit fill it, one above not
    out = feed(eng, market, limit(quantity=25, price="100.00"),
               trade(T0 + SECOND_NS, "100.00", 5), trade(T0 + 2 * SECOND_NS, "100.10", 50),
               trade(T0 + 3 * SECOND_NS, "99.95", 50))

    # Assert
    assert states(out) == [
        ("test:AAPL:1#1", "submitted", 0, 25, None, 0),
        ("test:AAPL:1#2", "accepted", 0, 25, None, 0),
        ("test:AAPL:1#3", "partially_filled", 10, 15, D("100"), 0),
        ("test:AAPL:1#4", "partially_filled", 15, 10, D("100"), SECOND_NS),
        ("test:AAPL:1#5", "filled", 25, 0, D("100"), 3 * SECOND_NS),
    ]
    assert fills(out) == [  # taker 2 bps on the walk, maker 1 bp on the resting fills
        ("test:AAPL:1-1", "buy", D("100.00"), 10, D("0.2"), 0),
        ("test:AAPL:1-2", "buy", D("100.00"), 5, D("0.05"), SECOND_NS),
        ("test:AAPL:1-3", "buy", D("100.00"), 10, D("0.1"), 3 * SECOND_NS),
    ]
    assert eng.snapshot("AAPL")["orders"] == []  # closed orders are not kept


def test_ioc_cancels_what_the_book_cannot_fill_at_arrival() -> None:
    eng = engine()
    market = book(T0, bids=[("99.90", 10)], asks=[("100.00", 10), ("100.50", 100)])

    out = feed(eng, market, limit(quantity=25, price="100.00", time_in_force="IOC"),
               trade(T0 + SECOND_NS, "99.00", 100))

    assert [s[1:4] for s in states(out)] == [
        ("submitted", 0, 25), ("accepted", 0, 25), ("partially_filled", 10, 15),
        ("canceled", 10, 0)]
    assert "IOC" in (order_events(out)[-1].reason or "")
    assert [f[2:4] for f in fills(out)] == [(D("100.00"), 10)]


def test_a_market_order_larger_than_the_book_fills_it_and_cancels_the_rest() -> None:
    eng = engine()
    market = book(T0, bids=[("99.90", 10)], asks=[("100.00", 10), ("100.01", 20)])

    out = feed(eng, market, order(quantity=50))

    assert [s[1:4] for s in states(out)][2:] == [
        ("partially_filled", 10, 40), ("partially_filled", 30, 20), ("canceled", 30, 0)]
    assert order_events(out)[-1].reason == "market order: the book held 30 of 50"


@pytest.mark.parametrize("tif", ["DAY", "GTC"])
def test_a_day_order_expires_at_the_end_of_the_utc_day(tif: str) -> None:
    # Arrange: a buy limit at 99 resting from the day's last trade (the trade model)
    eng = engine()
    first = trade(MIDNIGHT - 60 * SECOND_NS, "100.00")
    resting = limit(ts=MIDNIGHT - 30 * SECOND_NS, price="99.00", time_in_force=tif)
    above = trade(MIDNIGHT - 20 * SECOND_NS, "100.00")

    # Act: the next day's first trade prints through the limit
    out = feed(eng, first, resting, above, trade(MIDNIGHT + SECOND_NS, "98.00"))

    # Assert: DAY expires, dated at that trade, before it could fill; GTC fills
    last = order_events(out)[-1]
    if tif == "DAY":
        assert (last.state, last.ts_event, last.leaves_quantity) == (
            "expired", MIDNIGHT + SECOND_NS, 0)
        assert executions(out) == []
    else:
        assert last.state == "filled"
        assert [f[2:4] for f in fills(out)] == [(D("99.00"), 10)]


def test_a_day_order_of_the_bar_model_expires_on_the_first_bar_of_the_next_day() -> None:
    eng = engine()
    resting = limit(ts=MIDNIGHT - MINUTE_NS, price="99.00", time_in_force="DAY")

    out = feed(eng, resting, bar(MIDNIGHT - MINUTE_NS, "100", "100.5", "99.5"),
               bar(MIDNIGHT, "98", "98", "97"))

    assert [(e.state, e.ts_event) for e in order_events(out)][2:] == [
        ("expired", MIDNIGHT + MINUTE_NS)]
    assert executions(out) == []


@pytest.mark.parametrize(("made", "params", "reason"), [
    (lambda: order(order_type="limit"), {}, "limit order without a limit price"),
    (lambda: order(limit_price="100"), {}, "market order with a limit price"),
    (lambda: limit(price="-1"), {}, "limit price must be positive, got -1"),
    (lambda: order(), {"fill_model": "book"}, "fill_model=book but no depth seen for AAPL"),
    (lambda: order(), {"fill_model": "trade"}, "fill_model=trade but no trades seen for AAPL"),
])
def test_the_venue_rejects_with_a_reason(made, params, reason) -> None:  # type: ignore[no-untyped-def]
    eng = engine(**params)

    out = feed(eng, bar(T0 - MINUTE_NS, "100", "101", "99"), made(),
               bar(T0, "100", "101", "99"), trade(T0 + MINUTE_NS, "100"))

    assert [(e.event_id, e.state, e.filled_quantity, e.leaves_quantity, e.reason)
            for e in order_events(out)] == [
        ("test:AAPL:1#1", "submitted", 0, 10, None),
        ("test:AAPL:1#2", "rejected", 0, 0, reason)]
    assert executions(out) == []


# ---- book walks on hand-computed books ---------------------------------------------------

TEN_ASKS = [(f"{D('100.00') + D('0.01') * k}", 10 * (k + 1)) for k in range(10)]
TEN_BIDS = [(f"{D('99.99') - D('0.01') * k}", 10 * (k + 1)) for k in range(10)]


def test_a_market_buy_walks_ten_ask_levels_one_execution_per_level() -> None:
    eng = engine(fee_bps="2")

    out = feed(eng, book(T0, TEN_BIDS, TEN_ASKS), order(quantity=200))

    # 10 + 20 + 30 + 40 + 50 = 150 from five levels, 50 of the sixth's 60; fee = p * q * 2e-4
    assert fills(out) == [
        ("test:AAPL:1-1", "buy", D("100.00"), 10, D("0.2"), 0),
        ("test:AAPL:1-2", "buy", D("100.01"), 20, D("0.40004"), 0),
        ("test:AAPL:1-3", "buy", D("100.02"), 30, D("0.60012"), 0),
        ("test:AAPL:1-4", "buy", D("100.03"), 40, D("0.80024"), 0),
        ("test:AAPL:1-5", "buy", D("100.04"), 50, D("1.0004"), 0),
        ("test:AAPL:1-6", "buy", D("100.05"), 50, D("1.0005"), 0),
    ]
    # (1000 + 2000.2 + 3000.6 + 4001.2 + 5002 + 5002.5) / 200
    assert states(out)[-1][1:5] == ("filled", 200, 0, D("100.0325"))


def test_a_sell_limit_takes_the_bids_at_or_above_its_limit_and_rests() -> None:
    eng = engine(fee_bps="1")

    out = feed(eng, book(T0, TEN_BIDS, TEN_ASKS),
               limit(quantity=120, price="99.96", side="sell"),
               book(T0 + SECOND_NS, TEN_BIDS, TEN_ASKS),  # a new book: resting does not walk
               trade(T0 + 2 * SECOND_NS, "99.97", 15))

    assert fills(out) == [
        ("test:AAPL:1-1", "sell", D("99.99"), 10, D("0.09999"), 0),
        ("test:AAPL:1-2", "sell", D("99.98"), 20, D("0.19996"), 0),
        ("test:AAPL:1-3", "sell", D("99.97"), 30, D("0.29991"), 0),
        ("test:AAPL:1-4", "sell", D("99.96"), 40, D("0.39984"), 0),
        ("test:AAPL:1-5", "sell", D("99.96"), 15, D("0"), 2 * SECOND_NS),  # maker, 0 bps
    ]
    assert states(out)[-1][1:4] == ("partially_filled", 115, 5)


def test_our_takes_leave_the_book_until_a_newer_snapshot() -> None:
    eng = engine()
    feed(eng, book(T0, TEN_BIDS, TEN_ASKS), order(1, quantity=25))

    out = feed(eng, order(2, quantity=10))

    # the first order took 10 at 100.00 and 15 of 20 at 100.01: 5 are left there
    assert [f[2:4] for f in fills(out)] == [(D("100.01"), 5), (D("100.02"), 5)]


# ---- bar fills ---------------------------------------------------------------------------


@pytest.mark.parametrize("bar_first", [True, False], ids=["bar then order", "order then bar"])
def test_a_market_order_fills_at_the_next_bars_open_slipped_with_fee(bar_first: bool) -> None:
    # Arrange: the order is decided at the end of bar 0 (its ts_event, the start of bar 1)
    eng = engine(slippage_bps="5", fee_bps="1")
    bar0 = bar(T0 - MINUTE_NS, "99.00", "99.50", "98.50")
    buy, sell = order(1), order(2, side="sell", symbol="MSFT", order_id="test:MSFT:2")
    first = [bar0, bar(T0 - MINUTE_NS, "199", "199", "199", symbol="MSFT"), buy, sell]
    if not bar_first:
        first = [buy, sell, *first[:2]]

    # Act
    out = feed(eng, *first, bar(T0, "100.00", "101.00", "99.00"),
               bar(T0, "200.00", "201.00", "199.00", symbol="MSFT"))

    # Assert: 100 * 1.0005 = 100.05, fee 100.05 * 10 * 1e-4; 200 * 0.9995 = 199.9
    assert fills(out) == [
        ("test:AAPL:1-1", "buy", D("100.05"), 10, D("0.10005"), MINUTE_NS),
        ("test:MSFT:2-1", "sell", D("199.9"), 10, D("0.1999"), MINUTE_NS),
    ]


def test_limit_orders_fill_when_the_bar_range_reaches_them() -> None:
    eng = engine(slippage_bps="10", fee_bps="2", maker_fee_bps="1")
    buy = limit(1, price="99.50")
    sell = limit(2, price="100.00", side="sell")  # marketable at the next open
    ioc = limit(3, price="99.50", time_in_force="IOC")

    out = feed(eng, buy, sell, ioc, bar(T0, "100.50", "100.60", "99.60"),
               bar(T0 + MINUTE_NS, "99.80", "100.00", "99.40"))

    assert fills(out) == [
        # the open 100.50 slipped 10 bps: 100.3995 (above the limit), taker 2 bps
        ("test:AAPL:2-1", "sell", D("100.3995"), 10, D("0.200799"), MINUTE_NS),
        # the second bar's low reaches 99.50: filled at the limit, maker 1 bp
        ("test:AAPL:1-1", "buy", D("99.50"), 10, D("0.0995"), 2 * MINUTE_NS),
    ]
    ioc_events = [e for e in order_events(out) if e.order_id == "test:AAPL:3"]
    assert [(e.state, e.ts_event - T0) for e in ioc_events][-1] == ("canceled", MINUTE_NS)


# ---- venue time: latency, receipt, no look-ahead -----------------------------------------


def test_a_trade_fill_is_the_first_trade_at_or_after_the_venue_time() -> None:
    eng = engine(latency_ms=100, slippage_bps="2")

    out = feed(eng, trade(T0, "99.00"), order(ts=T0), trade(T0 + 50 * MS_NS, "100.00"),
               trade(T0 + 100 * MS_NS, "101.00"), trade(T0 + 100 * MS_NS, "102.00"))

    assert [(s[1], s[5]) for s in states(out)] == [
        ("submitted", 0), ("accepted", 100 * MS_NS), ("filled", 100 * MS_NS)]
    assert fills(out) == [("test:AAPL:1-1", "buy", D("101.0202"), 10, D("0"), 100 * MS_NS)]


def test_a_trade_at_the_venue_time_fills_whichever_arrives_first() -> None:
    before = feed(engine(), trade(T0 - 1, "98.00"), trade(T0, "99.00"), trade(T0, "99.50"),
                  order(ts=T0))
    after = feed(engine(), trade(T0 - 1, "98.00"), order(ts=T0), trade(T0, "99.00"),
                 trade(T0, "99.50"))

    assert fills(before) == fills(after) == [("test:AAPL:1-1", "buy", D("99.00"), 10, D("0"), 0)]


def test_no_fill_against_a_book_before_the_venue_time() -> None:
    eng = engine(latency_ms=50)

    out = feed(eng, book(T0, [("99", 10)], [("100.00", 100)]), order(ts=T0),
               book(T0 + 10 * MS_NS, [("99", 10)], [("100.10", 100)]),
               book(T0 + 60 * MS_NS, [("99", 10)], [("100.20", 100)]))

    assert fills(out) == [("test:AAPL:1-1", "buy", D("100.20"), 10, D("0"), 60 * MS_NS)]


def test_no_bar_fill_from_a_bar_that_opened_before_the_venue_time() -> None:
    eng = engine(latency_ms=1)

    out = feed(eng, order(ts=T0), bar(T0, "100", "100", "100"),
               bar(T0 + MINUTE_NS, "101", "101", "101"))

    assert fills(out) == [("test:AAPL:1-1", "buy", D("101"), 10, D("0"), 2 * MINUTE_NS)]


def test_an_order_received_late_is_at_the_venue_from_its_receipt() -> None:
    # the engine has seen the market at T0 + 5 s when an order dated T0 arrives
    eng = engine()

    out = feed(eng, trade(T0 + 2 * SECOND_NS, "99.00"), book(T0 + 5 * SECOND_NS, [("99", 5)],
               [("100", 5)]), order(ts=T0, quantity=5))

    assert [(s[1], s[5]) for s in states(out)] == [
        ("submitted", 5 * SECOND_NS), ("accepted", 5 * SECOND_NS), ("filled", 5 * SECOND_NS)]
    assert [f[2:4] for f in fills(out)] == [(D("100"), 5)]


# ---- idempotence, snapshot / restore -----------------------------------------------------


def test_a_re_delivered_order_is_never_filled_twice_even_after_a_restore() -> None:
    eng = engine()
    market = book(T0, [("99", 100)], [("100", 100)])
    first = feed(eng, market, order(1), order(1), limit(2, price="90"),
                 order(order_id="o-1"), order(order_id="o-1"))
    saved = {k: json.loads(json.dumps(eng.snapshot(k))) for k in eng.keys()}  # noqa: SIM118
    restored = engine()
    for key, state in saved.items():
        restored.restore(key, state)

    again = feed(restored, order(1), limit(2, price="90"), order(order_id="o-1"),
                 book(T0 + SECOND_NS, [("99", 100)], [("100", 100)]))

    assert [x.exec_id for x in executions(first)] == ["test:AAPL:1-1", "o-1-1"]
    assert again == []


def test_a_restored_engine_finishes_a_part_filled_order_as_the_uninterrupted_one() -> None:
    start = [book(T0, [("99.90", 10)], [("100.00", 10), ("100.50", 100)]),
             limit(quantity=25, price="100.00", time_in_force="DAY")]
    rest = [trade(T0 + SECOND_NS, "100.00", 5), trade(T0 + 3 * SECOND_NS, "99.95", 50)]
    whole = feed(engine(maker_fee_bps="1"), *start, *rest)
    before = engine(maker_fee_bps="1")
    head = feed(before, *start)
    after = engine(maker_fee_bps="1")
    for key in before.keys():  # noqa: SIM118
        after.restore(key, json.loads(json.dumps(before.snapshot(key))))

    tail = feed(after, *rest)

    assert [e.value for e in head + tail] == [e.value for e in whole]
    assert states(tail)[-1][1] == "filled"


# ---- quiet rows: what the replay graph may batch (streams/graph.py) -----------------------


def test_market_data_is_quiet_only_for_symbols_where_an_order_works() -> None:
    # Arrange: a buy limit at 99 rests on AAPL (its first trade, 100, is above the limit)
    eng = engine()
    feed(eng, trade(T0, "100.00"), limit(ts=T0, price="99.00"))
    tape = columns("Trade", [trade(T0 + SECOND_NS, "100.50"),
                             trade(T0 + SECOND_NS, "50.00", symbol="MSFT")])
    bars = columns("Bar", [bar(T0, "100.00", "100.50", "99.50"),
                           bar(T0, "50.00", "50.50", "49.50", symbol="MSFT")])

    # Assert: AAPL's data can fill the order, MSFT's cannot; orders are never quiet
    assert eng.quiet_rows("market.trades", tape).tolist() == [False, True]
    assert eng.quiet_rows("market.bars.1m", bars).tolist() == [False, True]
    assert eng.quiet_rows("logic.orders.approved",
                          columns("ApprovedOrder", [order(2)])).tolist() == [False]
    assert eng.process("market.trades", {k: v[1:] for k, v in tape.items()}) == []

    # Act: a trade through the limit fills it; then AAPL's data is quiet too
    filled = feed(eng, trade(T0 + 2 * SECOND_NS, "98.00"))

    assert [s[1] for s in states(filled)] == ["filled"]
    assert eng.quiet_rows("market.trades", tape).tolist() == [True, True]
