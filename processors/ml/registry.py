"""The model registry: versioned model directories on disk, and a promoted pointer per name.

```
REGISTRY/NAME/1/weights.pt      the network's state dict (torch.save)
REGISTRY/NAME/1/model.json      what serving and review need (below)
REGISTRY/NAME/2/...
REGISTRY/NAME/PROMOTED          the served version's number, as text
```

`model.json` holds the model kind and shape, the ordered feature list and the topic each
input comes from (`input_topics`: logic.features or logic.factors), the normalisation
statistics, the target and its horizon, the training data's sha256, inputs and time range,
the walk-forward metrics against the naive baselines, the training configuration and the
code version (`git describe` of the checkout, else the package version). Versions are
numbered from 1 in order of training; a version is written under a temporary name and
renamed into place, and PROMOTED is replaced by rename, so a reader (the `ml` engine, which
checks PROMOTED's inode and mtime per batch) never sees half a model or half a pointer.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from processors.ml.exceptions import MlError, RegistryError
from processors.ml.inputs import FEATURES_TOPIC, INPUT_TOPICS, input_topics
from processors.ml.networks import build_network

WEIGHTS, META, PROMOTED = "weights.pt", "model.json", "PROMOTED"
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def code_version() -> str:
    """`git describe --always --dirty` of the checkout this code runs from, else the
    installed package's version."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        described = ""
    if described:
        return f"git:{described}"
    try:
        return f"nautilus-streams {metadata.version('nautilus-streams')}"
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(slots=True)
class ServedModel:
    """One registered version loaded for inference on `device`."""

    name: str
    version: int
    features: tuple[str, ...]
    topics: frozenset[str]  # those its inputs come from
    sequence_length: int
    horizon_ns: int
    network: nn.Module
    mean: torch.Tensor
    std: torch.Tensor
    target_std: float

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Forecasts of unnormalised windows (rows, sequence_length, features), all rows in
        one forward pass."""
        x = torch.as_tensor(windows, dtype=torch.float32, device=self.mean.device)
        with torch.inference_mode():
            out = self.network((x - self.mean) / self.std)
        return out.double().cpu().numpy() * self.target_std


class Registry:
    """The registry under `root` (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[int]:
        folder = self._folder(name)
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir()
                      if p.name.isdigit() and (p / META).is_file())

    def save(self, name: str, network: nn.Module, meta: dict[str, Any]) -> int:
        """Register a new version of `name`: its weights and `meta` (model.json, with
        `name` and `version` added). Returns the version."""
        folder = self._folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        staging = folder / f".staging-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            torch.save(network.state_dict(), staging / WEIGHTS)
            while True:
                version = max(self.versions(name), default=0) + 1
                (staging / META).write_text(json.dumps(
                    {"name": name, "version": version, **meta}, indent=2) + "\n")
                try:
                    staging.rename(folder / str(version))
                    return version
                except OSError:  # another training took that number first
                    if not (folder / str(version)).exists():
                        raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def meta(self, name: str, version: int | None = None) -> dict[str, Any]:
        """model.json of a version (None: the promoted one, else the newest)."""
        chosen = self._resolve(name, version)
        data: dict[str, Any] = json.loads((self._folder(name) / str(chosen) / META).read_text())
        return data

    def promote(self, name: str, version: int) -> None:
        """Make `version` the one the `ml` engine serves."""
        self._resolve(name, version)
        pointer = self._folder(name) / PROMOTED
        staging = pointer.with_name(f".{PROMOTED}-{uuid.uuid4().hex}")
        staging.write_text(f"{version}\n")
        os.replace(staging, pointer)

    def promoted(self, name: str) -> int | None:
        try:
            text = (self._folder(name) / PROMOTED).read_text().strip()
        except FileNotFoundError:
            return None
        if not text.isdigit():
            raise RegistryError(f"{self._folder(name) / PROMOTED} holds {text!r}, not a version")
        return int(text)

    def promoted_topics(self, name: str) -> frozenset[str]:
        """The topics the inputs of `name`'s promoted version come from; logic.features when
        none is promoted or its model.json is unreadable (the `ml` engine then serves
        nothing, and says so)."""
        try:
            version = self.promoted(name)
            if version is None:
                return frozenset({FEATURES_TOPIC})
            return frozenset(input_topics(self.meta(name, version)).values())
        except (MlError, OSError, ValueError, KeyError):
            return frozenset({FEATURES_TOPIC})

    def promoted_stamp(self, name: str) -> tuple[int, int] | None:
        """(inode, mtime ns) of the promoted pointer: changes whenever it is replaced."""
        try:
            stat = os.stat(self._folder(name) / PROMOTED)
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def load(self, name: str, version: int, device: torch.device) -> ServedModel:
        """A version's network on `device`, ready to predict; RegistryError when its files
        are missing or do not fit its model.json."""
        meta = self.meta(name, version)
        topics = frozenset(input_topics(meta).values())
        if not topics <= set(INPUT_TOPICS):
            raise RegistryError(f"model {name} version {version} reads "
                                f"{', '.join(sorted(topics - set(INPUT_TOPICS)))}: its inputs "
                                f"must come from {' or '.join(INPUT_TOPICS)}")
        shape = meta["network"]
        network = build_network(shape["kind"], len(meta["features"]), shape["sequence_length"],
                                shape["hidden"])
        path = self._folder(name) / str(version) / WEIGHTS
        try:
            network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except (OSError, RuntimeError, pickle.UnpicklingError) as exc:
            raise RegistryError(f"{path}: not the weights of this model: {exc}") from exc
        network.to(device).eval()
        norm = meta["normalisation"]
        return ServedModel(
            name, version, tuple(meta["features"]), topics, shape["sequence_length"],
            meta["target"]["horizon_ns"], network,
            torch.tensor(norm["mean"], dtype=torch.float32, device=device),
            torch.tensor(norm["std"], dtype=torch.float32, device=device),
            float(norm["target_std"]))

    def _resolve(self, name: str, version: int | None) -> int:
        versions = self.versions(name)
        if not versions:
            raise RegistryError(f"no model {name!r} in {self.root} (models: "
                                f"{_listed(self.names())})")
        if version is None:
            return self.promoted(name) or versions[-1]
        if version not in versions:
            raise RegistryError(f"model {name} has no version {version}; it has "
                                f"{_listed(versions)}")
        return version

    def _folder(self, name: str) -> Path:
        if not NAME_PATTERN.fullmatch(name):
            raise RegistryError(f"a model name is letters, digits, '_', '.' and '-', not "
                                f"{name!r}")
        return self.root / name


def _listed(items: list[Any]) -> str:
    return ", ".join(map(str, items)) or "none"
