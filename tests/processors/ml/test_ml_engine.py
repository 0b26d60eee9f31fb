"""The `ml` engine: one forward pass per batch over the rows that carry the model's
features, rows missing one counted and never predicted, a newly promoted version served from
the next batch, GRU windows per symbol that do not depend on batching and survive a
snapshot and restore."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from processors import Emit
from processors.ml.engine import MlEngine
from processors.ml.params import MlParams
from processors.ml.registry import Registry
from streams.clock import TestClock
from streams.codec import decode_columns, encode
from streams.schema import FeatureVector, Prediction
from tests.factories import MINUTE_NS, T0
from tests.processors.ml.models import register_gru, register_linear


def engine(registry: Registry, name: str = "m") -> MlEngine:
    return MlEngine(MlParams(registry=str(registry.root), model=name), TestClock(T0),
                    torch.device("cpu"))


def batch(rows: list[tuple[str, int, dict[str, float]]]) -> dict:
    columns, rejected = decode_columns("FeatureVector", [
        encode(FeatureVector(ts_event=T0 + minute * MINUTE_NS, ts_init=0, symbol=symbol,
                             values=values)) for symbol, minute, values in rows])
    assert not rejected
    return columns


def values(emits: list[Emit]) -> list[tuple[str, int, int, float]]:
    return [(e.value.symbol, (e.value.ts_event - T0) // MINUTE_NS, e.value.version,
             e.value.value) for e in emits]


def test_rows_with_every_feature_are_predicted_in_one_forward_pass(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    registry.promote("m", register_linear(registry, "m", [2.0, -1.0], bias=0.5))
    ml = engine(registry)
    ml.on_features(batch([("AAA", 0, {"a": 0.0, "b": 0.0})]))  # loads the model
    passes = []
    assert ml.served is not None
    ml.served.network.register_forward_hook(lambda *args: passes.append(1))

    emits = ml.process("logic.features", batch([
        ("AAA", 1, {"a": 1.0, "b": 3.0, "extra": 9.0}),
        ("BBB", 1, {"a": 1.0}),  # no b: no prediction
        ("CCC", 1, {"b": 1.0, "a": 2.0}),
    ]))

    assert passes == [1]
    assert all(Prediction.model_validate_json(encode(e.value)) == e.value for e in emits)
    assert values(emits) == [("AAA", 1, 1, pytest.approx(-0.5)), ("CCC", 1, 1, pytest.approx(3.5))]
    first = emits[0]
    assert (first.topic, first.key) == ("logic.predictions", "AAA")
    assert first.value.prediction_id == f"m:1:AAA:{T0 + MINUTE_NS}"
    assert first.value.model == "m" and first.value.horizon_ns == 5 * MINUTE_NS
    assert ml.rows_missing_features == 1


def test_a_newly_promoted_version_is_served_from_the_next_batch(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = Registry(tmp_path)
    one = register_linear(registry, "m", [1.0, 0.0])
    ml = engine(registry)
    row = {"a": 2.0, "b": 5.0}
    with caplog.at_level(logging.WARNING, logger="processors.ml.engine"):
        assert ml.on_features(batch([("AAA", 0, row)])) == [] and ml.rows_unserved == 1
    assert "no version served model=m" in caplog.text

    registry.promote("m", one)
    served_one = values(ml.on_features(batch([("AAA", 1, row)])))
    registry.promote("m", register_linear(registry, "m", [0.0, 1.0]))
    served_two = values(ml.on_features(batch([("AAA", 2, row)])))

    assert served_one == [("AAA", 1, 1, pytest.approx(2.0))]
    assert served_two == [("AAA", 2, 2, pytest.approx(5.0))]


def test_a_version_that_does_not_load_leaves_the_served_one_serving(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    registry.promote("m", register_linear(registry, "m", [1.0, 0.0]))
    ml = engine(registry)
    ml.on_features(batch([("AAA", 0, {"a": 1.0, "b": 1.0})]))
    broken = register_linear(registry, "m", [0.0, 1.0])
    (tmp_path / "m" / str(broken) / "weights.pt").write_bytes(b"not a state dict")
    registry.promote("m", broken)
    assert values(ml.on_features(batch([("AAA", 1, {"a": 3.0, "b": 1.0})]))) == [
        ("AAA", 1, 1, pytest.approx(3.0))]


ROWS = [("AAA", m, {"a": 0.1 * m, "b": -0.2 * m}) for m in range(6)] + [
    ("BBB", m, {"a": 0.3 * m, "b": 0.1}) for m in range(4)] + [
    ("AAA", 6, {"a": 1.0}),  # empties AAA's window
    *(("AAA", m, {"a": 0.05 * m, "b": 0.2}) for m in range(7, 10))]


def test_gru_predictions_do_not_depend_on_batching(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    registry.promote("m", register_gru(registry, "m", sequence_length=3))
    whole = values(engine(registry).on_features(batch(ROWS)))
    stepped = engine(registry)
    one_by_one = [p for row in ROWS for p in values(stepped.on_features(batch([row])))]
    # AAA minutes 2..5 and 9 (window refilled by 7, 8, 9), BBB minutes 2, 3
    assert [(s, m) for s, m, _, _ in whole] == [
        ("AAA", 2), ("AAA", 3), ("AAA", 4), ("AAA", 5), ("BBB", 2), ("BBB", 3), ("AAA", 9)]
    assert [(s, m) for s, m, _, _ in one_by_one] == [(s, m) for s, m, _, _ in whole]
    assert [v for *_, v in one_by_one] == pytest.approx([v for *_, v in whole], rel=1e-5)


def test_a_restored_gru_engine_goes_on_as_the_uninterrupted_one(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    registry.promote("m", register_gru(registry, "m", sequence_length=3))
    running = engine(registry)
    running.on_features(batch(ROWS[:4]))
    restored = engine(registry)
    for key in running.keys():  # noqa: SIM118 (an engine, not a dict)
        restored.restore(key, running.snapshot(key))
    assert running.take_dirty() == {"AAA"}
    later = batch(ROWS[4:6])
    assert values(restored.on_features(later)) == values(running.on_features(later))


def test_a_gru_promoted_over_a_linear_model_predicts_from_the_records_already_kept(
    tmp_path: Path
) -> None:
    registry = Registry(tmp_path)
    registry.promote("m", register_linear(registry, "m", [1.0, 0.0]))
    ml = engine(registry)
    ml.on_features(batch(ROWS[:3]))  # AAA minutes 0, 1, 2 under the linear model
    registry.promote("m", register_gru(registry, "m", sequence_length=3))
    # minute 3's window is minutes 1, 2, 3: two of them came before the GRU was promoted
    assert [(s, m, v) for s, m, v, _ in values(ml.on_features(batch(ROWS[3:4])))] == [
        ("AAA", 3, 2)]
