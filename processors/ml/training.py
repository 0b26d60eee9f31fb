"""Walk-forward training of a forecast model, seeded and reproducible on CPU.

Time is cut by distinct bar times (ts_event) into `folds + 1` equal blocks. Fold k tests on
block k (k = 1..folds) with a model trained on every earlier time except the last `gap` bar
times before the test block: a sample's target reaches `horizon` bars ahead, so with
gap >= horizon no training target overlaps the test period. Inside the training times the
last `validation_share` (after another gap) decides early stopping: training stops after
`patience` epochs without a better validation MSE and keeps the best epoch's weights. The
network starts as the zero forecast (networks.py) and its validation MSE before training
counts as epoch 0's: a model that never beats it on validation stays the zero forecast.

Features are z-scored with the training rows' mean and standard deviation, the target scaled
by its training standard deviation; the statistics travel with the model (registry).

The out-of-sample figures are those of every fold's test block pooled, next to the naive
forecasts on the same samples: zero, and the last value (the return over the N bars up to t).
The model that is registered is trained the same way on all the samples (the last
`validation_share` of times for early stopping).

Reproducible: `torch.manual_seed(seed)`, a seeded generator for the shuffles, deterministic
algorithms; the same samples and configuration give the same weights on the same machine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from processors.ml.dataset import Samples
from processors.ml.evaluation import scores
from processors.ml.exceptions import TrainingDataError
from processors.ml.networks import ModelKind, build_network

log = logging.getLogger(__name__)
MIN_STD = 1e-12


@dataclass(frozen=True, slots=True)
class TrainConfig:
    kind: ModelKind
    horizon: int
    sequence_length: int = 1
    hidden: int = 32
    folds: int = 3
    gap: int | None = None  # bar times left out before a test or validation block; None: horizon
    epochs: int = 200
    patience: int = 10
    batch_size: int = 256
    learning_rate: float = 1e-3
    validation_share: float = 0.2
    seed: int = 7

    @property
    def gap_bars(self) -> int:
        return self.horizon if self.gap is None else self.gap


@dataclass(frozen=True, slots=True)
class Normalisation:
    mean: np.ndarray  # per feature
    std: np.ndarray
    target_std: float

    def inputs(self, windows: np.ndarray) -> np.ndarray:
        return (windows - self.mean) / self.std

    @staticmethod
    def of(samples: Samples) -> Normalisation:
        flat = samples.inputs.reshape(-1, samples.inputs.shape[2])
        std = flat.std(axis=0)
        target_std = float(samples.target.std())
        return Normalisation(flat.mean(axis=0), np.where(std < MIN_STD, 1.0, std),
                             target_std if target_std >= MIN_STD else 1.0)


@dataclass(slots=True)
class Fitted:
    network: nn.Module
    normalisation: Normalisation
    epochs: int  # epochs trained (the best was `best_epoch`)
    best_epoch: int
    validation_mse: float  # of the normalised target

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Forecasts (the target's units) of unnormalised windows, in one forward pass."""
        x = torch.from_numpy(self.normalisation.inputs(windows).astype(np.float32))
        self.network.eval()
        with torch.no_grad():
            out = self.network(x).numpy().astype(np.float64)
        return out * self.normalisation.target_std


@dataclass(frozen=True, slots=True)
class WalkForward:
    """The pooled out-of-sample figures (model, zero, last) and each fold's."""

    oos: dict[str, dict[str, float | None]]
    folds: list[dict[str, object]]
    samples: int  # out-of-sample samples


Progress = Callable[[str], None]


def time_blocks(ts_event: np.ndarray, folds: int) -> list[np.ndarray]:
    """The distinct bar times cut into `folds + 1` blocks, oldest first."""
    times = np.unique(ts_event)
    if len(times) < 2 * (folds + 1):
        raise TrainingDataError(f"{len(times)} distinct bar times are too few for {folds} "
                                "walk-forward folds")
    return np.array_split(times, folds + 1)


