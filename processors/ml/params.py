"""Parameters of the `ml` engine (`--set ml.PARAM=VALUE`, env `NAUTILUS_ML__PARAM`).

Kept apart from the engine so that reading the settings does not import torch.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MlParams(BaseModel):
    """Which registered model the `ml` engine serves, and from where."""

    # the example serves the test suite's registry (a linear model over the factory's
    # features), run from the repository root by the engine conformance tests
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra={"examples": [
        {"registry": "tests/processors/ml/registry", "model": "demo", "window_bars": 3},
    ]})

    registry: str = Field(default="models", description="directory of the model registry "
                          "(`ml train --out`)")
    model: str = Field(default="", description="name of the registered model whose promoted "
                       "version is served (empty: no model, no predictions)")
    window_bars: int = Field(default=16, ge=1, description="feature records kept per symbol: "
                             "the longest input window (sequence length) a served model may "
                             "have")
