"""`ml_signal`: trade a symbol on the `ml` engine's forecasts (logic.predictions).

Per symbol, on each prediction of `model` (any model when empty): the target position is
+quantity when the forecast is above `threshold`; below -`threshold` it is -quantity with
`allow_short`, else 0; in between (the forecast too small to trade on) it is 0. When the
target differs from the position plus open orders, one market order for the difference is
submitted. A Signal is published when the target's direction changes (strength: |forecast|).
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, JsonValue

from processors.strategies.engine import engine_class
from processors.strategies.strategy import Strategy, StrategyParams
from streams.schema import Prediction


class MlSignalParams(StrategyParams):
    """Parameters of `ml_signal`."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra={"examples": [
        {"threshold": 0.0, "quantity": 10, "allow_short": True},
    ]})

    model: str = Field(default="", description="trade on this model's predictions only "
                       "(empty: any model's)")
    threshold: float = Field(default=0.0, ge=0, description="long above it, short (or flat) "
                             "below minus it, flat in between (a forward return: 0.0005 is "
                             "5 bps)")
    quantity: int = Field(default=100, gt=0, description="size of the position it takes")
    allow_short: bool = Field(default=False, description="go short below -threshold "
                              "(else flat)")


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


class MlSignal(Strategy):
    """Long above the threshold, flat or short below it."""

    name = "ml_signal"
    params_model = MlSignalParams
    params: MlSignalParams

    def __init__(self) -> None:
        self.target = 0

    def on_prediction(self, prediction: Prediction) -> None:
        wanted = self.params.model
        if wanted and prediction.model != wanted:
            return
        value, threshold, quantity = prediction.value, self.params.threshold, self.params.quantity
        if value > threshold:
            target = quantity
        elif value < -threshold and self.params.allow_short:
            target = -quantity
        else:
            target = 0
        if _sign(target) != _sign(self.target):
            self.publish_signal(_sign(target), abs(value))  # type: ignore[arg-type]
        self.target = target
        self.order_target(target)

    def on_save(self) -> dict[str, JsonValue]:
        return {"target": self.target}

    def on_load(self, state: dict[str, JsonValue]) -> None:
        self.target = int(state["target"])  # type: ignore[arg-type]


MlSignalEngine = engine_class(MlSignal)
