"""Samples from feature records: the target is the forward return from the next bar on
(no look-ahead into the inputs), windows never cross a bar missing a feature, and inputs
read from several directories are merged once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from processors.ml.dataset import build_samples, default_features, horizon_bars, read_features
from processors.ml.exceptions import TrainingDataError
from streams.schema import FeatureVector
from tests.factories import MINUTE_NS, T0
from tests.processors.ml.data import feature_rows, write_features


def vectors(symbol: str, values: list[dict[str, float]]) -> list[FeatureVector]:
    return [FeatureVector(ts_event=T0 + (t + 1) * MINUTE_NS, ts_init=0, symbol=symbol, values=v)
            for t, v in enumerate(values)]


def test_targets_are_forward_returns_and_last_values_backward_ones(tmp_path: Path) -> None:
    # Arrange: five bars of known returns, a feature x = 10 * bar number
    returns = [0.01, 0.02, -0.01, 0.03, 0.05]
    rows = vectors("AAA", [{"ret_1": r, "x": 10.0 * t} for t, r in enumerate(returns)])
    # Act
    samples = build_samples(read_features([write_features(tmp_path, rows)]), ("x",), horizon=2)
    # Assert: samples at bars 1 and 2 (bar 0 has no 2-bar past, bars 3, 4 no 2-bar future)
    assert samples.inputs[:, 0, 0].tolist() == [10.0, 20.0]
    assert samples.target == pytest.approx([(1 - 0.01) * 1.03 - 1, 1.03 * 1.05 - 1])
    assert samples.last == pytest.approx([1.01 * 1.02 - 1, 1.02 * 0.99 - 1])


def test_sign_targets_are_the_signs_of_the_returns(tmp_path: Path) -> None:
    returns = [0.01, 0.02, -0.01, 0.03, -0.05, 0.0, 0.0]
    rows = vectors("AAA", [{"ret_1": r, "x": 1.0} for r in returns])
    samples = build_samples(read_features([write_features(tmp_path, rows)]), ("x",), horizon=2,
                            sign=True)
    # forward returns of bars 1..4: +, -, -, 0 (no move); backward ones: +, +, +, -
    assert samples.target.tolist() == [1.0, -1.0, -1.0, 0.0]
    assert samples.last.tolist() == [1.0, 1.0, 1.0, -1.0]


def test_a_sample_reads_nothing_of_later_bars(tmp_path: Path) -> None:
    rows = feature_rows(("AAA",), 40, seed=1)
    changed = [r.model_copy(update={"values": {**r.values, "lead": 99.0, "noise": 99.0}})
               if r.ts_event > T0 + 20 * MINUTE_NS else r for r in rows]
    before = build_samples(read_features([write_features(tmp_path / "a", rows)]),
                           ("lead", "noise"), horizon=3, sequence_length=4)
    after = build_samples(read_features([write_features(tmp_path / "b", changed)]),
                          ("lead", "noise"), horizon=3, sequence_length=4)
    upto = before.ts_event <= T0 + 20 * MINUTE_NS
    assert upto.sum() > 10
    np.testing.assert_array_equal(before.inputs[upto], after.inputs[upto])
    np.testing.assert_array_equal(before.target, after.target)  # ret_1 unchanged


def test_windows_never_cross_a_bar_missing_a_feature(tmp_path: Path) -> None:
    values = [{"ret_1": 0.001, "x": float(t)} for t in range(12)]
    values[5] = {"ret_1": 0.001}  # bar 5 lacks x
    samples = build_samples(read_features([write_features(tmp_path, vectors("AAA", values))]),
                            ("x",), horizon=1, sequence_length=3)
    # windows end at bars 2, 3, 4 (before the gap) and 8, 9, 10 (bar 11 has no future)
    assert samples.inputs[:, -1, 0].tolist() == [2.0, 3.0, 4.0, 8.0, 9.0, 10.0]
    assert samples.inputs[0, :, 0].tolist() == [0.0, 1.0, 2.0]


def test_records_in_several_inputs_are_read_once_and_counted(tmp_path: Path) -> None:
    rows = feature_rows(("AAA", "BBB"), 10, seed=2)
    first = write_features(tmp_path / "a", rows[:15])
    second = write_features(tmp_path / "b", rows[10:])
    read = read_features([first, second])
    assert len(read.values) == 20 and read.duplicates == 5
    assert default_features(read) == ("lead", "noise", "ret_1")


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="no logic.features.parquet"):
        read_features([tmp_path])
    with pytest.raises(TrainingDataError, match="ret_N"):
        horizon_bars("ret_0")
    rows = read_features([write_features(tmp_path, feature_rows(("AAA",), 3, seed=3))])
    with pytest.raises(TrainingDataError, match="no samples"):
        build_samples(rows, ("lead",), horizon=5)
