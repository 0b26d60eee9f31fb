"""The `ml` engine with a model on features and factors: a bar is predicted once the records
of both topics for it are in, whichever comes first and however they are batched; a bar
whose factor record never comes, or lacks a factor, is counted and never predicted; a model
on features only is untouched by factor records."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from processors.ml.engine import MlEngine
from processors.ml.params import MlParams
from processors.ml.registry import Registry
from streams.clock import TestClock
from streams.codec import decode_columns, encode
from streams.schema import FactorVector, FeatureVector
from tests.factories import MINUTE_NS, T0
from tests.processors.ml.models import register_gru, register_linear

FEATURES, FACTORS = "logic.features", "logic.factors"
TOPICS = {"a": FEATURES, "B": FACTORS}  # a feature and a factor
Record = tuple[str, str, int, dict[str, float]]  # topic, symbol, minute, values


def engine(registry: Registry, pending_bars: int = 8) -> MlEngine:
    return MlEngine(MlParams(registry=str(registry.root), model="m", pending_bars=pending_bars),
                    TestClock(T0), torch.device("cpu"))


def batch(records: list[Record]) -> tuple[str, dict]:
    """One batch of records of one topic, decoded as the runtime decodes them."""
    (topic,) = {topic for topic, *_ in records}
    model = FeatureVector if topic == FEATURES else FactorVector
    columns, rejected = decode_columns(model.__name__, [
        encode(model(ts_event=T0 + minute * MINUTE_NS, ts_init=0, symbol=symbol, values=values))
        for _, symbol, minute, values in records])
    assert not rejected
    return topic, columns


def run(ml: MlEngine, batches: list[list[Record]]) -> list[list[tuple[str, int, float]]]:
    """Each batch's predictions: (symbol, minute, value)."""
    return [[(e.value.symbol, (e.value.ts_event - T0) // MINUTE_NS, e.value.value)
             for e in ml.process(*batch(records))] for records in batches]


def complete(records: list[Record]) -> set[tuple[str, int]]:
    """The bars (symbol, minute) with a record of both topics among `records`."""
    features = {(s, m) for topic, s, m, _ in records if topic == FEATURES}
    return features & {(s, m) for topic, s, m, _ in records if topic == FACTORS}


def promoted_linear(tmp_path: Path, weights: list[float], bias: float = 0.0) -> Registry:
    registry = Registry(tmp_path)
    registry.promote("m", register_linear(registry, "m", weights, bias, ("a", "B"), TOPICS))
    return registry


FEATURE_RECORDS: list[Record] = [(FEATURES, "AAA", 1, {"a": 1.0, "other": 7.0}),
                                 (FEATURES, "BBB", 1, {"a": 2.0}),
                                 (FEATURES, "AAA", 2, {"a": 0.5})]
FACTOR_RECORDS: list[Record] = [(FACTORS, "AAA", 1, {"B": 3.0, "C": 1.0}),
                                (FACTORS, "BBB", 1, {"B": 1.0}),
                                (FACTORS, "AAA", 2, {"B": 0.0})]
ALTERNATING = [r for pair in zip(FEATURE_RECORDS, FACTOR_RECORDS, strict=True) for r in pair]
SCHEDULES = {
    "features batch, then factors batch": [FEATURE_RECORDS, FACTOR_RECORDS],
    "factors batch, then features batch": [FACTOR_RECORDS, FEATURE_RECORDS],
    "one at a time, feature first": [[r] for r in ALTERNATING],
    "one at a time, factor first": [[r] for r in FACTOR_RECORDS[:1] + FEATURE_RECORDS[:1]
                                    + FACTOR_RECORDS[1:] + FEATURE_RECORDS[1:]],
}


@pytest.mark.parametrize("schedule", SCHEDULES, ids=list(SCHEDULES))
def test_a_bar_is_predicted_once_the_records_of_both_topics_are_in(
    tmp_path: Path, schedule: str
) -> None:
    # Arrange: 2 a - B + 0.5
    ml = engine(promoted_linear(tmp_path, [2.0, -1.0], bias=0.5))
    # Act
    steps = run(ml, SCHEDULES[schedule])
    # Assert: each bar once, at the step that delivered its second record, and not before
    delivered: list[Record] = []
    for records, predicted in zip(SCHEDULES[schedule], steps, strict=True):
        before = complete(delivered)
        delivered += records
        assert sorted((s, m) for s, m, _ in predicted) == sorted(complete(delivered) - before)
    assert sorted(p for step in steps for p in step) == [
        ("AAA", 1, pytest.approx(-0.5)), ("AAA", 2, pytest.approx(1.5)),
        ("BBB", 1, pytest.approx(3.5))]
    assert ml.rows_missing_features == 0


def test_a_bar_without_its_factor_is_counted_and_never_predicted(tmp_path: Path) -> None:
    ml = engine(promoted_linear(tmp_path, [1.0, 1.0]), pending_bars=2)
    features = [(FEATURES, "AAA", m, {"a": 1.0}) for m in range(1, 5)]

    # minute 1's factor record has not come when minute 3's bar (its second newer) arrives
    first = run(ml, [features[:3], [(FACTORS, "AAA", 2, {"B": 1.0})]])
    assert first == [[], [("AAA", 2, pytest.approx(2.0))]]
    assert ml.rows_missing_features == 1
    # it comes after all: the bar was given up; minute 3's factor record lacks B
    later = run(ml, [[(FACTORS, "AAA", 1, {"B": 1.0}), (FACTORS, "AAA", 3, {"C": 1.0})],
                     features[3:], [(FACTORS, "AAA", 4, {"B": 2.0})]])
    assert later == [[], [], [("AAA", 4, pytest.approx(3.0))]]
    assert ml.rows_missing_features == 2


def test_a_model_on_features_only_predicts_as_if_no_factor_came(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    registry.promote("m", register_gru(registry, "m", features=("a", "b"), sequence_length=2))
    # AAA has no feature record of minute 3 (a bar of logic.factors only)
    features = [(FEATURES, s, m, {"a": 0.1 * m, "b": 0.2 if s == "AAA" else -0.3})
                for m in range(1, 6) for s in ("AAA", "BBB") if (s, m) != ("AAA", 3)]
    features_only = engine(registry)
    expected = run(features_only, [[r] for r in features])

    # Act: every factor record a minute ahead of the features (minute 6: a bar without them)
    schedule = [[(FACTORS, s, 1, {"B": 1.0})] for s in ("AAA", "BBB")]
    for record in features:
        _, symbol, minute, _ = record
        schedule += [[(FACTORS, symbol, minute + 1, {"B": 1.0})], [record]]
    with_factors = engine(registry)
    steps = run(with_factors, schedule)

    # Assert: each feature record gives what it gave without factors, a factor record nothing
    assert steps[3::2] == expected
    # AAA's minute 4 over the window of minutes 2 and 4, as before
    assert [(s, m) for step in expected for s, m, _ in step] == [
        ("AAA", 2), ("BBB", 2), ("BBB", 3), ("AAA", 4), ("BBB", 4), ("AAA", 5), ("BBB", 5)]
    assert all(step == [] for step in steps[:2] + steps[2::2])
    assert with_factors.rows_missing_features == features_only.rows_missing_features == 0


LAGGED = [record for m in range(1, 9) for record in (
    (FEATURES, "AAA", m, {"a": 0.1 * m}), (FEATURES, "BBB", m, {"a": -0.05 * m}),
    *([(FACTORS, "AAA", m - 2, {"B": 0.3 - 0.01 * m}),
       (FACTORS, "BBB", m - 2, {"B": 0.1})] if m > 2 else []))]


def test_gru_windows_over_both_topics_do_not_depend_on_batching(tmp_path: Path) -> None:
    # Arrange: factor records two bars behind the features
    registry = Registry(tmp_path)
    registry.promote("m", register_gru(registry, "m", ("a", "B"), 3, topics=TOPICS))
    runs = [list(g) for _, g in itertools.groupby(LAGGED, key=lambda r: r[0])]
    # Act
    by_runs = [p for step in run(engine(registry), runs) for p in step]
    one_by_one = [p for step in run(engine(registry), [[r] for r in LAGGED]) for p in step]
    # Assert: minutes 3..6 of both symbols (the factors of 7 and 8 never come)
    assert [(s, m) for s, m, _ in one_by_one] == [
        (s, m) for m in range(3, 7) for s in ("AAA", "BBB")]
    assert [(s, m) for s, m, _ in by_runs] == [(s, m) for s, m, _ in one_by_one]
    assert [v for *_, v in by_runs] == pytest.approx([v for *_, v in one_by_one], rel=1e-5)


def test_a_restored_engine_completes_the_bars_that_were_waiting(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    registry.promote("m", register_gru(registry, "m", ("a", "B"), 3, topics=TOPICS))
    cut = 9  # AAA and BBB have features up to minute 4, factors up to minute 2
    running = engine(registry)
    run(running, [[r] for r in LAGGED[:cut]])
    restored = engine(registry)
    for key in running.keys():  # noqa: SIM118 (an engine, not a dict)
        restored.restore(key, running.snapshot(key))

    later = [[r] for r in LAGGED[cut:]]
    predicted = run(restored, later)
    assert predicted == run(running, later)
    assert [(s, m) for step in predicted for s, m, _ in step][:2] == [("AAA", 3), ("BBB", 3)]


def test_a_model_on_a_topic_the_engine_does_not_read_is_not_served(tmp_path: Path) -> None:
    registry = promoted_linear(tmp_path, [1.0, 1.0])
    ml = engine(registry)
    run(ml, [FEATURE_RECORDS[:1]])
    registry.promote("m", register_linear(registry, "m", [1.0, 1.0], 0.0, ("a", "v"),
                                          {"a": FEATURES, "v": "logic.vpin"}))
    assert run(ml, [FACTOR_RECORDS[:1]]) == [[("AAA", 1, pytest.approx(4.0))]]
    assert ml.served is not None and ml.served.version == 1
