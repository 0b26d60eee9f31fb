"""Parameters of the daily cross-sectional factor model (`nautilus-streams factors model`).

The defaults are toraniko 1.1.1's (`factor_mom`, `factor_sze`, `estimate_factor_returns`);
the covariance half-life is Barra USE4's for factor volatility (90 trading days).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_MODEL_NAME = "style"
"""The name a fit is published under unless `--name` says otherwise (the records' `model`),
and the model the risk engine's factor VaR reads unless `risk.factor_model` says otherwise."""


class FactorModelParams(BaseModel):
    """Parameters of the factor model; see processors/factor_model/__init__.py for the
    definitions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    momentum_days: int = Field(default=504, ge=1, description="trailing daily returns the "
                               "momentum score compounds")
    momentum_half_life: int = Field(default=126, ge=1, description="half-life in days of the "
                                    "momentum weights")
    momentum_lag: int = Field(default=20, ge=0, description="days the newest return in the "
                              "momentum window lies behind the day scored")
    momentum_winsor: float = Field(default=0.01, ge=0, lt=0.5, description="share clipped at "
                                   "each tail of the raw momentum scores, per day")
    size_lower: float = Field(default=0.2, gt=0, lt=1, description="size scores above this "
                              "quantile of the day ...")
    size_upper: float = Field(default=0.8, gt=0, lt=1, description="... and below this one "
                              "are set to 0")
    returns_winsor: float = Field(default=0.05, ge=0, lt=0.5, description="share of asset "
                                  "returns clipped at each tail, per day, before the regression")
    covariance_half_life: float = Field(default=90.0, gt=0, description="half-life in days of "
                                        "the EWMA factor covariance")

    @model_validator(mode="after")
    def _size_band(self) -> FactorModelParams:
        if self.size_lower >= self.size_upper:
            raise ValueError(f"size_lower ({self.size_lower}) must be below size_upper "
                             f"({self.size_upper})")
        return self
