"""A user strategy for the margin backtest test (`tests.streams.margin_hungry:MarginHungry`):
it borrows to the hilt, which is what a margin engine is for."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, JsonValue

from processors.strategies import Strategy, StrategyParams
from streams.schema import Bar


class MarginHungryParams(StrategyParams):
    leverage: Decimal = Field(default=Decimal("3.5"), gt=0,
                              description="the position's value over `equity`")
    equity: Decimal = Field(default=Decimal(100_000), gt=0,
                            description="the account's equity it levers")


class MarginHungry(Strategy):
    """Buys `leverage` x `equity` of its symbol at the first bar's close, then holds."""

    name = "margin_hungry"
    params_model = MarginHungryParams
    params: MarginHungryParams

    def __init__(self) -> None:
        self.target: int | None = None

    def on_bar(self, bar: Bar) -> None:
        if self.target is None:
            self.target = int(self.params.leverage * self.params.equity / bar.close)
        self.order_target(self.target)

    def on_save(self) -> dict[str, JsonValue]:
        return {"target": self.target}

    def on_load(self, state: dict[str, JsonValue]) -> None:
        target = state["target"]
        self.target = None if target is None else int(target)  # type: ignore[arg-type]
