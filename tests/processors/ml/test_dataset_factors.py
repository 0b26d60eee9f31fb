"""Samples from feature and factor records: a bar's inputs are its feature and factor values
joined by (symbol, ts_event); a model on a factor has no sample at a bar without it; a bar
of one topic only is no bar of a model on the other; a name in both topics is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from processors.ml.dataset import build_samples, read_features
from processors.ml.exceptions import TrainingDataError
from streams.schema import FactorVector, FeatureVector
from tests.factories import MINUTE_NS, T0
from tests.processors.ml.data import write_factors, write_features

FEATURES, FACTORS = "logic.features", "logic.factors"


def features(symbol: str, values: list[dict[str, float]]) -> list[FeatureVector]:
    return [FeatureVector(ts_event=T0 + (t + 1) * MINUTE_NS, ts_init=0, symbol=symbol, values=v)
            for t, v in enumerate(values) if v]


def factors(symbol: str, values: list[dict[str, float]]) -> list[FactorVector]:
    return [FactorVector(ts_event=T0 + (t + 1) * MINUTE_NS, ts_init=0, symbol=symbol, values=v)
            for t, v in enumerate(values) if v]


def test_a_bars_inputs_are_its_feature_and_factor_values(tmp_path: Path) -> None:
    # Arrange: AAA bars 0..5 with features; factors of bars 0..4 but 2 (of BBB too: its
    # bar 0 at AAA's time, with its own values); bar 5 of AAA has factors only
    returns = [0.01, 0.02, -0.01, 0.03, 0.05, 0.0]
    write_features(tmp_path, features("AAA", [{"ret_1": r, "x": 10.0 * t}
                                              for t, r in enumerate(returns[:5])]))
    write_factors(tmp_path, factors("AAA", [{"K": 100.0 + t} if t != 2 else {}
                                            for t in range(6)])
                  + factors("BBB", [{"K": -1.0}]))
    # Act
    rows = read_features([tmp_path])
    joint = build_samples(rows, ("x", "K"), horizon=1)
    feature_only = build_samples(rows, ("x",), horizon=1)
    # Assert: joined by (symbol, ts_event); the sample at bar t reads bar t's x and K
    assert rows.sources == {"ret_1": FEATURES, "x": FEATURES, "K": FACTORS}
    assert rows.records == {FEATURES: 5, FACTORS: 6}
    assert [(s, v) for s, v in zip(rows.symbols.tolist(), rows.values, strict=True)][:2] == [
        ("AAA", {"ret_1": 0.01, "x": 0.0, "K": 100.0}), ("AAA", {"ret_1": 0.02, "x": 10.0,
                                                                 "K": 101.0})]
    # bar 2 has no factor record: no joint sample; bar 4's target needs bar 5's ret_1
    assert joint.inputs[:, 0].tolist() == [[0.0, 100.0], [10.0, 101.0], [30.0, 103.0]]
    assert joint.target == pytest.approx([0.02, -0.01, 0.05])  # ret_1 of bars 1, 2, 4
    assert feature_only.inputs[:, 0, 0].tolist() == [0.0, 10.0, 20.0, 30.0]


def test_a_bar_of_factors_only_is_no_bar_of_a_model_on_features(tmp_path: Path) -> None:
    # AAA's bar 2 has factors only: a window of features runs over it, as without factors
    values = [{"ret_1": 0.001, "x": float(t)} if t != 2 else {} for t in range(6)]
    write_features(tmp_path / "f", features("AAA", values))
    write_features(tmp_path / "both", features("AAA", values))
    write_factors(tmp_path / "both", factors("AAA", [{"K": 1.0}] * 6))

    alone = build_samples(read_features([tmp_path / "f"]), ("x",), horizon=1,
                          sequence_length=2)
    with_factors = build_samples(read_features([tmp_path / "both"]), ("x",), horizon=1,
                                 sequence_length=2)
    joint = build_samples(read_features([tmp_path / "both"]), ("x", "K"), horizon=1,
                          sequence_length=2)

    assert with_factors.digest() == alone.digest()
    assert with_factors.inputs[:, :, 0].tolist() == [[0.0, 1.0], [1.0, 3.0], [3.0, 4.0]]
    assert joint.inputs[:, :, 0].tolist() == [[3.0, 4.0]]  # bar 2 lacks x; bar 3 its ret_1


def test_a_name_in_both_topics_is_an_error(tmp_path: Path) -> None:
    write_features(tmp_path, features("AAA", [{"ret_1": 0.01, "KMID": 0.5}]))
    write_factors(tmp_path, factors("AAA", [{"KMID": 0.4, "ROC5": 1.0}]))
    with pytest.raises(TrainingDataError, match=r"KMID in both logic.features and "
                       r"logic.factors records.*factors.yaml"):
        read_features([tmp_path])
