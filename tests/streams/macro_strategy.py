"""A strategy that trades on a macro feature, for the backtests of the macro join
(`--strategy tests.streams.macro_strategy:SlopeLong`)."""

from __future__ import annotations

from pydantic import Field

from processors.strategies.strategy import Strategy, StrategyParams
from streams.schema import FeatureVector


class SlopeLongParams(StrategyParams):
    quantity: int = Field(default=10, gt=0, description="size of the position it takes")


class SlopeLong(Strategy):
    """Long `quantity` while the yield curve's slope known at the bar (macro_slope) is
    positive; flat while it is not, or not known."""

    name = "slope_long"
    params_model = SlopeLongParams
    params: SlopeLongParams

    def on_features(self, features: FeatureVector) -> None:
        slope = features.values.get("macro_slope")
        self.order_target(self.params.quantity if slope is not None and slope > 0 else 0)
