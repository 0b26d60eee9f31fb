"""`sma_cross` on hand-computed bar sequences: exact orders (ids, sides, quantities, event
times) and signals, from the definition in issue 13 (fast=2, slow=3, quantity=10):

    bar  close  SMA(2)  SMA(3)   target (allow_short false / true)
    1    10     -       -        -
    2    11     10.5    -        -
    3    12     11.5    11       +10 -> buy 10          (order 1)
    4    13     12.5    12       +10, order 1 open or filled: nothing
    5    11     12      12       equal: +10 kept, nothing
    6    8      9.5     10.67    0 -> sell 10 / -10 -> sell 20   (order 2)
"""

from __future__ import annotations

import itertools

import pytest

from tests.processors.strategies.events import (
    bar,
    feed,
    fill,
    minute,
    order_event,
    orders,
    signals,
    strategy_engine,
)

PARAMS = {"fast": 2, "slow": 3, "quantity": 10}
CLOSES = ["10", "11", "12", "13", "11", "8"]


def _filled_at_bar_4() -> list:
    """Order 1 filled at the open of bar 4 (the fill's ts_event is bar 4's)."""
    return [fill("sma_cross:AAPL:1", "buy", 10, minute(4)),
            order_event("sma_cross:AAPL:1", "filled", 10, 0, minute(4))]


@pytest.mark.parametrize(("allow_short", "last"), [
    (False, ("sma_cross:AAPL:2", "sell", 10, minute(6))),
    (True, ("sma_cross:AAPL:2", "sell", 20, minute(6))),
])
def test_orders_follow_the_target_and_equal_smas_keep_it(
    allow_short: bool, last: tuple
) -> None:
    engine = strategy_engine("sma_cross", allow_short=allow_short, **PARAMS)
    bars = [bar(m, close) for m, close in enumerate(CLOSES, start=1)]

    emits = feed(engine, [*bars[:4], *_filled_at_bar_4(), *bars[4:]])

    assert orders(emits) == [("sma_cross:AAPL:1", "buy", 10, minute(3)), last]
    assert signals(emits) == [("sma_cross:AAPL:signal-1", 1, minute(3)),
                              ("sma_cross:AAPL:signal-2", -1 if allow_short else 0, minute(6))]
    order = emits[[e.topic for e in emits].index("logic.orders")].value
    assert (order.account, order.order_type, order.time_in_force, order.strategy) == (
        "paper", "market", "GTC", "sma_cross")


def test_a_pending_order_counts_so_no_duplicate_is_sent() -> None:
    # order 1 is never filled: bars 4 and 5 want +10 too, and it already covers them
    engine = strategy_engine("sma_cross", **PARAMS)

    emits = feed(engine, [bar(m, close) for m, close in enumerate(CLOSES[:5], start=1)])

    assert orders(emits) == [("sma_cross:AAPL:1", "buy", 10, minute(3))]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_a_fill_before_or_after_the_bar_of_its_instant_gives_the_same_orders(
    order: tuple[int, ...]
) -> None:
    # bar 4, order 1's execution and its `filled` event share ts_event; any order of the three
    engine = strategy_engine("sma_cross", **PARAMS)
    bars = [bar(m, close) for m, close in enumerate(CLOSES, start=1)]
    instant = [bars[3], *_filled_at_bar_4()]

    emits = feed(engine, [*bars[:3], *(instant[i] for i in order), *bars[4:]])

    assert orders(emits) == [("sma_cross:AAPL:1", "buy", 10, minute(3)),
                             ("sma_cross:AAPL:2", "sell", 10, minute(6))]


def test_a_partly_filled_order_canceled_leaves_the_rest_to_order_again() -> None:
    # order 1 fills 4 of 10, then is canceled: bar 4 still wants +10, so it buys the 6 missing
    engine = strategy_engine("sma_cross", **PARAMS)
    events = [bar(1, "10"), bar(2, "11"), bar(3, "12"),
              order_event("sma_cross:AAPL:1", "partially_filled", 4, 6, minute(3) + 1, n=1),
              order_event("sma_cross:AAPL:1", "canceled", 4, 0, minute(3) + 2, n=2),
              bar(4, "13"),
              fill("sma_cross:AAPL:1", "buy", 4, minute(4) + 1), bar(5, "13.5")]

    emits = feed(engine, events)

    assert orders(emits) == [("sma_cross:AAPL:1", "buy", 10, minute(3)),
                             ("sma_cross:AAPL:2", "buy", 6, minute(4))]


def test_symbols_keep_their_own_targets_and_order_ids() -> None:
    engine = strategy_engine("sma_cross", account="acc-7", **PARAMS)
    events = [bar(m, close, symbol) for m, close in enumerate(CLOSES[:3], start=1)
              for symbol in ("AAPL", "MSFT")]
    events += [bar(4, "1", "MSFT")]  # MSFT: SMA(2) 6.5 < SMA(3) 8: flat again

    emits = feed(engine, events)

    assert orders(emits) == [("sma_cross:AAPL:1", "buy", 10, minute(3)),
                             ("sma_cross:MSFT:1", "buy", 10, minute(3)),
                             ("sma_cross:MSFT:2", "sell", 10, minute(4))]
    assert {e.value.account for e in emits if e.topic == "logic.orders"} == {"acc-7"}


def test_fast_must_be_below_slow() -> None:
    with pytest.raises(ValueError, match="fast"):
        strategy_engine("sma_cross", fast=3, slow=3, quantity=1)
