"""`sma_cross`: long (or short) while the fast SMA of closes is above (below) the slow one.

Per symbol, on each closed bar once SMA(slow) of its closes exists: the target position is
+quantity when SMA(fast) > SMA(slow); when SMA(fast) < SMA(slow) it is -quantity with
`allow_short`, else 0; when they are equal the target stays what it was. When the target
differs from the position plus open orders, one market order for the difference is
submitted. A Signal is published when the target's direction changes (strength: |fast/slow - 1|).

The SMAs are the strategy's own, of the bars' closes (not the features engine's periods), in
exact decimals: sums of the last n closes compared as sum_fast * slow against
sum_slow * fast, so equal SMAs are equal.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import ConfigDict, Field, JsonValue, model_validator

from processors.strategies.engine import engine_class
from processors.strategies.strategy import Strategy, StrategyParams
from streams.schema import Bar


class SmaCrossParams(StrategyParams):
    """Parameters of `sma_cross`."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra={"examples": [
        {"fast": 1, "slow": 2, "quantity": 10, "allow_short": True},
    ]})

    fast: int = Field(default=10, ge=1, description="bars in the fast SMA")
    slow: int = Field(default=20, ge=2, description="bars in the slow SMA")
    quantity: int = Field(default=100, gt=0, description="size of the position it takes")
    allow_short: bool = Field(default=False, description="go short when fast < slow "
                              "(else flat)")

    @model_validator(mode="after")
    def _fast_below_slow(self) -> SmaCrossParams:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be less than slow ({self.slow})")
        return self


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


class SmaCross(Strategy):
    """Moving-average crossover with a target position."""

    name = "sma_cross"
    params_model = SmaCrossParams
    params: SmaCrossParams

    def __init__(self) -> None:
        self.closes: list[Decimal] = []  # the last `slow` closes, oldest first
        self.target = 0

    def on_bar(self, bar: Bar) -> None:
        fast, slow = self.params.fast, self.params.slow
        self.closes.append(bar.close)
        del self.closes[:-slow]
        if len(self.closes) < slow:
            return
        fast_sum, slow_sum = sum(self.closes[-fast:], Decimal(0)), sum(self.closes, Decimal(0))
        gap = fast_sum * slow - slow_sum * fast  # sign of SMA(fast) - SMA(slow), exactly
        target = self.target
        if gap > 0:
            target = self.params.quantity
        elif gap < 0:
            target = -self.params.quantity if self.params.allow_short else 0
        if _sign(target) != _sign(self.target):
            strength = abs(float(fast_sum * slow / (slow_sum * fast)) - 1.0)
            self.publish_signal(_sign(target), strength)  # type: ignore[arg-type]
        self.target = target
        self.order_target(target)

    def on_save(self) -> dict[str, JsonValue]:
        return {"closes": [str(c) for c in self.closes], "target": self.target}

    def on_load(self, state: dict[str, JsonValue]) -> None:
        self.closes = [Decimal(str(c)) for c in state["closes"]]  # type: ignore[union-attr]
        self.target = int(state["target"])  # type: ignore[arg-type]


SmaCrossEngine = engine_class(SmaCross)
