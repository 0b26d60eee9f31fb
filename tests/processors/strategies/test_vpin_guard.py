"""`vpin_guard` on hand-computed bar sequences (quantity=10, bb_period=4, bb_dev=1,
cdf_threshold=0.9). Bands over the last 4 closes, population standard deviation:

    bar  close  window         middle  std                   lower    action
    4    12     10 12 10 12    11      1                     10       12 >= 10: none
    5    7      12 10 12 7     10.25   sqrt(4.1875) = 2.046  8.204    7 < lower: buy 10
    6    11     10 12 7 11     10      sqrt(3.5)    = 1.871  8.129    11 >= middle: sell 10
    7    5      12 7 11 5      8.75    sqrt(8.1875) = 2.861  5.889    5 < lower: buy 10
"""

from __future__ import annotations

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
    vpin,
)

PARAMS = {"quantity": 10, "bb_period": 4, "bb_dev": 1.0}
CLOSES = ["10", "12", "10", "12", "7", "11", "5"]


def _bars(*numbers: int) -> list:
    return [bar(m, CLOSES[m - 1]) for m in numbers]


def test_it_buys_below_the_lower_band_and_sells_back_at_the_middle() -> None:
    engine = strategy_engine("vpin_guard", **PARAMS)

    emits = feed(engine, _bars(1, 2, 3, 4, 5, 6))

    assert orders(emits) == [("vpin_guard:AAPL:1", "buy", 10, minute(5)),
                             ("vpin_guard:AAPL:2", "sell", 10, minute(6))]
    assert signals(emits) == [("vpin_guard:AAPL:signal-1", 1, minute(5)),
                              ("vpin_guard:AAPL:signal-2", 0, minute(6))]


def test_no_entry_while_the_vpin_cdf_is_at_or_above_the_threshold() -> None:
    # toxic before bar 5 (no entry there), calm again before bar 7 (entry there)
    engine = strategy_engine("vpin_guard", **PARAMS)
    events = [*_bars(1, 2, 3, 4), vpin(minute(4) + 1, 0.9), *_bars(5, 6),
              vpin(minute(6) + 1, 0.5), *_bars(7)]

    emits = feed(engine, events)

    assert orders(emits) == [("vpin_guard:AAPL:1", "buy", 10, minute(7))]


@pytest.mark.parametrize("filled", [True, False], ids=["position", "pending order"])
def test_crossing_the_threshold_flattens_once(filled: bool) -> None:
    engine = strategy_engine("vpin_guard", **PARAMS)
    fills = [fill("vpin_guard:AAPL:1", "buy", 10, minute(6)),
             order_event("vpin_guard:AAPL:1", "filled", 10, 0, minute(6))] if filled else []
    events = [vpin(minute(1), 0.3), *_bars(1, 2, 3, 4, 5), *fills,
              vpin(minute(6) + 1, 0.92), vpin(minute(6) + 2, 0.97), *_bars(6, 7)]

    emits = feed(engine, events)

    assert orders(emits) == [("vpin_guard:AAPL:1", "buy", 10, minute(5)),
                             ("vpin_guard:AAPL:2", "sell", 10, minute(6) + 1)]
    assert signals(emits) == [("vpin_guard:AAPL:signal-1", 1, minute(5)),
                              ("vpin_guard:AAPL:signal-2", 0, minute(6) + 1)]


def test_a_reading_without_a_cdf_changes_nothing() -> None:
    engine = strategy_engine("vpin_guard", **PARAMS)

    emits = feed(engine, [vpin(minute(1), 0.95), vpin(minute(2), None), *_bars(1, 2, 3, 4, 5)])

    assert orders(emits) == []
