"""The train -> promote -> backtest loop from the CLI, as the README gives it: a bar file
replayed into features, a model trained and registered on them, listed, shown, promoted,
and `ml_signal` backtested on its predictions; errors are one line and exit 2."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from streams.cli.main import main
from tests.factories import MINUTE_NS, T0

SYMBOLS, BARS = ("MLA", "MLB"), 240


def write_bars(path: Path) -> Path:
    """Random-walk 1-minute bars in cents, in time order."""
    rng = np.random.default_rng(4)
    closes = 10_000 + np.cumsum(rng.integers(-40, 41, (BARS, len(SYMBOLS))), axis=0)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["ts_event", "symbol", "open", "high", "low", "close", "volume"])
        for m, row in enumerate(closes.tolist(), start=1):
            for symbol, cents in zip(SYMBOLS, row, strict=True):
                price = f"{cents / 100:.2f}"
                out.writerow([T0 + m * MINUTE_NS, symbol, price, price, price, price, 100])
    return path


def test_train_promote_and_backtest_ml_signal(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # Arrange: features of the bars
    bars = write_bars(tmp_path / "bars.csv")
    assert main(["replay", "-i", str(bars), "--engines", "features",
                 "--out", str(tmp_path / "replay")]) == 0
    models = tmp_path / "models"

    # Act
    assert main(["ml", "train", "-i", str(tmp_path / "replay"), "--target", "ret_2",
                 "--model", "linear", "--features", "ret_1,rsi_14", "--folds", "2",
                 "--epochs", "5", "--name", "lin", "--out", str(models)]) == 0
    trained = capsys.readouterr().out
    assert main(["ml", "promote", "lin", "1", "--registry", str(models)]) == 0
    assert main(["ml", "list", "--registry", str(models)]) == 0
    listed = capsys.readouterr().out
    assert main(["ml", "show", "lin", "--registry", str(models)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert main(["backtest", "-i", str(bars), "--strategy", "ml_signal", "--set", "ml.model=lin",
                 "--set", f"ml.registry={models}", "--set", "ml_signal.allow_short=true",
                 "--out", str(tmp_path / "bt")]) == 0

    # Assert: figures against both naive forecasts, the version registered and promoted
    assert "out of sample (" in trained and "registered lin version 1" in trained
    assert all(f"  {name} mse " in trained for name in ("model", "zero ", "last "))
    assert "* lin 1  linear ret_2 2 features" in listed
    assert shown["features"] == ["ret_1", "rsi_14"] and shown["target"]["horizon_bars"] == 2
    assert shown["data"]["symbols"] == list(SYMBOLS) and len(shown["data"]["sha256"]) == 64
    assert [f["fold"] for f in shown["metrics"]["folds"]] == [1, 2]
    # every bar with RSI (from bar 15) is predicted, and the strategy trades on them
    predictions = pq.read_table(tmp_path / "bt" / "logic.predictions.parquet").to_pylist()
    assert len(predictions) == len(SYMBOLS) * (BARS - 14)
    assert {(p["model"], p["version"], p["horizon_ns"]) for p in predictions} == {
        ("lin", 1, 2 * MINUTE_NS)}
    assert pq.read_table(tmp_path / "bt" / "logic.orders.parquet").num_rows > 0


def test_the_same_inputs_train_the_same_weights(tmp_path: Path) -> None:
    bars = write_bars(tmp_path / "bars.csv")
    assert main(["replay", "-i", str(bars), "--engines", "features",
                 "--out", str(tmp_path / "replay")]) == 0
    for _ in range(2):
        assert main(["ml", "train", "-i", str(tmp_path / "replay"), "--target", "ret_3",
                     "--model", "mlp", "--hidden", "4", "--folds", "1", "--epochs", "3",
                     "--out", str(tmp_path / "models")]) == 0
    versions = [tmp_path / "models" / "mlp_ret_3" / v for v in ("1", "2")]
    assert (versions[0] / "weights.pt").read_bytes() == (versions[1] / "weights.pt").read_bytes()
    one, two = (json.loads((v / "model.json").read_text()) for v in versions)
    assert one["metrics"] == two["metrics"] and one["data"] == two["data"]


@pytest.mark.parametrize(("args", "message"), [
    (["train", "-i", "nowhere", "--target", "ret5", "--model", "mlp"], "target must be ret_N"),
    (["train", "-i", "nowhere", "--target", "ret_5", "--model", "mlp"],
     "nowhere: no logic.features.parquet"),
    (["promote", "none", "1"], "no model 'none'"),
])
def test_errors_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         args: list[str], message: str) -> None:
    assert main(["ml", *args, *(["--out"] if args[0] == "train" else ["--registry"]),
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
