"""logic.*: what engines conclude."""

from __future__ import annotations

from typing import Literal

from pydantic import JsonValue, StrictInt

from streams.schema.base import Event, Money, NonNegativeNs, Price, Symbol
from streams.schema.market import Side


class VpinReading(Event):
    """One completed volume bucket and, once enough buckets exist, VPIN over the window."""

    symbol: Symbol
    bucket: StrictInt
    bucket_volume: StrictInt
    buy_volume: float
    sell_volume: float
    vpin: float | None = None
    vpin_cdf: float | None = None


class MicrostructureFeatures(Event):
    """Order-book features at one instant. Spread, mid and microprice are exact decimals
    (microprice rounded to 9 decimals), None while a side of the book is empty."""

    symbol: Symbol
    spread: Price | None
    mid: Price | None
    microprice: Price | None
    imbalance_1: float
    imbalance_5: float
    imbalance_10: float
    bid_depth: list[int]
    ask_depth: list[int]
    pressure: float


class FeatureVector(Event):
    symbol: Symbol
    values: dict[str, float]


class Signal(Event):
    signal_id: str
    strategy: str
    symbol: Symbol
    direction: Literal[-1, 0, 1]
    strength: float


class Prediction(Event):
    prediction_id: str
    model: str
    symbol: Symbol
    horizon_ns: NonNegativeNs
    value: float


class Alert(Event):
    """A risk alert, raised or cleared. `values` carries the numbers behind it."""

    alert_id: str
    kind: str
    state: Literal["raised", "cleared"]
    severity: Literal["info", "warning", "critical"]
    symbol: Symbol | None = None
    message: str
    values: dict[str, float] = {}


class MarginState(Event):
    account: str
    currency: str
    equity: Money
    initial_margin: Money
    maintenance_margin: Money
    excess_liquidity: Money


class Order(Event):
    order_id: str
    strategy: str
    account: str
    symbol: Symbol
    side: Side
    quantity: StrictInt
    order_type: Literal["market", "limit"]
    limit_price: Price | None = None


class Position(Event):
    account: str
    symbol: Symbol
    quantity: StrictInt
    avg_price: Price
    realized_pnl: Money


class PortfolioSnapshot(Event):
    account: str
    currency: str
    equity: Money
    cash: Money
    gross_exposure: Money
    net_exposure: Money
    unrealized_pnl: Money
    realized_pnl: Money


class AnalyticsResult(Event):
    name: str
    symbol: Symbol | None = None
    values: dict[str, float]


class EngineHealth(Event):
    """One engine in one worker: is it running, how far behind, what went through it."""

    engine: str
    worker: str
    status: Literal["starting", "running", "degraded", "stopped"]
    lag: StrictInt | None  # None until the worker knows where its partitions end
    events_in: StrictInt
    events_out: StrictInt
    errors: StrictInt
    dead_letters: StrictInt
    last_event_ts: NonNegativeNs | None = None
    # The engine's effective parameters (defaults, environment and --set applied, per-symbol
    # entries included), so a replay can run with what the worker ran with; None for the
    # sink and the feeds, and from workers older than this field.
    params: dict[str, JsonValue] | None = None


class EngineMetrics(Event):
    """Monotonic counters and recent timings of one engine in one worker."""

    engine: str
    worker: str
    counters: dict[str, int]
    timings_ms: dict[str, float] = {}


class DeadLetter(Event):
    """A record that failed to decode or validate; `value_b64` is the original bytes."""

    source_topic: str
    source_partition: StrictInt
    source_offset: StrictInt
    reason: str
    key_b64: str | None = None
    value_b64: str
