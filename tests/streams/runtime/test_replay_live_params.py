"""`replay --topic` and `backtest --topic` run the engines with the parameters the live worker
ran with: a worker with per-symbol VPIN bucket volumes (set through its environment, as `up`
does) publishes them with its health, and a replay of the topic, or a backtest sweep over it,
in a process without that environment gives the worker's readings exactly."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest

from processors import VpinEngine
from streams import codec
from streams.feeds.sim import SimMarket
from streams.params import apply_overrides
from streams.replay import Source, run_replay
from streams.schema import Trade
from streams.settings import EngineParams
from tests.streams.runtime.workers import (
    produce,
    read_topic,
    sim_trades,
    start_group_at_end,
    wait_for,
    worker,
)

pytestmark = pytest.mark.slow
NS = 1_000_000_000
START_NS = 1_700_100_000 * NS
TAPE_S, BAR_S = 900, 20
PARAMS = {"bar_seconds": BAR_S, "window": 10, "sigma_bars": 10, "cdf_window": 100}


def sim_tape(symbols: list[str]) -> list[Trade]:
    market = SimMarket(symbols, seed=11, trades_per_s=40, quote_every=0, depth_every=0,
                       informed_probability=0.0)
    return sim_trades(market, START_NS, TAPE_S)


def bar_volume(tape: list[Trade], symbol: str) -> int:
    return sum(t.size for t in tape if t.symbol == symbol) * BAR_S // TAPE_S


def test_replay_and_backtest_of_the_topic_give_the_live_workers_readings(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: a tape of two symbols; the worker's bucket volumes, one per symbol, are far
    # from the built-in default (10000) and from each other
    tag = uuid.uuid4().hex[:6].upper()
    symbols = [f"P{tag}0", f"P{tag}1"]
    tape = sim_tape(symbols)
    volumes = {"default": bar_volume(tape, symbols[1]) // 2,
               symbols[0]: bar_volume(tape, symbols[0]) // 3}
    overrides = [f"vpin.{k}={v}" for k, v in PARAMS.items()]
    overrides += [f"vpin.bucket_volume.{k}={v}" for k, v in volumes.items()]
    columns, _ = codec.decode_columns("Trade", [codec.encode(t) for t in tape])
    expected = run_replay([Source("market.trades", columns)], [VpinEngine],
                          apply_overrides(EngineParams(), overrides)).rows("logic.vpin")
    app_id = f"test-live-params-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id)
    produce(kafka_brokers, [(t.symbol, codec.encode(t)) for t in tape])
    env = {f"NAUTILUS_VPIN__{k.upper()}": str(v) for k, v in PARAMS.items()}
    env["NAUTILUS_VPIN__BUCKET_VOLUME"] = json.dumps(volumes)
    with worker({**services_env, **env}, app_id, tmp_path / "worker.log", engines="vpin") as proc:
        wait_for(lambda: len(_readings(kafka_brokers, symbols)) >= len(expected), 120,
                 f"{len(expected)} VPIN readings")
        wait_for(lambda: _published_volumes(kafka_brokers, proc.pid) == volumes, 60,
                 "the worker's parameters on logic.engine.health")
    live = _readings(kafka_brokers, symbols)

    # Act: a replay of the topic, in a process without the worker's environment
    result = subprocess.run(
        [sys.executable, "-m", "streams", "replay", "--topic", "market.trades",
         "--engines", "vpin", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, env=services_env,
    )
    # a backtest sweep's runs rebuild their parameters from the spec: the workers' too
    span = ["--from", str(START_NS), "--to", str(START_NS + (TAPE_S + 1) * NS)]
    backtest = subprocess.run(
        [sys.executable, "-m", "streams", "backtest", "--topic", "market.trades", *span,
         "--strategy", "vpin_guard", "--sweep", "vpin_guard.quantity=1",
         "--out", str(tmp_path / "bt")],
        capture_output=True, text=True, timeout=300, env=services_env,
    )

    # Assert: the worker's readings exactly, and the replay said where its parameters came from
    assert result.returncode == 0, result.stderr
    assert "vpin parameters from worker" in result.stderr
    replayed = pd.read_parquet(tmp_path / "out" / "logic.vpin.parquet")
    mine = replayed[replayed["symbol"].isin(symbols)].to_dict("records")
    assert len(live) == len(expected) and {r["bucket_volume"] for r in live} == {
        volumes[symbols[0]], volumes["default"]}
    assert {_key(r): _comparable(r) for r in mine} == {_key(r): _comparable(r) for r in live}
    assert backtest.returncode == 0, backtest.stderr
    assert "vpin parameters from worker" in backtest.stderr
    swept = pd.read_parquet(tmp_path / "bt" / "runs" / "0" / "logic.vpin.parquet")
    in_run = swept[swept["symbol"].isin(symbols)].to_dict("records")
    assert {_key(r): _comparable(r) for r in in_run} == {
        _key(r): _comparable(r) for r in live}


def _published_volumes(brokers: str, pid: int) -> dict[str, int] | None:
    """The bucket volumes in the worker's newest health record, if it published them."""
    mine = read_topic(brokers, "logic.engine.health",
                      lambda r: r["engine"] == "vpin" and r["worker"].endswith(f":{pid}"))
    newest = max(mine, key=lambda r: r["ts_event"], default={})
    return (newest.get("params") or {}).get("bucket_volume")


def _readings(brokers: str, symbols: list[str]) -> list[dict]:
    rows = read_topic(brokers, "logic.vpin", lambda r: r.get("symbol") in symbols)
    return list({_key(r): r for r in rows}.values())  # a re-delivered reading is the same


def _key(reading: dict) -> tuple[str, int]:
    return reading["symbol"], int(reading["bucket"])


def _comparable(reading: dict) -> tuple:
    def number(value: object) -> float | None:
        return None if value is None or value != value else float(value)  # NaN: no value

    return (int(reading["ts_event"]), int(reading["bucket_volume"]),
            number(reading["buy_volume"]), number(reading["sell_volume"]),
            number(reading["vpin"]), number(reading["vpin_cdf"]))
