"""logic.*: what engines conclude."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, JsonValue

from streams.schema.base import Event, Int64, Money, NonNegativeNs, Price, Symbol
from streams.schema.market import Side
from streams.schema.storage import Stored


class VpinReading(Event):
    """One completed volume bucket and, once enough buckets exist, VPIN over the window."""

    STORED = Stored("vpin_readings", ("symbol", "bucket", "time"))
    SEQUENCE = ("bucket",)

    symbol: Symbol
    bucket: Int64
    bucket_volume: Int64
    buy_volume: float
    sell_volume: float
    vpin: float | None = None
    vpin_cdf: float | None = None


class MicrostructureFeatures(Event):
    """Order-book features at one instant. Spread, mid and microprice are exact decimals
    (microprice rounded to 9 decimals), None while a side of the book is empty."""

    STORED = Stored("microstructure_features", ("symbol", "time"), retention="tick")

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
    STORED = Stored("features", ("symbol", "time"), served=True)
    SEQUENCE = ("ts_event",)  # one per closed bar

    symbol: Symbol
    values: dict[str, float]


class FactorVector(Event):
    """The factor catalog's values at one symbol's closed bar (logic.factors), dated at the
    bar's end: `values` maps each factor's name to its value; a factor without one (too few
    bars yet, or no finite value) is absent (processors/factors)."""

    STORED = Stored("factors", ("symbol", "time"), served=True)
    SEQUENCE = ("ts_event",)  # one per closed bar

    symbol: Symbol
    values: dict[str, float]


class Signal(Event):
    STORED = Stored("signals", ("signal_id", "time"), served=True)

    signal_id: str
    strategy: str
    symbol: Symbol
    direction: Literal[-1, 0, 1]
    strength: float


class Prediction(Event):
    """A model's forecast for a symbol over `horizon_ns` after `ts_event` (the `ml` engine:
    the forward return of the registered model `model`, version `version`)."""

    STORED = Stored("predictions", ("prediction_id", "time"), served=True)

    prediction_id: str
    model: str
    version: Int64 = Field(ge=1)
    symbol: Symbol
    horizon_ns: NonNegativeNs
    value: float


class Alert(Event):
    """A risk alert, raised or cleared. `values` carries the numbers behind it."""

    STORED = Stored("alerts", ("alert_id", "state", "time"))

    alert_id: str
    kind: str
    state: Literal["raised", "cleared"]
    severity: Literal["info", "warning", "critical"]
    symbol: Symbol | None = None
    message: str
    values: dict[str, float] = {}


class MarginState(Event):
    """An account's margin (logic.margin, compacted by account): equity = cash + sum(quantity
    * mark * multiplier), excess_liquidity = equity - maintenance_margin, by `method`
    (`reg_t`, or `portfolio`: the scan requirement is both initial and maintenance).
    `sigma_usd`: the account's dollar volatility per bar (EWMA covariance of bar returns);
    `call_probability`: that excess falls below zero within `horizon_bars` bars;
    `time_to_call_s`: the horizon at which that probability reaches 0.5 (None: no risk)."""

    STORED = Stored("margin_states", ("account", "time"), served=True)

    account: str
    currency: str
    equity: Money
    initial_margin: Money
    maintenance_margin: Money
    excess_liquidity: Money
    method: Literal["reg_t", "portfolio"] = "reg_t"
    sigma_usd: float = Field(default=0.0, ge=0)
    call_probability: float = Field(default=0.0, ge=0, le=1)
    time_to_call_s: float | None = Field(default=None, ge=0)
    horizon_bars: Int64 = Field(default=60, gt=0)


class RiskReport(Event):
    """An account's portfolio risk (logic.risk): its positions revalued on the bar returns of
    their symbols. Losses are positive USD over `horizon_bars` bars of `bar_seconds`; one-bar
    figures are scaled by sqrt(horizon_bars) (`scaling`). `window_bars`: the bar returns the
    historical figures used; `stress`: each scenario's loss (scenarios file), not scaled.
    `var_factor_95`/`_99`: factor-model VaR over `factor_horizon_days` days (the one-day
    figure from a daily factor model x sqrt(days); processors/risk/factor.py).
    A live worker may publish an instant's report again when a record of that instant comes
    late: the newer one replaces it (`update`)."""

    STORED = Stored("risk_reports", ("account", "time"), on_conflict="update", served=True)

    account: str
    currency: str
    gross_exposure: float
    net_exposure: float
    horizon_bars: Int64 = Field(gt=0)
    bar_seconds: Int64 = Field(gt=0)
    scaling: Literal["sqrt(h)"] = "sqrt(h)"
    window_bars: Int64 = Field(ge=0)
    var_hist_95: float | None = None
    cvar_hist_95: float | None = None
    var_hist_99: float | None = None
    cvar_hist_99: float | None = None
    var_param_95: float | None = None
    var_param_99: float | None = None
    var_mc_95: float | None = None
    var_mc_99: float | None = None
    factor_horizon_days: Int64 = Field(default=1, gt=0)
    var_factor_95: float | None = None
    var_factor_99: float | None = None
    stress: dict[str, float] = {}
    worst_stress: float | None = None
    drawdown: float = Field(default=0.0, ge=0)


TradingState = Literal["ACTIVE", "REDUCING", "HALTED"]
STATE_AFTER: dict[str, TradingState] = {"halt": "HALTED", "reduce": "REDUCING",
                                        "resume": "ACTIVE"}
"""The trading state a RiskCommand's action puts its account in."""


