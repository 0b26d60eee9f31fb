"""Parameters of the portfolio risk engine (`--set risk.PARAM=VALUE`, env `NAUTILUS_RISK__PARAM`).

Every limit is off until it is set. A limit is a mapping: the key `default` applies to every
account without an entry of its own, other keys are accounts, so `--set risk.var_limit=50000`
limits every account and `--set risk.var_limit.ACC1=20000` one of them. A plain number means
`{"default": number}` and drops entries given before it; `{}` (the default) is off. In the
environment, entries go in JSON (`NAUTILUS_RISK__VAR_LIMIT='{"default": 50000, "ACC1":
20000}'`): the JSON form keeps the accounts' case, `__ACC1`-style variables would not.

`scenarios` names stress files: a bare name (`equity_crash`) is a file shipped in
processors/risk/scenarios/, anything else a path to a YAML file (format in
processors/risk/stress.py and the README). The files are read and checked here, so a bad one
stops any command with one line naming it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from processors.factor_model.params import DEFAULT_MODEL_NAME
from processors.risk.stress import load_scenarios

DEFAULT_KEY = "default"
Measure = Literal["var_hist_95", "var_hist_99", "cvar_hist_95", "cvar_hist_99",
                  "var_param_95", "var_param_99", "var_mc_95", "var_mc_99", "var_factor_95",
                  "var_factor_99"]
Usd = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Share = Annotated[float, Field(gt=0, allow_inf_nan=False)]  # of the equity peak
LIMITS = ("var_limit", "stress_limit", "drawdown_limit")


class RiskParams(BaseModel):
    """Parameters of the risk engine; see processors/risk/__init__.py for the definitions."""

    # other configurations worth knowing (and that the engine conformance tests run)
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra={"examples": [
        {"window": 3, "min_bars": 2, "horizon_bars": 10, "mc_scenarios": 2_000, "seed": 7,
         "var_measure": "var_param_99", "var_limit": {"default": 40.0, "ACC2": 25.0},
         "stress_limit": 20_000.0, "drawdown_limit": {"ACC1": 0.0002}, "clear_ratio": 0.5,
         "factor_model": "us_style", "factor_horizon_days": 10},
    ]})

    window: int = Field(default=250, ge=1, description="bar returns the historical VaR and "
                        "CVaR are taken over (the newest ones)")
    min_bars: int = Field(default=20, ge=1, description="bar returns needed before any VaR "
                          "is reported (None before)")
    horizon_bars: int = Field(default=1, ge=1, description="VaR horizon in bars: one-bar "
                              "figures are scaled by sqrt(horizon_bars)")
    mc_scenarios: int = Field(default=10_000, ge=100, le=10_000_000,
                              description="Monte Carlo scenarios per report")
    seed: int = Field(default=0, ge=0, description="Monte Carlo seed; a report's own seed "
                      "also takes its account and ts_event")
    scenarios: tuple[str, ...] = Field(
        default=("equity_crash", "sector_rotation"), description="stress files: a shipped "
        "one by name, or a path to a YAML file")
    var_measure: Measure = Field(default="var_hist_99", description="the figure `var_limit` "
                                 "applies to")
    var_limit: dict[str, Usd] = Field(
        default_factory=dict, description="most `var_measure` in USD; key `default` or an "
        "account")
    stress_limit: dict[str, Usd] = Field(
        default_factory=dict, description="most worst stress loss in USD; key `default` or "
        "an account")
    drawdown_limit: dict[str, Share] = Field(
        default_factory=dict, description="most drawdown from the equity peak, a fraction "
        "(0.1 = 10%); key `default` or an account")
    factor_model: str = Field(default=DEFAULT_MODEL_NAME, min_length=1, max_length=64,
                              description="the daily factor model (the `model` of its "
                              "logic.factor.* records) the factor VaR reads")
    factor_horizon_days: int = Field(default=1, ge=1, description="factor VaR horizon in "
                                     "days: the one-day figure is scaled by "
                                     "sqrt(factor_horizon_days)")
    clear_ratio: float = Field(default=0.9, gt=0, le=1, description="a raised limit alert "
                               "clears once its figure is below clear_ratio x the limit")

    @field_validator("scenarios", mode="before")
    @classmethod
    def _names(cls, value: object) -> object:
        """`--set risk.scenarios=a,b` and `NAUTILUS_RISK__SCENARIOS=a,b` give text."""
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

    @field_validator(*LIMITS, mode="before")
    @classmethod
    def _limit_mapping(cls, value: object) -> object:
        """A plain number is the default of every account."""
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            return {DEFAULT_KEY: value}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RiskParams:
        if self.min_bars > self.window:
            raise ValueError(f"min_bars {self.min_bars} must not exceed window {self.window} "
                             "(the historical figures would never be reported)")
        load_scenarios(self.scenarios)  # a ValueError naming the file and what is wrong
        return self

    def limit(self, name: str, account: str) -> float | None:
        """Limit `name` of `account`: its own entry, else the default, else None (off)."""
        limits: dict[str, float] = getattr(self, name)
        return limits.get(account, limits.get(DEFAULT_KEY))
