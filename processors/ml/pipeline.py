"""`ml train` end to end: read features and factors, build samples, walk forward, fit,
register."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from processors.ml.dataset import build_samples, default_features, is_sign, read_features
from processors.ml.exceptions import TrainingDataError
from processors.ml.inputs import INPUT_TOPICS
from processors.ml.registry import Registry, code_version
from processors.ml.training import Progress, TrainConfig, WalkForward, fit, walk_forward


@dataclass(frozen=True, slots=True)
class Trained:
    name: str
    version: int
    walk_forward: WalkForward
    meta: dict[str, Any]


def train_and_register(
    inputs: Sequence[Path], target: str, config: TrainConfig, registry: Registry, name: str,
    features: Sequence[str] | None, created_at: str, progress: Progress,
) -> Trained:
    """Train `config.kind` on the inputs' features and factors to forecast `target`, test it
    walk-forward, fit it on every sample and register it as a new version of `name` (not
    promoted)."""
    torch.use_deterministic_algorithms(True)
    rows = read_features(inputs)
    chosen = tuple(features) if features else default_features(rows)
    missing = sorted(set(chosen) - set(rows.sources))
    if missing:
        raise TrainingDataError(f"no {' or '.join(INPUT_TOPICS)} record carries "
                                f"{', '.join(missing)}")
    samples = build_samples(rows, chosen, config.horizon, config.sequence_length,
                            sign=is_sign(target))
    read = ", ".join(f"{n} {topic} records" for topic, n in rows.records.items() if n)
    progress(f"{len(rows.values)} bars of {len(set(rows.symbols.tolist()))} symbols ({read}"
             f"{f'; {rows.duplicates} duplicates skipped' if rows.duplicates else ''}); "
             f"{len(samples)} samples with {len(chosen)} features: {', '.join(chosen)}")
    result = walk_forward(samples, config, progress)
    final = fit(samples, np.unique(samples.ts_event), config, progress, "final model")
    spacing = _bar_spacing_ns(rows.symbols, rows.ts_event)
    meta = {
        "network": {"kind": config.kind, "sequence_length": config.sequence_length,
                    "hidden": config.hidden},
        "features": list(chosen),
        "input_topics": {name: rows.sources[name] for name in chosen},
        "normalisation": {"mean": final.normalisation.mean.tolist(),
                          "std": final.normalisation.std.tolist(),
                          "target_std": final.normalisation.target_std},
        "target": {"name": target, "kind": "sign" if is_sign(target) else "return",
                   "horizon_bars": config.horizon,
                   "horizon_ns": config.horizon * spacing},
        "data": {"sha256": samples.digest(), "inputs": [str(p) for p in inputs],
                 "samples": len(samples), "symbols": sorted(set(samples.symbols.tolist())),
                 "from_ns": int(samples.ts_event.min()), "to_ns": int(samples.ts_event.max())},
        "metrics": {"out_of_sample": result.oos, "out_of_sample_samples": result.samples,
                    "folds": result.folds,
                    "final": {"epochs": final.epochs, "best_epoch": final.best_epoch,
                              "validation_mse_normalised": final.validation_mse}},
        "training": asdict(config),
        "code_version": code_version(),
        "created_at": created_at,
    }
    version = registry.save(name, final.network, meta)
    return Trained(name, version, result, registry.meta(name, version))


def _bar_spacing_ns(symbols: np.ndarray, ts_event: np.ndarray) -> int:
    """The median time between a symbol's consecutive records (a bar: 60 s for 1-minute
    bars)."""
    same = symbols[1:] == symbols[:-1]
    steps = np.diff(ts_event)[same]
    return int(np.median(steps)) if len(steps) else 0
