"""An `ml` worker on the real broker serves the promoted model, switches to a newly promoted
version without a restart (every record produced after `promote` returned is predicted by
the new version), and publishes nothing for a record missing a feature, logging the count."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from processors.ml.registry import Registry
from streams import codec
from streams.schema import FeatureVector
from tests.factories import MINUTE_NS, T0
from tests.processors.ml.models import register_linear
from tests.streams.runtime.workers import produce, read_topic, start_group_at_end, wait_for, worker

pytestmark = pytest.mark.slow


def features(symbol: str, minute: int, values: dict[str, float]) -> tuple[str, bytes]:
    return symbol, codec.encode(FeatureVector(
        ts_event=T0 + minute * MINUTE_NS, ts_init=0, symbol=symbol, values=values))


def test_a_running_worker_serves_a_newly_promoted_version(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: version 1 predicts a, version 2 predicts b; version 1 promoted
    registry = Registry(tmp_path / "models")
    first = register_linear(registry, "m", [1.0, 0.0])
    second = register_linear(registry, "m", [0.0, 1.0])
    registry.promote("m", first)
    symbol = f"ML{uuid.uuid4().hex[:6].upper()}"
    app_id = f"test-ml-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id, ("logic.features",))
    log = tmp_path / "worker.log"

    def predictions() -> dict[int, tuple[int, float]]:
        rows = read_topic(kafka_brokers, "logic.predictions", lambda r: r["symbol"] == symbol)
        return {(r["ts_event"] - T0) // MINUTE_NS: (r["version"], r["value"]) for r in rows}

    with worker(services_env, app_id, log, engines="ml", ml__registry=str(registry.root),
                ml__model="m"):
        produce(kafka_brokers, [features(symbol, 1, {"a": 1.5, "b": -2.0}),
                                features(symbol, 2, {"a": 2.5}),  # no b: no prediction
                                features(symbol, 3, {"a": 3.5, "b": -4.0})], "logic.features")
        wait_for(lambda: 3 in predictions(), 120, "the prediction of minute 3")

        # Act: promote version 2 while the worker runs, then more features
        registry.promote("m", second)
        produce(kafka_brokers, [features(symbol, 4, {"a": 5.5, "b": -6.0})], "logic.features")
        wait_for(lambda: 4 in predictions(), 120, "the prediction of minute 4")

    # Assert
    assert predictions() == {1: (1, pytest.approx(1.5)), 3: (1, pytest.approx(3.5)),
                             4: (2, pytest.approx(-6.0))}
    text = log.read_text()
    assert "ml rows without a prediction: missing features model=m version=1 rows=1" in text
    assert "ml model served model=m version=2" in text
