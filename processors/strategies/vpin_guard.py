"""`vpin_guard`: mean reversion on Bollinger bands that stands aside while flow is toxic.

Per symbol, on each closed bar once the bands exist: buy `quantity` when the close is below
the lower band, sell it back when a close reaches the middle band (close >= middle). No new
entry while the symbol's latest VPIN CDF (logic.vpin) is at or above `cdf_threshold`; when
a reading crosses it (from below, or the first reading), the position is flattened at once,
pending orders included. As `sma_cross`, it targets a position and orders the difference
from position plus open orders; a Signal marks each change of direction (strength 1 on
entry, 0 on exit).

The bands are the strategy's own, over its last `bb_period` closes, as TA-Lib's BBANDS with
an SMA: middle = the mean, lower = middle - bb_dev * the population standard deviation,
in decimals (28 digits), so they do not depend on the features engine's periods or on whether
its record of the same bar arrives before the bar.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from pydantic import ConfigDict, Field, JsonValue

from processors.strategies.engine import engine_class
from processors.strategies.strategy import Strategy, StrategyParams
from streams.schema import Bar, VpinReading

FEED_BB_PERIOD, FEED_BB_DEV = 4, 1.0  # bands for `up`'s simulated feed (tuned_for_feed)


class VpinGuardParams(StrategyParams):
    """Parameters of `vpin_guard`."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra={"examples": [
        {"quantity": 10, "bb_period": 2, "bb_dev": 0.5},
        {"quantity": 10, "bb_period": 2, "bb_dev": 0.5, "cdf_threshold": 0.8},
    ]})

    quantity: int = Field(default=100, gt=0, description="size of an entry")
    cdf_threshold: float = Field(default=0.9, gt=0, le=1, description="VPIN CDF at or above "
                                 "which it enters nothing and flattens")
    bb_period: int = Field(default=20, ge=2, description="closes in the Bollinger bands")
    bb_dev: float = Field(default=2.0, gt=0, description="band width in population "
                          "standard deviations")

    def tuned_for_feed(self, volume_per_s: Mapping[str, float]) -> VpinGuardParams:
        """Bands for a feed that starts now (`up`'s simulated market), so paper trades show
        within minutes: at most 4 closes at at most 1 deviation, from the 4th bar. The
        20-bar default enters from the 20th minute at the earliest; a shorter band at 2
        deviations cannot be crossed at all before 6 closes (the newest of n closes is at
        most sqrt(n - 1) population deviations from their mean)."""
        return self.model_copy(update={"bb_period": min(self.bb_period, FEED_BB_PERIOD),
                                       "bb_dev": min(self.bb_dev, FEED_BB_DEV)})


class VpinGuard(Strategy):
    """Bollinger mean reversion, flat while VPIN says the flow is toxic."""

    name = "vpin_guard"
    params_model = VpinGuardParams
    params: VpinGuardParams

    def __init__(self) -> None:
        self.closes: list[Decimal] = []  # the last `bb_period` closes, oldest first
        self.target = 0
        self.toxic = False

    def on_bar(self, bar: Bar) -> None:
        self.closes.append(bar.close)
        del self.closes[:-self.params.bb_period]
        if len(self.closes) < self.params.bb_period:
            return
        middle, lower = self._bands()
        target = self.target
        if target == 0 and not self.toxic and bar.close < lower:
            target = self.params.quantity
        elif target > 0 and bar.close >= middle:
            target = 0
        self._aim(target)

    def on_vpin(self, reading: VpinReading) -> None:
        if reading.vpin_cdf is None:
            return
        toxic = reading.vpin_cdf >= self.params.cdf_threshold
        if toxic and not self.toxic:
            self._aim(0)
        self.toxic = toxic

    def _aim(self, target: int) -> None:
        if (target > 0) != (self.target > 0):
            self.publish_signal(1 if target > 0 else 0, 1.0 if target > 0 else 0.0)
        self.target = target
        self.order_target(target)

    def _bands(self) -> tuple[Decimal, Decimal]:
        n = len(self.closes)
        middle = sum(self.closes, Decimal(0)) / n
        variance = sum(((c - middle) ** 2 for c in self.closes), Decimal(0)) / n
        return middle, middle - Decimal(repr(self.params.bb_dev)) * variance.sqrt()

    def on_save(self) -> dict[str, JsonValue]:
        return {"closes": [str(c) for c in self.closes], "target": self.target,
                "toxic": self.toxic}

    def on_load(self, state: dict[str, JsonValue]) -> None:
        self.closes = [Decimal(str(c)) for c in state["closes"]]  # type: ignore[union-attr]
        self.target = int(state["target"])  # type: ignore[arg-type]
        self.toxic = bool(state["toxic"])


VpinGuardEngine = engine_class(VpinGuard)
