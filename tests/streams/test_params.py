"""Engine parameters for a run: the parameters a worker published with its health."""

from __future__ import annotations

import json
import uuid

import pytest

from processors import ENGINES
from streams import codec, kafka
from streams.cli.main import build_parser
from streams.exceptions import ConfigError
from streams.params import (
    HEALTH_TOPIC,
    PublishedParams,
    apply_overrides,
    published_params,
    with_published,
)
from streams.settings import EngineParams
from tests.factories import T0, event

SEC = 1_000_000_000


def test_the_newest_health_record_with_parameters_gives_them(kafka_brokers: str) -> None:
    # Arrange: two workers of one engine report; the newest record carries no parameters
    engine, silent = f"e{uuid.uuid4().hex[:8]}", f"e{uuid.uuid4().hex[:8]}"
    reports = [("w-1", 1, {"window": 10}), ("w-2", 3, {"window": 30}), ("w-1", 2, {"window": 20}),
               ("w-2", 4, None)]
    producer = kafka.producer(kafka_brokers)
    for worker, second, params in reports:
        health = event("EngineHealth", engine=engine, worker=worker, ts_event=T0 + second * SEC,
                       params=params)
        producer.produce(HEALTH_TOPIC, key=engine.encode(), value=codec.encode(health))
    assert producer.flush(10) == 0

    # Act
    found = published_params(kafka_brokers, [engine, silent])

    # Assert
    assert found == {engine: PublishedParams(engine, "w-2", T0 + 3 * SEC, {"window": 30})}


def test_published_parameters_replace_the_engines_own() -> None:
    published = {"vpin": PublishedParams("vpin", "w", T0, {
        "bucket_volume": {"default": 500, "AAPL": 900}, "window": 20})}

    params = with_published(EngineParams(), published)

    assert params.vpin.bucket_volume_for("AAPL") == 900
    assert params.vpin.bucket_volume_for("MSFT") == 500
    assert params.vpin.window == 20 and params.vpin.sigma_bars == EngineParams().vpin.sigma_bars
    assert params.bars == EngineParams().bars


def test_parameters_this_version_does_not_know_are_an_error() -> None:
    published = {"bars": PublishedParams("bars", "host:1", T0, {"grace_ms": 5, "speed": 2})}

    with pytest.raises(ConfigError, match="worker host:1 published do not fit.*--params defaults"):
        with_published(EngineParams(), published)


@pytest.mark.parametrize(("engine", "param"), [
    (engine, param) for engine, model in ENGINES.params_models().items()
    for param in model.model_fields])
def test_set_reaches_every_registered_engine_parameter(engine: str, param: str) -> None:
    default = getattr(EngineParams(), engine).model_dump(mode="json")[param]

    params = apply_overrides(EngineParams(), [f"{engine}.{param}={json.dumps(default)}"])

    assert params == EngineParams()


def test_set_of_an_unknown_engine_names_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match=f"unknown engine 'nope'; known: {', '.join(ENGINES)}"):
        apply_overrides(EngineParams(), ["nope.window=3"])


@pytest.mark.parametrize("command", ["worker", "replay"])
def test_engines_option_takes_only_registered_engines(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, "--engines", "bars,nope", "-i", "x", "--out", "o"]
                                  if command == "replay" else [command, "--engines", "bars,nope"])

    assert exited.value.code == 2
    assert f"unknown engine(s) nope; known: {', '.join(ENGINES)}" in capsys.readouterr().err


def test_worker_help_lists_every_engine_and_its_parameters(
    capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["worker", "--help"])
    shown = " ".join(capsys.readouterr().out.split())

    for engine, model in ENGINES.params_models().items():
        assert f"{engine}: {', '.join(model.model_fields)}" in shown
