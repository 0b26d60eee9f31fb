"""Walk-forward training: test blocks never overlap what trained the model, a predictive
feature is learnt (the model beats the naive forecasts out of sample), and the same data and
seed give the same weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from processors.ml.dataset import build_samples, read_features
from processors.ml.training import TrainConfig, fit, walk_forward
from tests.factories import MINUTE_NS
from tests.processors.ml.data import HORIZON, feature_rows, write_features


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = write_features(tmp_path_factory.mktemp("features"),
                         feature_rows(("AAA", "BBB", "CCC"), 200, seed=5))
    return build_samples(read_features([out]), ("lead", "noise"), horizon=HORIZON)


CONFIG = TrainConfig(kind="linear", horizon=HORIZON, folds=2, epochs=40, patience=5,
                     learning_rate=0.01)


def test_a_predictive_feature_beats_the_naive_forecasts_out_of_sample(samples) -> None:  # type: ignore[no-untyped-def]
    result = walk_forward(samples, CONFIG, lambda line: None)
    model, zero, last = (result.oos[k] for k in ("model", "zero", "last"))
    assert model["mse"] < 0.5 * zero["mse"] and model["mse"] < last["mse"]
    assert model["ic"] > 0.8 and model["hit_rate"] > 0.8
    assert zero["ic"] is None and zero["hit_rate"] is None


def test_every_fold_trains_on_times_at_least_the_gap_before_its_test_block(samples) -> None:  # type: ignore[no-untyped-def]
    result = walk_forward(samples, CONFIG, lambda line: None)
    for fold in result.folds:
        # bar times are one minute apart: HORIZON bar times are left out between them
        assert fold["test_from_ns"] - fold["train_to_ns"] == (HORIZON + 1) * MINUTE_NS
    assert len(result.folds) == 2 and result.samples == sum(f["test_samples"] for f in result.folds)


def test_the_same_samples_and_seed_give_the_same_weights(samples) -> None:  # type: ignore[no-untyped-def]
    config = TrainConfig(kind="mlp", horizon=HORIZON, hidden=8, epochs=5, patience=5)
    times = np.unique(samples.ts_event)
    first, second = (fit(samples, times, config, lambda line: None, "fit") for _ in range(2))
    for a, b in zip(first.network.state_dict().values(), second.network.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
    other = fit(samples, times, TrainConfig(kind="mlp", horizon=HORIZON, hidden=8, epochs=5,
                                            seed=8), lambda line: None, "fit")
    assert not torch.equal(first.network.state_dict()["net.0.weight"],
                           other.network.state_dict()["net.0.weight"])
