"""Parameters of the execution engine (importable without the engine, as the settings need)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

FillModel = Literal["auto", "bar", "book", "trade"]
# basis points as exact decimals: `--set execution.fee_bps=0.5` is 0.5, not a float near it
Bps = Annotated[Decimal, Field(ge=0, le=10_000, allow_inf_nan=False)]


class ExecutionParams(BaseModel):
    """Parameters of the paper venue (processors/execution)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid",
        json_schema_extra={"examples": [
            {"fill_model": "bar", "latency_ms": 250, "slippage_bps": "2", "fee_bps": "1"},
            {"fill_model": "trade", "latency_ms": 5, "slippage_bps": "1.5"},
        ]},
    )

    fill_model: FillModel = Field(
        default="auto", description="how orders fill: book (walk 10-level depth), trade "
        "(first trade at or after the venue time), bar (next bar's open), or auto: per symbol, "
        "book once depth was seen, else trade once trades were seen, else bar")
    latency_ms: int = Field(default=0, ge=0, description="an order reaches the venue this "
                            "long after its ts_event")
    slippage_bps: Bps = Field(default=Decimal(0), description="bar and trade fills: buys at "
                              "price * (1 + bps/1e4), sells at price * (1 - bps/1e4)")
    fee_bps: Bps = Field(default=Decimal(0), description="taker commission: price * quantity "
                         "* bps / 1e4 per execution")
    maker_fee_bps: Bps = Field(default=Decimal(0), description="commission of resting limit "
                               "order fills (maker), same formula")