class RiskCommand(Event):
    """An operator's command to pre-trade risk (logic.risk.commands, keyed by account): set an
    account's trading state. `halt` also cancels the account's open orders."""

    STORED = Stored("risk_commands", ("command_id", "time"), retention=None, served=True)

    command_id: str
    account: str
    action: Literal["halt", "reduce", "resume"]
    reason: str = ""
    issued_by: str = ""


class Order(Event):
    """An order a strategy submits (logic.orders). `order_id` is `<strategy>:<symbol>:<seq>`,
    deterministic, so a re-delivered order is recognised; `ts_event` is when it was decided."""

    STORED = Stored("orders", ("order_id", "time"), retention=None, served=True)

    order_id: str
    strategy: str
    account: str
    symbol: Symbol
    side: Side
    quantity: Int64 = Field(gt=0)
    order_type: Literal["market", "limit"]
    limit_price: Price | None = None
    time_in_force: Literal["GTC", "IOC", "DAY"] = "GTC"


class ApprovedOrder(Order):
    """An order that passed pre-trade risk (logic.orders.approved): what the execution engine
    routes. It is stored once, as the strategy's Order (logic.orders)."""

    STORED = None


class CancelRequest(Event):
    """Cancel a working order (logic.order.cancels, keyed by symbol): pre-trade risk's kill
    switch cancels an account's open orders. `cancel_id` is deterministic (`<order_id>:cancel:
    <command_id>`); a cancel of an order that is no longer working changes nothing."""

    cancel_id: str
    order_id: str
    account: str
    symbol: Symbol
    reason: str


OrderState = Literal["submitted", "accepted", "rejected", "partially_filled", "filled",
                     "canceled", "expired"]


class OrderEvent(Event):
    """A change of an order's state at the venue (logic.order.events), NautilusTrader's order
    states. `event_id` is `<order_id>#<n>`, n counting the order's events from 1, so a
    re-delivered event upserts. `filled_quantity` and `avg_fill_price` are the order's
    totals after this event; `leaves_quantity` what is still working."""

    STORED = Stored("order_events", ("event_id", "time"), retention=None, served=True)

    event_id: str
    order_id: str
    strategy: str
    account: str
    symbol: Symbol
    state: OrderState
    filled_quantity: Int64 = Field(ge=0)
    leaves_quantity: Int64 = Field(ge=0)
    avg_fill_price: Price | None = None
    reason: str | None = None


class Position(Event):
    """An account's net position in a symbol after a fill or a new mark (logic.positions,
    compacted by account/symbol). `avg_price` excludes fees; `realized_pnl` is net of fees."""

    STORED = Stored("positions", ("account", "symbol", "time"), on_conflict="update",
                    served=True)

    account: str
    symbol: Symbol
    quantity: Int64
    avg_price: Price
    realized_pnl: Money
    mark: Price | None = None
    unrealized_pnl: Money = Money(0)


class PortfolioSnapshot(Event):
    """An account's valuation: equity = cash + sum(quantity * mark), and equity - starting cash
    = realized + unrealized P&L (logic.portfolio)."""

    STORED = Stored("portfolio_snapshots", ("account", "time"), on_conflict="update",
                    served=True)

    account: str
    currency: str
    equity: Money
    cash: Money
    gross_exposure: Money
    net_exposure: Money
    unrealized_pnl: Money
    realized_pnl: Money


