"""The `Strategy` base class: what a strategy author writes against.

Modelled on NautilusTrader's Strategy: callbacks for data and order events, an order factory,
`submit_order`, access to the strategy's own position and open orders, a clock, parameters as
a pydantic model, and `on_save` / `on_load` for its state. One instance runs per symbol (as a
NautilusTrader strategy is configured with one instrument); the engine adapter
(`processors.strategies.engine`) creates it on the symbol's first event, routes that symbol's
events to it, and persists and restores it, so the same class runs unchanged in a replay, a
backtest and a worker.

Time is event time: `self.clock.timestamp_ns()` is the `ts_event` of the event being handled,
and orders and signals are dated with it (an order is decided when its cause happened).
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from processors.base import Emit
from processors.strategies.ledger import Ledger
from streams.clock import Clock
from streams.schema import (
    Bar,
    Execution,
    FeatureVector,
    Order,
    OrderEvent,
    Prediction,
    Signal,
    VpinReading,
)

ORDERS_TOPIC = "logic.orders"
SIGNALS_TOPIC = "logic.signals"
TimeInForce = Literal["GTC", "IOC", "DAY"]
Side = Literal["buy", "sell"]


class StrategyParams(BaseModel):
    """Parameters every strategy has; a strategy's own model adds to these."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account: str = Field(default="paper", min_length=1, description="account its orders are for")


class EventClock(Clock):
    """The event time of what a strategy is handling: set by the engine before each callback."""

    def __init__(self) -> None:
        self._now = 0

    def timestamp_ns(self) -> int:
        return self._now

    def set(self, ts_ns: int) -> None:
        self._now = ts_ns


class _Session:
    """What the instances of one engine share: the clocks and the list outputs go to."""

    def __init__(self, strategy: str, clock: EventClock, init_clock: Clock) -> None:
        self.strategy, self.clock, self.init_clock = strategy, clock, init_clock
        self.emits: list[Emit] = []


class OrderFactory:
    """Orders of one strategy in one symbol, with ids `<strategy>:<symbol>:<seq>` (seq from 1,
    counted per symbol and kept in the strategy's state, so ids are the same in every run)."""

    def __init__(self, strategy: Strategy) -> None:
        self._strategy = strategy
        self.seq = 0

    def market(self, side: Side, quantity: int, time_in_force: TimeInForce = "GTC") -> Order:
        return self._order(side, quantity, "market", None, time_in_force)

    def limit(self, side: Side, quantity: int, price: Decimal | str,
              time_in_force: TimeInForce = "GTC") -> Order:
        return self._order(side, quantity, "limit", Decimal(price), time_in_force)

    def _order(self, side: Side, quantity: int, order_type: Literal["market", "limit"],
               limit_price: Decimal | None, time_in_force: TimeInForce) -> Order:
        s = self._strategy
        order = Order(
            ts_event=s.clock.timestamp_ns(), ts_init=s._session.init_clock.timestamp_ns(),
            order_id=f"{s.name}:{s.symbol}:{self.seq + 1}", strategy=s.name,
            account=s.params.account, symbol=s.symbol, side=side, quantity=quantity,
            order_type=order_type, limit_price=limit_price, time_in_force=time_in_force,
        )
        self.seq += 1
        return order


