"""Parameters of pre-trade risk (`--set pretrade.PARAM=VALUE`, env `NAUTILUS_PRETRADE__PARAM`).

Every limit is off until it is set. A limit is a mapping: the key `default` applies to every
order without an entry of its own, other keys are a symbol, an account or a strategy (each
parameter says which), so `--set pretrade.max_notional_per_order=1000000` limits every
account and `--set pretrade.max_notional_per_order.ACC1=250000` one of them. A plain number
means `{"default": number}` and drops entries given before it; `{}` (the default) is off. In
the environment, entries go in JSON (`NAUTILUS_PRETRADE__MAX_QUANTITY_PER_ORDER='{"default":
1000, "AAPL": 500}'`). The toxicity and margin gates are on by default.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

DEFAULT_KEY = "default"
PositiveAmount = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
LIMITS = ("max_quantity_per_order", "max_notional_per_order", "max_position_per_symbol",
          "max_gross_exposure", "order_rate_per_s", "order_burst", "collar_bps")


class PretradeParams(BaseModel):
    """Limits and gates of pre-trade risk; see processors/pretrade/__init__.py."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra={"examples": [
        {"max_quantity_per_order": {"default": 380, "AAPL": 150},
         "max_notional_per_order": {"default": "2000000", "ACC1": "300000"},
         "max_position_per_symbol": 300, "max_gross_exposure": "1000000",
         "order_rate_per_s": "0.02", "order_burst": 2, "collar_bps": "5",
         "toxicity_gate": False, "margin_gate": False},
    ]})

    max_quantity_per_order: dict[str, PositiveInt] = Field(
        default_factory=dict, description="most shares (contracts) in one order; key "
        "`default` or a symbol")
    max_notional_per_order: dict[str, PositiveAmount] = Field(
        default_factory=dict, description="most quantity x price of one order (the limit "
        "price, or the reference price of a market order); key `default` or an account")
    max_position_per_symbol: dict[str, PositiveInt] = Field(
        default_factory=dict, description="most |position| in a symbol after the order, "
        "working orders on its side counted; key `default` or a symbol")
    max_gross_exposure: dict[str, PositiveAmount] = Field(
        default_factory=dict, description="most sum of |position| x price over an account's "
        "symbols after the order, working orders counted; key `default` or an account")
    order_rate_per_s: dict[str, PositiveAmount] = Field(
        default_factory=dict, description="orders per second a strategy may send (a token "
        "bucket in event time); key `default` or a strategy")
    order_burst: dict[str, PositiveInt] = Field(
        default_factory=dict, description="the token bucket's size: orders a strategy may "
        "send at once (unset: the rate per second rounded up); key `default` or a strategy")
    collar_bps: dict[str, PositiveAmount] = Field(
        default_factory=dict, description="how far, in basis points, a buy limit may be above "
        "(a sell limit below) the reference price; key `default` or a symbol")
    toxicity_gate: bool = Field(default=True, description="reject orders that open or "
                                "increase a position while the symbol's VPIN alert is raised")
    margin_gate: bool = Field(default=True, description="reject orders whose fill would "
                              "leave the account's excess liquidity below zero")

    @field_validator(*LIMITS, mode="before")
    @classmethod
    def _limit_mapping(cls, value: object) -> object:
        """A plain number is the default of every key."""
        if isinstance(value, int | float | str | Decimal) and not isinstance(value, bool):
            return {DEFAULT_KEY: value}
        return value

    def limit(self, name: str, key: str) -> Decimal | int | None:
        """Limit `name` for `key` (a symbol, an account or a strategy): its own entry, else
        the default, else None (not set)."""
        limits: dict[str, Decimal | int] = getattr(self, name)
        return limits.get(key, limits.get(DEFAULT_KEY))
