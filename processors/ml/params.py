"""Parameters of the `ml` engine (`--set ml.PARAM=VALUE`, env `NAUTILUS_ML__PARAM`).

Kept apart from the engine so that reading the settings does not import torch.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MlParams(BaseModel):
    """Which registered model the `ml` engine serves, and from where."""

    # the examples serve the test suite's registry, run from the repository root by the
    # engine conformance tests: linear models over windows of 2 bars, of the factory's
    # features (demo), and of a feature and a factor (demo_joint: bars wait for both topics)
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra={"examples": [
        {"registry": "tests/processors/ml/registry", "model": "demo", "window_bars": 3},
        {"registry": "tests/processors/ml/registry", "model": "demo_joint", "window_bars": 3,
         "pending_bars": 2},
    ]})

    registry: str = Field(default="models", description="directory of the model registry "
                          "(`ml train --out`)")
    model: str = Field(default="", description="name of the registered model whose promoted "
                       "version is served (empty: no model, no predictions)")
    window_bars: int = Field(default=16, ge=1, description="bars kept per symbol: the longest "
                             "input window (sequence length) a served model may have")
    pending_bars: int = Field(default=8, ge=1, description="how far a bar may wait for the "
                              "record of its other topic (logic.features or logic.factors) "
                              "the model needs: given up (no prediction, counted) once the "
                              "symbol has this many newer bars")
