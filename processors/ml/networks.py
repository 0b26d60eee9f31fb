"""The model kinds `ml train --model` builds: `linear`, `mlp` and `gru`.

Each maps a window of normalised feature rows, shape (batch, sequence_length, features),
to one normalised prediction per row, shape (batch,). `linear` and `mlp` read the window
flattened (a window of 1 row by default); `gru` reads it in order and predicts from its
last hidden state. Every kind starts as the zero forecast (its output layer is zero).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

ModelKind = Literal["linear", "mlp", "gru"]
KINDS: tuple[ModelKind, ...] = ("linear", "mlp", "gru")


class Flat(nn.Module):
    """A feed-forward network on the flattened window: `hidden` empty is a linear model."""

    def __init__(self, inputs: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = inputs
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(_zero(nn.Linear(width, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.net(windows.flatten(1)).squeeze(1)


class Recurrent(nn.Module):
    """A one-layer GRU over the window, a linear head on its last hidden state."""

    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.gru = nn.GRU(features, hidden, batch_first=True)
        self.head = _zero(nn.Linear(hidden, 1))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        _, last = self.gru(windows)
        return self.head(last[-1]).squeeze(1)


def _zero(layer: nn.Linear) -> nn.Linear:
    """The output layer starts at zero: an untrained network is the zero forecast, and
    training moves it away only as far as the validation loss rewards."""
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def build_network(kind: ModelKind, features: int, sequence_length: int, hidden: int) -> nn.Module:
    """A new network of `kind` for windows of `sequence_length` rows of `features` values."""
    if kind == "linear":
        return Flat(features * sequence_length, ())
    if kind == "mlp":
        return Flat(features * sequence_length, (hidden, hidden))
    if kind == "gru":
        return Recurrent(features, hidden)
    raise ValueError(f"model kind must be one of {', '.join(KINDS)}, not {kind!r}")
