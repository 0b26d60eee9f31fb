"""Parameters of the `ml` engine (`--set ml.PARAM=VALUE`, env `NAUTILUS_ML__PARAM`).

Kept apart from the engine so that reading the settings does not import torch.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MlParams(BaseModel):
    """Which registered model the `ml` engine serves, and from where."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    registry: str = Field(default="models", description="directory of the model registry "
                          "(`ml train --out`)")
    model: str = Field(default="", description="name of the registered model whose promoted "
                       "version is served (empty: no model, no predictions)")
