"""Registered models with known weights for the engine and strategy tests."""

from __future__ import annotations

import torch

from processors.ml.networks import build_network
from processors.ml.registry import Registry
from tests.factories import MINUTE_NS


def register_linear(registry: Registry, name: str, weights: list[float], bias: float = 0.0,
                    features: tuple[str, ...] = ("a", "b"),
                    topics: dict[str, str] | None = None) -> int:
    """A linear model predicting bias + weights . features (no normalisation); `topics`:
    model.json's input_topics (None: none, a model on logic.features)."""
    network = build_network("linear", len(features), 1, 1)
    with torch.no_grad():
        network.net[0].weight.copy_(torch.tensor([weights]))
        network.net[0].bias.fill_(bias)
    return registry.save(name, network, meta(features, "linear", 1, topics=topics))


def register_gru(registry: Registry, name: str, features: tuple[str, ...] = ("a", "b"),
                 sequence_length: int = 3, seed: int = 1,
                 topics: dict[str, str] | None = None) -> int:
    torch.manual_seed(seed)
    network = build_network("gru", len(features), sequence_length, 4)
    torch.nn.init.normal_(network.head.weight)  # not the zero forecast a new network is
    return registry.save(name, network, meta(features, "gru", sequence_length, hidden=4,
                                             topics=topics))


def meta(features: tuple[str, ...], kind: str, sequence_length: int,
         hidden: int = 1, topics: dict[str, str] | None = None) -> dict[str, object]:
    return {"network": {"kind": kind, "sequence_length": sequence_length, "hidden": hidden},
            "features": list(features), **({"input_topics": topics} if topics else {}),
            "normalisation": {"mean": [0.0] * len(features), "std": [1.0] * len(features),
                              "target_std": 1.0},
            "target": {"name": "ret_5", "horizon_bars": 5, "horizon_ns": 5 * MINUTE_NS},
            "data": {}, "metrics": {"out_of_sample": {"model": {"mse": 0.0, "ic": None,
                                                                "hit_rate": None}}},
            "training": {}, "code_version": "test", "created_at": "2024-01-01T00:00:00+00:00"}
