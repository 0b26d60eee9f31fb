"""The registry: versions numbered in order, the promoted pointer, and a loaded version
predicts what the network it saved does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from processors.ml.exceptions import RegistryError
from processors.ml.registry import Registry
from tests.processors.ml.models import register_linear


def test_versions_count_up_and_promotion_moves_the_pointer(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    assert [register_linear(registry, "m", [1.0, 0.0]) for _ in range(3)] == [1, 2, 3]
    assert registry.names() == ["m"] and registry.promoted("m") is None
    assert registry.meta("m")["version"] == 3  # none promoted: the newest
    registry.promote("m", 2)
    stamp = registry.promoted_stamp("m")
    assert registry.promoted("m") == 2 and registry.meta("m")["version"] == 2
    registry.promote("m", 3)
    assert registry.promoted("m") == 3 and registry.promoted_stamp("m") != stamp
    assert not [p for p in (tmp_path / "m").iterdir() if p.name.startswith(".")]


def test_a_loaded_version_predicts_with_its_weights(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    version = register_linear(registry, "m", [2.0, -1.0], bias=0.5)
    served = registry.load("m", version, torch.device("cpu"))
    windows = np.array([[[1.0, 3.0]], [[0.0, 0.0]]])
    assert served.predict(windows) == pytest.approx([2.0 - 3.0 + 0.5, 0.5])
    assert served.features == ("a", "b") and served.horizon_ns == 300_000_000_000


def test_unknown_models_and_versions_are_clear_errors(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    with pytest.raises(RegistryError, match="no model 'm'"):
        registry.meta("m")
    register_linear(registry, "m", [1.0, 1.0])
    with pytest.raises(RegistryError, match="no version 7; it has 1"):
        registry.promote("m", 7)
    with pytest.raises(RegistryError, match="a model name"):
        registry.meta("../etc")