def split_before(times: np.ndarray, gap: int, share: float) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation times from `times` (sorted): the last `share` validates, the
    `gap` times before it are left out."""
    validation = max(1, int(round(len(times) * share)))
    fit_end = len(times) - validation - gap
    if fit_end < 1:
        raise TrainingDataError(f"{len(times)} bar times cannot hold a training block, a gap "
                                f"of {gap} and a validation block")
    return times[:fit_end], times[-validation:]


def walk_forward(samples: Samples, config: TrainConfig, progress: Progress) -> WalkForward:
    """Train and test each fold (see the module docstring)."""
    blocks = time_blocks(samples.ts_event, config.folds)
    forecasts, outcomes, lasts, folds = [], [], [], []
    for k in range(1, config.folds + 1):
        test_times = blocks[k]
        earlier = np.concatenate(blocks[:k])
        train_times = earlier[:max(0, len(earlier) - config.gap_bars)]
        test = samples.take(np.flatnonzero(np.isin(samples.ts_event, test_times)))
        fitted = fit(samples, train_times, config, progress, f"fold {k}/{config.folds}")
        forecast = fitted.predict(test.inputs)
        figures = scores(forecast, test.target)
        progress(f"fold {k}/{config.folds}: trained on {len(train_times)} bar times, tested on "
                 f"{len(test)} samples: mse {figures['mse']:.4g} (zero "
                 f"{scores(np.zeros(len(test)), test.target)['mse']:.4g}), ic "
                 f"{_text(figures['ic'])}, hit rate {_text(figures['hit_rate'])}")
        folds.append({"fold": k, "train_from_ns": int(train_times[0]),
                      "train_to_ns": int(train_times[-1]), "test_from_ns": int(test_times[0]),
                      "test_to_ns": int(test_times[-1]), "test_samples": len(test),
                      "epochs": fitted.epochs, "best_epoch": fitted.best_epoch, **figures})
        forecasts.append(forecast)
        outcomes.append(test.target)
        lasts.append(test.last)
    forecast, outcome, last = (np.concatenate(a) for a in (forecasts, outcomes, lasts))
    return WalkForward({"model": scores(forecast, outcome),
                        "zero": scores(np.zeros(len(outcome)), outcome),
                        "last": scores(last, outcome)}, folds, len(outcome))


def fit(samples: Samples, times: np.ndarray, config: TrainConfig, progress: Progress,
        label: str) -> Fitted:
    """A model trained on the samples at `times`, early-stopped on their last share."""
    fit_times, validation_times = split_before(times, config.gap_bars, config.validation_share)
    train = samples.take(np.flatnonzero(np.isin(samples.ts_event, fit_times)))
    validation = samples.take(np.flatnonzero(np.isin(samples.ts_event, validation_times)))
    if len(train) == 0 or len(validation) == 0:
        raise TrainingDataError(f"{label}: no samples to train or validate on")
    norm = Normalisation.of(train)
    torch.manual_seed(config.seed)
    network = build_network(config.kind, len(samples.features), config.sequence_length,
                            config.hidden)
    x, y = _tensors(train, norm)
    vx, vy = _tensors(validation, norm)
    optimiser = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    shuffle = torch.Generator().manual_seed(config.seed)
    best, best_epoch, best_state, epoch = _mse(network, vx, vy), 0, _copy(network), 0
    for epoch in range(1, config.epochs + 1):
        network.train()
        for rows in torch.randperm(len(y), generator=shuffle).split(config.batch_size):
            optimiser.zero_grad()
            loss = nn.functional.mse_loss(network(x[rows]), y[rows])
            loss.backward()
            optimiser.step()
        validation_mse = _mse(network, vx, vy)
        if validation_mse < best:
            best, best_epoch, best_state = validation_mse, epoch, _copy(network)
        elif epoch - best_epoch >= config.patience:
            break
    network.load_state_dict(best_state)
    network.eval()
    progress(f"{label}: {len(train)} training samples, {len(validation)} validation; stopped "
             f"after epoch {epoch}, best {best_epoch} (validation mse {best:.4g} normalised)")
    return Fitted(network, norm, epoch, best_epoch, best)


def _tensors(samples: Samples, norm: Normalisation) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.from_numpy(norm.inputs(samples.inputs).astype(np.float32)),
            torch.from_numpy((samples.target / norm.target_std).astype(np.float32)))


def _mse(network: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    network.eval()
    with torch.no_grad():
        return float(nn.functional.mse_loss(network(x), y))


def _copy(network: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in network.state_dict().items()}


def _text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
