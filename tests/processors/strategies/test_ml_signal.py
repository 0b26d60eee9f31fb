"""`ml_signal` on hand-made predictions (threshold 0.001, quantity 10):

    minute  forecast  target (allow_short false / true)
    1       0.002     +10 -> buy 10                        (order 1, filled at minute 2)
    2       0.0005    0 (inside the threshold) -> sell 10  (order 2)
    3       -0.003    0 / -10 -> nothing / sell 10         (order 3 when short)

Predictions of another model are ignored when `model` is set, and only a strategy that
handles predictions reads the topic.
"""

from __future__ import annotations

import pytest

from processors import ENGINES
from streams.schema import Prediction
from tests.factories import event
from tests.processors.strategies.events import (
    feed,
    fill,
    minute,
    order_event,
    orders,
    signals,
    strategy_engine,
)


def prediction(m: int, value: float, model: str = "m") -> Prediction:
    return event("Prediction", ts_event=minute(m), ts_init=minute(m),
                 prediction_id=f"{model}:1:AAPL:{m}", model=model, symbol="AAPL",
                 value=value)  # type: ignore[return-value]


FILLED = [fill("ml_signal:AAPL:1", "buy", 10, minute(2)),
          order_event("ml_signal:AAPL:1", "filled", 10, 0, minute(2))]


@pytest.mark.parametrize(("allow_short", "expected"), [
    (False, [("ml_signal:AAPL:1", "buy", 10, minute(1)),
             ("ml_signal:AAPL:2", "sell", 10, minute(2))]),
    (True, [("ml_signal:AAPL:1", "buy", 10, minute(1)),
            ("ml_signal:AAPL:2", "sell", 10, minute(2)),
            ("ml_signal:AAPL:3", "sell", 10, minute(3))]),
])
def test_positions_follow_the_forecast_against_the_threshold(
    allow_short: bool, expected: list
) -> None:
    engine = strategy_engine("ml_signal", threshold=0.001, quantity=10, allow_short=allow_short)
    emits = feed(engine, [prediction(1, 0.002), *FILLED, prediction(2, 0.0005),
                          order_event("ml_signal:AAPL:2", "filled", 10, 0, minute(3)),
                          fill("ml_signal:AAPL:2", "sell", 10, minute(3)),
                          prediction(3, -0.003)])
    assert orders(emits) == expected
    assert [d for _, d, _ in signals(emits)] == ([1, 0, -1] if allow_short else [1, 0])


def test_predictions_of_another_model_are_ignored() -> None:
    engine = strategy_engine("ml_signal", model="m", threshold=0.0, quantity=10)
    assert orders(feed(engine, [prediction(1, 0.01, model="other")])) == []
    assert orders(feed(engine, [prediction(2, 0.01)])) == [("ml_signal:AAPL:1", "buy", 10,
                                                             minute(2))]


def test_only_strategies_that_handle_predictions_read_them() -> None:
    assert "logic.predictions" in ENGINES["ml_signal"].inputs
    assert "logic.predictions" not in ENGINES["sma_cross"].inputs
