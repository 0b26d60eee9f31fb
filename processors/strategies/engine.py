"""A Strategy as an engine of the graph (processors/base.py): one class per strategy.

`engine_class(SmaCross)` is the engine that runs `SmaCross`, one instance per symbol, on
market.bars.1m, logic.features, logic.vpin and the strategy's own order events and executions
(order id prefix `<strategy>:`), and logic.predictions when the strategy overrides
`on_prediction` (only then: other strategies' workers do not read the topic), publishing
logic.signals and logic.orders, keyed by symbol.
Rows are handed to the symbol's strategy one at a time in arrival order, so outputs do not
depend on batching; its state (the strategy's `on_save`, its position, orders and id
counters) snapshots per symbol.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel

from processors.base import Columns, Emit, Engine, State, handles
from processors.strategies.rows import RowModels
from processors.strategies.strategy import (
    ORDERS_TOPIC,
    SIGNALS_TOPIC,
    EventClock,
    Strategy,
    StrategyParams,
    _Session,
)
from streams.clock import Clock
from streams.schema import Bar, Execution, FeatureVector, OrderEvent, Prediction, VpinReading

if TYPE_CHECKING:
    import torch

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
_BARS, _FEATURES, _VPIN = RowModels("Bar"), RowModels("FeatureVector"), RowModels("VpinReading")
_ORDER_EVENTS, _EXECUTIONS = RowModels("OrderEvent"), RowModels("Execution")
_PREDICTIONS = RowModels("Prediction")
_MARKET_CALLBACKS = {"market.bars.1m": "on_bar", "logic.features": "on_features",
                     "logic.vpin": "on_vpin", "logic.predictions": "on_prediction"}
_MADE: dict[type[Strategy], type[StrategyEngine]] = {}  # strategy -> its engine class


class StrategyEngine(Engine):
    """Runs `strategy`, one instance per symbol. Made per strategy by `engine_class`."""

    strategy: ClassVar[type[Strategy]]
    outputs = (SIGNALS_TOPIC, ORDERS_TOPIC)
    key_field = "symbol"

    def __init__(self, params: BaseModel, clock: Clock, device: torch.device) -> None:
        super().__init__(params, clock, device)
        self._event_clock = EventClock()
        self._session = _Session(self.name, self._event_clock, clock)
        self._running: dict[str, Strategy] = {}
        self._last_ts: dict[str, int] = {}
        self._prefix = f"{self.name}:"
        # market topics whose callback the strategy leaves to the base class (a no-op)
        self._ignored = {topic for topic, callback in _MARKET_CALLBACKS.items()
                         if getattr(self.strategy, callback) is getattr(Strategy, callback)}

    # ---- inputs ---------------------------------------------------------------------------

    @handles("market.bars.1m")
    def on_bars(self, columns: Columns) -> list[Emit]:
        return self._market("market.bars.1m", columns, _BARS, _bar)

    @handles("logic.features")
    def on_features(self, columns: Columns) -> list[Emit]:
        return self._market("logic.features", columns, _FEATURES, _features)

    @handles("logic.vpin")
    def on_vpin(self, columns: Columns) -> list[Emit]:
        return self._market("logic.vpin", columns, _VPIN, _vpin)

    def quiet_rows(self, topic: str, columns: Columns) -> np.ndarray:
        """Rows of a market topic whose callback the strategy does not override, of symbols
        it already runs (no `on_start` due): they only move the symbol's last event time."""
        if topic not in self._ignored:
            return np.zeros(len(columns["ts_event"]), dtype=bool)
        running = self._running
        return np.fromiter((symbol in running for symbol in columns["symbol"].tolist()),
                           dtype=bool, count=len(columns["symbol"]))

    def _market(self, topic: str, columns: Columns, models: RowModels,
                callback: Callable[[Strategy, Any], None]) -> list[Emit]:
        """Market rows to the strategy; no model is built for a callback it does not
        override."""
        return self._each(columns, range(len(columns["symbol"])), models,
                          None if topic in self._ignored else callback)

    @handles("logic.order.events")
    def on_order_events(self, columns: Columns) -> list[Emit]:
        return self._each(columns, self._own(columns), _ORDER_EVENTS, _order_event)

    @handles("market.executions")
    def on_executions(self, columns: Columns) -> list[Emit]:
        return self._each(columns, self._own(columns), _EXECUTIONS, _fill)

    def _own(self, columns: Columns) -> list[int]:
        """The rows of the strategy's own orders."""
        prefix = self._prefix
        return [row for row, order_id in enumerate(columns["order_id"].tolist())
                if order_id.startswith(prefix)]

    def _each(self, columns: Columns, rows: range | list[int], models: RowModels,
              callback: Callable[[Strategy, Any], None] | None) -> list[Emit]:
        """Each row's model to its symbol's strategy, in arrival order (with no callback,
        the rows only start the symbol's strategy and move its last event time)."""
        symbols, ts = columns["symbol"].tolist(), columns["ts_event"].tolist()
        built = models.build(columns, rows) if callback is not None else None
        emits = self._session.emits = []
        for n, row in enumerate(rows):
            symbol, ts_event = str(symbols[row]), int(ts[row])
            strategy = self._strategy(symbol, ts_event)
            self._last_ts[symbol] = max(ts_event, self._last_ts[symbol])
            self._event_clock.set(ts_event)
            if built is not None:
                callback(strategy, built[n])  # type: ignore[misc]
            self.mark_dirty(symbol)
        return emits

    def _strategy(self, symbol: str, ts_event: int) -> Strategy:
        strategy = self._running.get(symbol)
        if strategy is None:
            strategy = self.strategy._create(symbol, self.params, self._session)  # type: ignore[arg-type]
            self._running[symbol] = strategy
            self._last_ts[symbol] = ts_event
            self._event_clock.set(ts_event)
            strategy.on_start()
        return strategy

    def flush(self) -> list[Emit]:
        """End of input: every symbol's `on_stop`, at its last event time (or the engine's
        clock, when that is later)."""
        emits = self._session.emits = []
        for symbol in sorted(self._running):
            self._event_clock.set(max(self._last_ts[symbol], self.clock.timestamp_ns()))
            self._running[symbol].on_stop()
            if emits:
                self.mark_dirty(symbol)
        return emits

    # ---- state -----------------------------------------------------------------------------

    def keys(self) -> list[str]:
        return list(self._running)

    def snapshot(self, key: str) -> State:
        return {"last_ts": self._last_ts[key], **self._running[key]._snapshot()}

    def restore(self, key: str, state: State) -> None:
        strategy = self.strategy._create(key, self.params, self._session)  # type: ignore[arg-type]
        strategy._restore(state)
        self._running[key], self._last_ts[key] = strategy, int(state["last_ts"])

    def forget(self, key: str) -> None:
        self._running.pop(key, None)
        self._last_ts.pop(key, None)
        self._dirty.discard(key)


