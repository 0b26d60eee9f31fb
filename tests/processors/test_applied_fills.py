"""A fill delivered twice is applied once: the kit's memory of applied executions, and the
portfolio and a strategy that read market.executions (at-least-once delivery: a worker killed
between publishing a fill and saving its state publishes the same fill again)."""

from __future__ import annotations

from decimal import Decimal

from processors.kit.applied import AppliedFills
from tests.processors.strategies.events import bar, fill, minute, order_event, strategy_engine
from tests.processors.strategies.events import feed as feed_strategy
from tests.processors.test_portfolio import engine as portfolio_engine
from tests.processors.test_portfolio import feed as feed_portfolio
from tests.processors.test_portfolio import fill as portfolio_fill


def test_an_orders_executions_count_once_each_and_other_ids_are_remembered_as_they_are() -> None:
    applied = AppliedFills(capacity=2)

    firsts = [applied.first_time(e, o) for e, o in [
        ("s:AAPL:1-1", "s:AAPL:1"), ("s:AAPL:1-2", "s:AAPL:1"), ("s:AAPL:1-2", "s:AAPL:1"),
        ("s:AAPL:1-1", "s:AAPL:1"), ("IB-0001", "ib-order"), ("IB-0001", "ib-order")]]

    assert firsts == [True, True, False, False, True, False]
    restored = AppliedFills(applied.snapshot(), capacity=2)
    assert not restored.first_time("s:AAPL:1-2", "s:AAPL:1")
    assert restored.first_time("s:AAPL:2-1", "s:AAPL:2")  # the oldest entry goes ...
    assert restored.first_time("s:AAPL:1-1", "s:AAPL:1")  # ... and is forgotten


def test_the_portfolio_applies_a_redelivered_fill_once() -> None:
    once, twice = portfolio_engine(), portfolio_engine()
    first = portfolio_fill(1, "buy", 100, "10.00", "1.00")

    feed_portfolio(once, first)
    emits = feed_portfolio(twice, first, first)

    assert len(emits) == 2  # one position and one snapshot, for the first delivery only
    assert twice.snapshot("ACC")["holdings"] == once.snapshot("ACC")["holdings"]
    assert Decimal(twice.snapshot("ACC")["cash"]) == Decimal(1_000_000) - 1_000 - 1


def test_a_restored_portfolio_still_knows_the_fills_it_applied() -> None:
    portfolio = portfolio_engine()
    first = portfolio_fill(1, "buy", 100, "10.00")
    feed_portfolio(portfolio, first)
    restarted = portfolio_engine()
    restarted.restore("ACC", portfolio.snapshot("ACC"))

    assert feed_portfolio(restarted, first) == []
    assert restarted.snapshot("ACC")["holdings"]["AAPL"]["quantity"] == 100


def test_a_strategy_counts_a_redelivered_fill_once() -> None:
    # sma_cross (fast 2, slow 3) goes long 10 at bar 3; its fill is delivered twice. Counted
    # twice, its position would be 20 and it would sell 10 at bar 4 to get back to target.
    strategy = strategy_engine("sma_cross", fast=2, slow=3, quantity=10)
    filled = fill("sma_cross:AAPL:1", "buy", 10, minute(4))

    emits = feed_strategy(strategy, [
        bar(1, "10"), bar(2, "11"), bar(3, "12"), filled, filled,
        order_event("sma_cross:AAPL:1", "filled", 10, 0, minute(4)), bar(4, "13")])

    assert [e.value.side for e in emits if e.topic == "logic.orders"] == ["buy"]
