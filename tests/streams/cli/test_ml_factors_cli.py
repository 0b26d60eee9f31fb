"""A model on features and factors from the CLI, as the README gives it: a simulated tape
replayed into bars, features and factors, a model trained on `ret_1,KMID,ROC5`, its inputs'
topics in model.json, the `ml` engine's predictions equal to the model applied to the
training rows, and a backtest of `ml_signal` that adds the factors engine for it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest
import torch

from benchmarks.sim_tape import write_tape
from processors.ml.dataset import build_samples, read_features
from processors.ml.engine import MlEngine
from processors.ml.params import MlParams
from streams.backtest_run import BacktestSpec, spec_engines
from streams.cli.main import main
from streams.clock import TestClock
from streams.codec import decode_columns, encode
from streams.schema import FactorVector, FeatureVector
from streams.settings import REPO_ROOT

INPUTS = ("ret_1", "KMID", "ROC5")
TOPICS = {"ret_1": "logic.features", "KMID": "logic.factors", "ROC5": "logic.factors"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A replay of 2 symbols' 90 minutes into bars, features and factors, and a registry
    with a linear model on INPUTS trained on it and promoted: (replay dir, registry)."""
    root = tmp_path_factory.mktemp("ml_factors")
    write_tape(["SIMA", "SIMB"], 90, 2.0, 5, root / "tape.parquet")
    assert main(["replay", "-i", str(root / "tape.parquet"), "--engines",
                 "bars,features,factors", "--out", str(root / "replay")]) == 0
    models = root / "models"
    assert main(["ml", "train", "-i", str(root / "replay"), "--target", "ret_2", "--model",
                 "linear", "--features", ",".join(INPUTS), "--folds", "2", "--epochs", "5",
                 "--name", "linf", "--out", str(models)]) == 0
    assert main(["ml", "promote", "linf", "1", "--registry", str(models)]) == 0
    return root / "replay", models


def records(replay: Path, topic: str, model: type[FeatureVector | FactorVector]) -> dict:
    """The replay's records of `topic`, decoded as a worker decodes them."""
    rows = pq.read_table(replay / f"{topic}.parquet").to_pylist()
    columns, rejected = decode_columns(model.__name__, [encode(model(
        ts_event=r["ts_event"], ts_init=r["ts_init"], symbol=r["symbol"],
        values=orjson.loads(r["values"]))) for r in rows])
    assert not rejected
    return columns


def test_the_engine_predicts_what_the_model_makes_of_the_training_rows(
    trained: tuple[Path, Path]
) -> None:
    # Arrange
    replay, models = trained
    meta = json.loads((models / "linf" / "1" / "model.json").read_text())
    weights = torch.load(models / "linf" / "1" / "weights.pt", weights_only=True)
    # a symbol's bars may wait for their other topic as long as the tape (90 minutes)
    ml = MlEngine(MlParams(registry=str(models), model="linf", pending_bars=100),
                  TestClock(0), torch.device("cpu"))
    # Act: every factor record first, then the features (each bar completes on its feature)
    assert ml.process("logic.factors", records(replay, "logic.factors", FactorVector)) == []
    emits = ml.process("logic.features", records(replay, "logic.features", FeatureVector))
    # Assert: the model applied by hand to the training matrix's rows
    assert meta["features"] == list(INPUTS) and meta["input_topics"] == TOPICS
    samples = build_samples(read_features([replay]), INPUTS, horizon=2)
    norm = meta["normalisation"]
    by_hand = ((samples.inputs[:, 0] - norm["mean"]) / norm["std"]
               @ weights["net.0.weight"].double().numpy()[0]
               + float(weights["net.0.bias"])) * norm["target_std"]
    predicted = {(e.value.symbol, e.value.ts_event): e.value.value for e in emits}
    assert np.abs(by_hand).max() > 0  # trained off the zero forecast
    assert [predicted[key] for key in zip(samples.symbols.tolist(), samples.ts_event.tolist(),
                                          strict=True)] == pytest.approx(by_hand.tolist(),
                                                                          rel=1e-4, abs=1e-9)
    # the bars with every input: the samples' and the last 2 of each symbol (no target yet)
    assert len(predicted) == len(samples) + 2 * 2 and ml.rows_missing_features > 0


def test_a_backtest_of_ml_signal_adds_the_factors_its_model_reads(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    replay, models = trained
    assert main(["backtest", "-i", str(replay / "market.bars.1m.csv"), "--strategy",
                 "ml_signal", "--set", "ml.model=linf", "--set", f"ml.registry={models}",
                 "--set", "ml_signal.allow_short=true", "--out", str(tmp_path)]) == 0

    factors = pq.read_table(tmp_path / "logic.factors.parquet").num_rows
    predictions = pq.read_table(tmp_path / "logic.predictions.parquet").to_pylist()
    assert factors == pq.read_table(replay / "logic.factors.parquet").num_rows
    # every bar that has the three inputs (from bar 6 of a symbol on: ROC5 reads 5 before)
    complete = [v for v in read_features([replay]).values if all(n in v for n in INPUTS)]
    assert len(predictions) == len(complete) > 0
    assert {p["model"] for p in predictions} == {"linf"}
    assert pq.read_table(tmp_path / "logic.orders.parquet").num_rows > 0


def test_a_backtest_runs_the_factors_engine_only_for_a_model_that_reads_factors() -> None:
    registry = REPO_ROOT / "tests" / "processors" / "ml" / "registry"  # demo_joint reads KMID
    engines = {model: [e.name for e in spec_engines(BacktestSpec(
        "ml_signal", overrides=(f"ml.model={model}", f"ml.registry={registry}")))]
        for model in ("demo", "demo_joint", "")}
    assert "factors" not in engines["demo"] and engines[""] == engines["demo"]
    assert engines["demo_joint"].index("factors") < engines["demo_joint"].index("ml")
    assert [name for name in engines["demo_joint"] if name != "factors"] == engines["demo"]
