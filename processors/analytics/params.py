"""Parameters of the analytics engine (`--set analytics.PARAM=VALUE`,
env `NAUTILUS_ANALYTICS__PARAM`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AnalyticsParams(BaseModel):
    """Parameters of the analytics engine; see processors/analytics/__init__.py."""

    # a configuration worth knowing (and that the engine conformance tests run): periods
    # short enough that a few minutes of input close many, and a rolling window of two
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra={"examples": [
        {"period_seconds": 20, "periods_per_year": 1_000, "rolling_periods": 2},
    ]})

    period_seconds: int = Field(default=86_400, gt=0, description="length of a return period "
                                "in seconds, on the UTC epoch grid (86400: UTC days)")
    periods_per_year: int = Field(default=252, gt=0, description="periods in a year: the "
                                  "annualization of the annual figures and the ratios")
    rolling_periods: int = Field(default=20, ge=2, description="period returns the rolling "
                                 "Sharpe ratio and drawdown are taken over (the newest ones)")