class PredictionStrategyEngine(StrategyEngine):
    """Runs a strategy that handles predictions: logic.predictions as well."""

    @handles("logic.predictions")
    def on_predictions(self, columns: Columns) -> list[Emit]:
        return self._market("logic.predictions", columns, _PREDICTIONS, _prediction)


def _bar(strategy: Strategy, bar: Bar) -> None:
    strategy.on_bar(bar)


def _features(strategy: Strategy, features: FeatureVector) -> None:
    strategy.on_features(features)


def _vpin(strategy: Strategy, reading: VpinReading) -> None:
    strategy.on_vpin(reading)


def _prediction(strategy: Strategy, prediction: Prediction) -> None:
    strategy.on_prediction(prediction)


def _order_event(strategy: Strategy, event: OrderEvent) -> None:
    strategy._ledger.order_event(event.order_id, event.state, event.filled_quantity)
    strategy.on_order_event(event)


def _fill(strategy: Strategy, fill: Execution) -> None:
    if strategy._ledger.executed(fill.exec_id, fill.order_id, fill.side, fill.quantity):
        strategy.on_fill(fill)


def engine_class(strategy: type[Strategy]) -> type[StrategyEngine]:
    """The engine that runs `strategy` (one class per strategy, made once)."""
    made = _MADE.get(strategy)
    if made is not None:
        return made
    if not (isinstance(strategy, type) and issubclass(strategy, Strategy)):
        raise TypeError(f"{strategy!r} is not a Strategy subclass")
    name = getattr(strategy, "name", None)
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise TypeError(f"{strategy.__qualname__}.name must be lower case letters, digits and "
                        f"_ (it names its --set parameters and order ids), got {name!r}")
    params = strategy.params_model
    if not (isinstance(params, type) and issubclass(params, StrategyParams)):
        raise TypeError(f"{strategy.__qualname__}.params_model must subclass StrategyParams")
    base = (PredictionStrategyEngine if strategy.on_prediction is not Strategy.on_prediction
            else StrategyEngine)
    made = _MADE[strategy] = type(f"{strategy.__name__}Engine", (base,), {
        "name": name, "strategy": strategy, "params_model": params,
        "__module__": strategy.__module__,
        "__doc__": f"The engine of strategy {name} "
                   f"({strategy.__module__}.{strategy.__qualname__}).",
    })
    return made