class Strategy:
    """Subclass it, set `name` (lower case, digits, `_`) and `params_model`, and override the
    callbacks the strategy needs. `__init__` takes no arguments: `symbol`, `params`, `clock`
    and `order_factory` are set before it runs, so it can size its state from the parameters.

    State the strategy keeps between events must come back after a restart: return it from
    `on_save` (JSON-able) and take it back in `on_load`. Position and orders are kept for it.
    """

    name: ClassVar[str]
    params_model: ClassVar[type[StrategyParams]] = StrategyParams

    symbol: str
    params: StrategyParams
    clock: EventClock
    order_factory: OrderFactory
    _session: _Session
    _ledger: Ledger
    _signals: int

    @classmethod
    def _create(cls, symbol: str, params: StrategyParams, session: _Session) -> Strategy:
        strategy = cls.__new__(cls)
        strategy.symbol, strategy.params, strategy.clock = symbol, params, session.clock
        strategy._session, strategy._ledger, strategy._signals = session, Ledger(), 0
        strategy.order_factory = OrderFactory(strategy)
        strategy.__init__()  # type: ignore[misc]
        return strategy

    def __init__(self) -> None:
        """Set up the strategy's own state (override; the base keeps none)."""

    # ---- callbacks (override what the strategy needs) ------------------------------------

    def on_start(self) -> None:
        """The symbol's first event is about to be handled (once per symbol, not on restore)."""

    def on_bar(self, bar: Bar) -> None:
        """A closed bar of the symbol (market.bars.1m)."""

    def on_features(self, features: FeatureVector) -> None:
        """The symbol's features of a closed bar (logic.features)."""

    def on_vpin(self, reading: VpinReading) -> None:
        """A VPIN reading of the symbol (logic.vpin)."""

    def on_prediction(self, prediction: Prediction) -> None:
        """A model's forecast for the symbol (logic.predictions); a strategy that overrides
        this reads the topic (the `ml` engine publishes it)."""

    def on_order_event(self, event: OrderEvent) -> None:
        """A state change of one of the strategy's orders (open orders already updated)."""

    def on_fill(self, fill: Execution) -> None:
        """An execution of one of the strategy's orders (position already updated)."""

    def on_stop(self) -> None:
        """End of input of a replay or backtest (a worker that stops keeps its state and
        does not call it)."""

    def on_save(self) -> dict[str, JsonValue]:
        """The strategy's own state, JSON-able (override when it keeps any)."""
        return {}

    def on_load(self, state: dict[str, JsonValue]) -> None:
        """Take back what `on_save` returned (override with `on_save`)."""

    # ---- position, orders, signals ----------------------------------------------------------

    @property
    def position(self) -> int:
        """Net quantity from the strategy's own fills in this symbol (negative: short)."""
        return self._ledger.position

    @property
    def open_orders(self) -> list[Order]:
        """The strategy's orders in this symbol not yet filled, canceled, expired or rejected;
        an order counts from its submission, before any event comes back."""
        return self._ledger.open_orders

    @property
    def exposure(self) -> int:
        """Position plus what the strategy's orders will still add to it (see ledger.py)."""
        return self._ledger.exposure

    @property
    def is_flat(self) -> bool:
        return self._ledger.position == 0

    def submit_order(self, order: Order) -> None:
        """Send an order from `order_factory` to logic.orders; it is open from now on."""
        if order.strategy != self.name or order.symbol != self.symbol:
            raise ValueError(f"{self.name} in {self.symbol} cannot submit {order.order_id}")
        self._ledger.submitted(order)
        self._session.emits.append(Emit(ORDERS_TOPIC, self.symbol, order))

    def order_target(self, target: int, time_in_force: TimeInForce = "GTC") -> Order | None:
        """Submit one market order for the difference between `target` and the exposure
        (position plus open orders), if there is one; the order, or None."""
        difference = target - self.exposure
        if difference == 0:
            return None
        order = self.order_factory.market("buy" if difference > 0 else "sell", abs(difference),
                                          time_in_force)
        self.submit_order(order)
        return order

    def publish_signal(self, direction: Literal[-1, 0, 1], strength: float) -> Signal:
        """Send a Signal to logic.signals, id `<strategy>:<symbol>:signal-<n>` (n from 1)."""
        self._signals += 1
        signal = Signal(
            ts_event=self.clock.timestamp_ns(), ts_init=self._session.init_clock.timestamp_ns(),
            signal_id=f"{self.name}:{self.symbol}:signal-{self._signals}", strategy=self.name,
            symbol=self.symbol, direction=direction, strength=strength,
        )
        self._session.emits.append(Emit(SIGNALS_TOPIC, self.symbol, signal))
        return signal

    # ---- persistence (used by the engine) ----------------------------------------------------

    def _snapshot(self) -> dict:
        return {"orders_sent": self.order_factory.seq, "signals_sent": self._signals,
                "ledger": self._ledger.snapshot(), "strategy": self.on_save()}

    def _restore(self, state: dict) -> None:
        self.order_factory.seq = int(state["orders_sent"])
        self._signals = int(state["signals_sent"])
        self._ledger = Ledger.restore(state["ledger"])
        self.on_load(state["strategy"])