class AnalyticsResult(Event):
    """Figures the analytics engine concludes about one account's returns (logic.analytics).

    `name` says which figures: `performance` (over every period return since the account's
    first snapshot) or `rolling` (over the newest `periods` returns, a window). Returns are
    of periods of `period_seconds` on the UTC epoch grid; `final` is true for the result
    published at the end of input, which counts the period still open. `values` maps each
    figure's name to its value, null where the figure is undefined (NaN or an infinity in
    empyrical: a Sharpe ratio of one return, a Sortino ratio with no losing period). A live
    worker may publish an instant's result again: the newer one replaces it (`update`)."""

    STORED = Stored("analytics_results", ("account", "name", "time"), on_conflict="update",
                    served=True)

    account: str
    name: str
    period_seconds: Int64 = Field(gt=0)
    periods: Int64 = Field(ge=0)
    final: bool = False
    values: dict[str, float | None]


class FactorReturns(Event):
    """One day's returns of the factors of a daily factor model (logic.factor.returns, keyed
    by `model`; processors/factor_model): `returns` maps each factor (market, the sectors,
    the styles) to its return that day, `covariance` is the EWMA covariance of the daily
    factor returns up to and including the day (factor -> factor -> value; daily units), and
    `symbols` the symbols of the day's regression. `ts_event` is the end of the UTC `day`
    (the next midnight), when its last bar is in. A later fit of the day replaces the row."""

    STORED = Stored("factor_returns", ("model", "time"), on_conflict="update", served=True)

    model: str = Field(min_length=1, max_length=64)
    day: date
    returns: dict[str, float]
    covariance: dict[str, dict[str, float]]
    symbols: Int64 = Field(gt=0)


class FactorExposure(Event):
    """One symbol's exposures to a daily factor model's styles on one UTC `day`, and the
    residual return the factors leave it that day (logic.factor.exposures, keyed by symbol):
    its market exposure is 1 and its sector exposure 1 to `sector`, so only the styles are in
    `exposures`. `specific_variance` is the EWMA of its squared residuals up to the day (the
    half-life of the factor covariance): with FactorReturns' covariance C, the variance of a
    portfolio x is x'B C B'x + sum x_i^2 specific_variance_i. `ts_event` is the end of the
    day, as in FactorReturns."""

    STORED = Stored("factor_exposures", ("model", "symbol", "time"), on_conflict="update",
                    served=True)

    model: str = Field(min_length=1, max_length=64)
    symbol: Symbol
    day: date
    sector: str = Field(min_length=1)
    market_cap: float = Field(gt=0)
    exposures: dict[str, float]
    residual: float
    specific_variance: float = Field(ge=0)


class EngineHealth(Event):
    """One engine in one worker: is it running, how far behind, what went through it."""

    STORED = Stored("engine_health", ("engine", "worker", "time"), retention="tick")

    engine: str
    worker: str
    status: Literal["starting", "running", "degraded", "stopped"]
    lag: Int64 | None  # None until the worker knows where its partitions end
    events_in: Int64
    events_out: Int64
    errors: Int64
    dead_letters: Int64
    last_event_ts: NonNegativeNs | None = None
    # The engine's effective parameters (defaults, environment and --set applied, per-symbol
    # entries included), so a replay can run with what the worker ran with; None for the
    # sink and the feeds, and from workers older than this field.
    params: dict[str, JsonValue] | None = None
    # how often a supervisor (`up`) restarted this process after it exited: 0 at first
    restarts: Int64 = Field(default=0, ge=0)


class EngineMetrics(Event):
    """Monotonic counters and recent timings of one engine in one worker."""

    engine: str
    worker: str
    counters: dict[str, int]
    timings_ms: dict[str, float] = {}


class DeadLetter(Event):
    """A record that failed to decode or validate; `value_b64` is the original bytes."""

    STORED = Stored("dead_letters", ("source_topic", "source_partition", "source_offset", "time"),
                    hypertable=False, retention=None)

    source_topic: str
    source_partition: Int64
    source_offset: Int64
    reason: str
    key_b64: str | None = None
    value_b64: str
