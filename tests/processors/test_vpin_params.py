"""VPIN parameters (defaults, `--set`, environment), registration, and replay end to end."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from pydantic import BaseModel, ValidationError

from processors import ENGINES
from processors.vpin import VpinEngine, VpinParams
from streams import codec
from streams.clock import TestClock
from streams.exceptions import ConfigError
from streams.outputs import write_outputs
from streams.params import apply_overrides
from streams.replay import Source, run_replay
from streams.schema import Alert, VpinReading
from streams.settings import EngineParams, Settings
from tests.factories import T0, tape
from tests.processors.test_vpin import AAA, BBB, quote_columns, quotes

VPIN_COLUMNS = {"symbol", "bucket", "ts_event", "buy_volume", "sell_volume", "vpin", "vpin_cdf"}


# ---- parameters ----------------------------------------------------------------------------


def test_defaults() -> None:
    params = VpinParams()

    assert params.bucket_volume == {"default": 10_000}
    assert (params.bar_seconds, params.window, params.sigma_bars, params.cdf_window) == (
        60, 50, 50, 1_000)
    assert (params.alert_cdf, params.clear_cdf, params.grace_ms) == (0.9, 0.8, 2_000)
    assert (params.classification, params.quote_lag_ms) == ("bvc", 0)
    assert EngineParams().vpin == params


def test_bucket_volume_takes_a_number_or_a_mapping_with_or_without_default() -> None:
    assert VpinParams(bucket_volume=500).bucket_volume == {"default": 500}
    assert VpinParams(bucket_volume={"AAPL": 7}).bucket_volume == {"default": 10_000, "AAPL": 7}
    assert VpinParams(bucket_volume={"default": 3, "ES": 9}).bucket_volume_for("ES") == 9
    assert VpinParams(bucket_volume={"default": 3, "ES": 9}).bucket_volume_for("NQ") == 3


def test_set_overrides_one_symbol_or_the_default() -> None:
    # Act
    params = apply_overrides(EngineParams(), [
        "vpin.bucket_volume.AAPL=25000", "vpin.bucket_volume.default=50000", "vpin.window=10",
    ])

    # Assert
    assert params.vpin.bucket_volume == {"default": 50_000, "AAPL": 25_000}
    assert params.vpin.window == 10
    assert apply_overrides(EngineParams(), ["vpin.bucket_volume=7"]).vpin.bucket_volume == {
        "default": 7}


def test_set_rejects_bad_values_with_the_parameter_name() -> None:
    with pytest.raises(ConfigError, match="bucket_volume"):
        apply_overrides(EngineParams(), ["vpin.bucket_volume.AAPL=0"])
    with pytest.raises(ConfigError, match="classification"):
        apply_overrides(EngineParams(), ["vpin.classification=vwap"])


@pytest.mark.parametrize("fields", [
    {"clear_cdf": 0.95},                       # clear above alert
    {"sigma_bars": 1},                         # no σ from one value
    {"window": 0}, {"cdf_window": 0}, {"bar_seconds": 0}, {"quote_lag_ms": -1},
    {"bucket_volume": 2**32 + 1},              # beyond exact int64 units of 2**-20
    {"bucket_volume": 2**31, "window": 2**12},  # n x V beyond 2**42
    {"alert_cdf": 0.0}, {"grace": 5},
])
def test_params_reject_bad_values(fields: dict) -> None:
    with pytest.raises(ValidationError):
        VpinParams(**fields)


def test_environment_sets_the_default_or_a_json_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange
    monkeypatch.setenv("NAUTILUS_VPIN__BUCKET_VOLUME", '{"default": 5, "AAPL": 7}')
    monkeypatch.setenv("NAUTILUS_VPIN__CLASSIFICATION", "tick")

    # Act
    params = Settings().engine_params().vpin

    # Assert
    assert params.bucket_volume == {"default": 5, "AAPL": 7}
    assert params.classification == "tick"
    monkeypatch.setenv("NAUTILUS_VPIN__BUCKET_VOLUME", "123")
    assert Settings().vpin.bucket_volume == {"default": 123}


def test_engine_is_registered_and_rejects_other_params() -> None:
    class OtherParams(BaseModel):
        window: int = 1

    assert ENGINES["vpin"] is VpinEngine
    assert VpinEngine.inputs == ("market.trades", "market.quotes")
    assert VpinEngine.outputs == ("logic.vpin", "logic.risk.alerts")
    with pytest.raises(TypeError, match="VpinParams"):
        VpinEngine(OtherParams(), TestClock(0), torch.device("cpu"))  # type: ignore[arg-type]


# ---- replay ------------------------------------------------------------------------------


def trade_source(trades: list) -> Source:
    columns, rejected = codec.decode_columns("Trade", [codec.encode(t) for t in trades])
    assert not rejected
    return Source("market.trades", columns)


def test_replay_writes_vpin_readings_with_their_columns(tmp_path: Path) -> None:
    # Arrange: the known tapes of test_vpin (AAA: 4 buckets of 10, BBB: 3 buckets of 4)
    trades = sorted(AAA + BBB, key=lambda t: t.ts_event)
    params = EngineParams(vpin=VpinParams(bucket_volume={"default": 10, "BBB": 4}, window=2,
                                          sigma_bars=3, cdf_window=4))

    # Act
    result = run_replay([trade_source(trades)], [VpinEngine], params)
    write_outputs(result.outputs, {"logic.vpin": VpinReading, "logic.risk.alerts": Alert},
                  tmp_path)

    # Assert
    rows = result.rows("logic.vpin")
    assert rows and all(row.keys() >= VPIN_COLUMNS for row in rows)
    frame = pd.read_csv(tmp_path / "logic.vpin.csv")
    assert set(frame.columns) >= VPIN_COLUMNS
    assert sorted(zip(frame["symbol"], frame["bucket"], strict=True)) == [
        ("AAA", 1), ("AAA", 2), ("AAA", 3), ("AAA", 4), ("BBB", 1), ("BBB", 2), ("BBB", 3)]
    assert frame["vpin"].isna().sum() == 2  # each symbol's first bucket (n = 2)
    assert (tmp_path / "logic.risk.alerts.parquet").exists()


def test_replay_feeds_quotes_to_lee_ready(tmp_path: Path) -> None:
    # A trade at 10.08 after a quote with mid 10.05: a buy, one bucket of 1. (It waits for a
    # newer quote or the clock; flush at the end of replay settles it.)
    book = quotes((T0, "AAA", "10.00", "10.10"))
    trades = tape((T0 + 1, "AAA", "10.08", 1))
    sources = [trade_source(trades), Source("market.quotes", quote_columns(book))]
    params = EngineParams(vpin=VpinParams(classification="lee_ready", bucket_volume=1,
                                          window=1))

    rows = run_replay(sources, [VpinEngine], params).rows("logic.vpin")

    assert [(r["bucket"], r["buy_volume"], r["sell_volume"]) for r in rows] == [(1, 1.0, 0.0)]
