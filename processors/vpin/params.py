"""Parameters of the VPIN engine (`--set vpin.PARAM=VALUE`, env `NAUTILUS_VPIN__PARAM`).

`bucket_volume` is a mapping: the key `default` applies to every symbol without its own entry,
so one symbol is overridden with `--set vpin.bucket_volume.AAPL=25000` and the default with
`--set vpin.bucket_volume.default=50000`. A plain number (`vpin.bucket_volume=50000`,
`NAUTILUS_VPIN__BUCKET_VOLUME=50000`) means `{"default": 50000}` and drops symbol entries
given before it; a mapping without `default` keeps the built-in default. In the environment,
per-symbol entries go in JSON (`NAUTILUS_VPIN__BUCKET_VOLUME='{"default": 10000,
"AAPL": 25000}'`): pydantic-settings lowercases the keys of `__AAPL`-style variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

DEFAULT_BUCKET_VOLUME = 10_000
DEFAULT_KEY = "default"
# Bucket volumes are kept in exact integer units of 2**-VOLUME_SCALE_BITS share (see
# buckets.py); these bounds keep every such sum inside int64 and exact as a float64.
VOLUME_SCALE_BITS = 20
MAX_BUCKET_VOLUME = 2**32
MAX_WINDOW_VOLUME = 2**42
FEED_BUCKETS_PER_BAR = 5  # a feed-sized V: a fifth of a quiet bar's volume


class VpinParams(BaseModel):
    """Parameters of the VPIN engine; see processors/vpin/__init__.py for the definition."""

    # other configurations worth knowing (and that the engine conformance tests run)
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra={"examples": [
        {"classification": "lee_ready", "quote_lag_ms": 100, "window": 5, "cdf_window": 20,
         "alert_min_history": 1},
        {"classification": "tick", "window": 5, "alert_cdf": 0.7, "clear_cdf": 0.5,
         "alert_min_history": 3},
    ]})

    bar_seconds: int = Field(default=60, ge=1, description="time-bar length (BVC)")
    bucket_volume: dict[str, PositiveInt] = Field(
        default_factory=lambda: {DEFAULT_KEY: DEFAULT_BUCKET_VOLUME},
        description="volume V of one bucket: key `default` plus optional per-symbol entries",
    )
    window: int = Field(default=50, ge=1, description="buckets n in one VPIN value")
    sigma_bars: int = Field(default=50, ge=2, description="ΔP values in the BVC sigma")
    cdf_window: int = Field(default=1_000, ge=1, description="VPIN values in the CDF")
    alert_cdf: float = Field(default=0.9, gt=0, le=1, description="raise at CDF >= this")
    clear_cdf: float = Field(default=0.8, ge=0, le=1, description="clear at CDF < this")
    alert_min_history: int = Field(
        default=100, ge=1, description="VPIN values a symbol needs before its CDF can raise "
        "an alert (with few values the CDF swings across both thresholds)",
    )
    grace_ms: int = Field(default=2_000, ge=0, description="wait past a bar's end or a "
                          "trade's quote time for late data before closing")
    classification: Literal["bvc", "tick", "lee_ready"] = "bvc"
    quote_lag_ms: int = Field(default=0, ge=0, description="Lee-Ready: quotes at or before "
                              "trade time minus this are used")
    include_unreported: bool = Field(
        default=False, description="classify prints flagged unreported (odd lots, "
        "average-price and derivative trades) too",
    )

    @field_validator("bucket_volume", mode="before")
    @classmethod
    def _volume_mapping(cls, value: object) -> object:
        if isinstance(value, int | str) and not isinstance(value, bool):
            return {DEFAULT_KEY: value}
        if isinstance(value, dict) and DEFAULT_KEY not in value:
            return {DEFAULT_KEY: DEFAULT_BUCKET_VOLUME, **value}
        return value

    @field_validator("bucket_volume")
    @classmethod
    def _volume_bounds(cls, value: dict[str, int]) -> dict[str, int]:
        too_big = {k: v for k, v in value.items() if v > MAX_BUCKET_VOLUME}
        if too_big:
            raise ValueError(f"bucket volumes above {MAX_BUCKET_VOLUME}: {too_big}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> VpinParams:
        if self.clear_cdf > self.alert_cdf:
            raise ValueError(f"clear_cdf {self.clear_cdf} must not exceed "
                             f"alert_cdf {self.alert_cdf}")
        largest = max(self.bucket_volume.values())
        if self.window * largest > MAX_WINDOW_VOLUME:
            raise ValueError(f"window x bucket_volume must be at most {MAX_WINDOW_VOLUME}")
        return self

    def bucket_volume_for(self, symbol: str) -> int:
        """V of `symbol`: its own entry, else the default."""
        return self.bucket_volume.get(symbol, self.bucket_volume[DEFAULT_KEY])

    def tuned_for_feed(self, volume_per_s: Mapping[str, float]) -> VpinParams:
        """V sized to a feed's symbols (expected traded volume per second): a fifth of a
        quiet bar's volume, so VPIN values start after about a dozen bars while each bucket
        still spans a good part of one bar (far below one bar's volume, a bar fills many
        buckets with one fraction and the CDF jumps bar by bar)."""
        sized = {symbol: max(1, round(rate * self.bar_seconds) // FEED_BUCKETS_PER_BAR)
                 for symbol, rate in volume_per_s.items()}
        return self.model_copy(update={"bucket_volume": {**self.bucket_volume, **sized}})
