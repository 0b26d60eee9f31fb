"""Parameters of the margin engine (`--set margin.PARAM=VALUE`, env `NAUTILUS_MARGIN__PARAM`),
importable without the engine (and torch), as the settings need.

`method` is a mapping, like the VPIN engine's `bucket_volume`: the key `default` applies to
every account without its own entry, so one account is set with `--set
margin.method.ACC1=portfolio` and every account with `--set margin.method=portfolio` (a plain
value means `{"default": value}`). In the environment, per-account entries go in JSON
(`NAUTILUS_MARGIN__METHOD='{"default": "reg_t", "ACC1": "portfolio"}'`): pydantic-settings
lowercases the keys of `__ACC1`-style variables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Method = Literal["reg_t", "portfolio"]
DEFAULT_KEY = "default"
DEFAULT_METHOD: Method = "reg_t"
EXAMPLE_INSTRUMENTS = Path(__file__).parent / "instruments.example.yaml"


class MarginParams(BaseModel):
    """Parameters of the margin engine; see processors/margin/__init__.py for the rules."""

    # other configurations worth knowing (and that the engine conformance tests run)
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra={"examples": [
        {"method": {"default": "portfolio", "ACC2": "reg_t"}, "horizon_bars": 5,
         "predicted_raise": 0.2, "predicted_clear": 0.1,
         "instruments": str(EXAMPLE_INSTRUMENTS)},
    ]})

    method: dict[str, Method] = Field(
        default_factory=lambda: {DEFAULT_KEY: DEFAULT_METHOD},
        description="margin method, reg_t or portfolio: key `default` plus optional "
        "per-account entries")
    horizon_bars: int = Field(default=60, gt=0, description="bars H over which the margin "
                              "call probability is taken")
    predicted_raise: float = Field(default=0.5, gt=0, le=1, description="raise "
                                   "margin_call_predicted at call probability >= this")
    predicted_clear: float = Field(default=0.3, ge=0, le=1, description="clear it at call "
                                   "probability < this")
    instruments: Path | None = Field(
        default=None, description="YAML file of per-symbol multiplier, asset class and scan "
        "range (none: every symbol an equity, multiplier 1, scan range 15%)")
    ewma_lambda: float = Field(default=0.94, gt=0, lt=1, description="decay of the EWMA "
                               "covariance of bar returns (RiskMetrics: 0.94)")

    @field_validator("method", mode="before")
    @classmethod
    def _method_mapping(cls, value: object) -> object:
        if isinstance(value, str):
            return {DEFAULT_KEY: value}
        if isinstance(value, dict) and DEFAULT_KEY not in value:
            return {DEFAULT_KEY: DEFAULT_METHOD, **value}
        return value

    @field_validator("instruments", mode="before")
    @classmethod
    def _no_file(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _hysteresis(self) -> MarginParams:
        if self.predicted_clear > self.predicted_raise:
            raise ValueError(f"predicted_clear {self.predicted_clear} must not exceed "
                             f"predicted_raise {self.predicted_raise}")
        return self

    def method_for(self, account: str) -> Method:
        """The method of `account`: its own entry, else the default."""
        return self.method.get(account, self.method[DEFAULT_KEY])
