"""End to end: a simulated market with one informed-flow episode -> the real broker -> one
worker running the VPIN engine -> logic.vpin and logic.risk.alerts.

The worker's readings must be exactly those of the in-process replay of the same tape, VPIN
must rise during the episode, and the episode must raise one toxicity alert."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from processors import VpinEngine
from streams import codec
from streams.feeds.sim import SimMarket
from streams.params import apply_overrides
from streams.replay import Source, run_replay
from streams.schema import Trade
from streams.settings import EngineParams
from tests.streams.runtime.workers import (
    assert_no_offset_jumps,
    produce,
    read_topic,
    sim_trades,
    start_group_at_end,
    wait_for,
    worker,
)

pytestmark = pytest.mark.slow
NS = 1_000_000_000
START_NS = 1_700_000_000 * NS
EPISODE_START_S, EPISODE_S, TAPE_S = 2_400, 300, 3_000
BAR_S = 20
PARAMS = {"bar_seconds": BAR_S, "window": 20, "sigma_bars": 50, "cdf_window": 500,
          "alert_min_history": 50}


def sim_tape(symbols: list[str]) -> list[Trade]:
    market = SimMarket(symbols, seed=5, trades_per_s=40, quote_every=0, depth_every=0,
                       informed_probability=0.0)
    market.force_episode(symbols[0], EPISODE_START_S, EPISODE_S, "buy", share=0.95,
                         size_multiplier=3.0)
    return sim_trades(market, START_NS, TAPE_S)


def bucket_volume(tape: list[Trade], symbol: str) -> int:
    """The symbol's mean bar volume before the episode: about one bucket per quiet bar."""
    quiet = START_NS + EPISODE_START_S * NS
    volume = sum(t.size for t in tape if t.symbol == symbol and t.ts_event < quiet)
    return volume * BAR_S // EPISODE_START_S


def test_informed_flow_raises_vpin_and_one_alert_through_the_worker(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: the tape on the log, the expected readings from the in-process replay
    tag = uuid.uuid4().hex[:6].upper()
    symbols = [f"V{tag}0", f"V{tag}1"]
    tape = sim_tape(symbols)
    volume = bucket_volume(tape, symbols[0])
    overrides = [f"vpin.{k}={v}" for k, v in PARAMS.items()] + [f"vpin.bucket_volume={volume}"]
    columns, rejected = codec.decode_columns("Trade", [codec.encode(t) for t in tape])
    assert not rejected
    replay = run_replay([Source("market.trades", columns)], [VpinEngine],
                        apply_overrides(EngineParams(), overrides))
    expected = replay.rows("logic.vpin")
    app_id = f"test-vpin-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id)
    produce(kafka_brokers, [(t.symbol, codec.encode(t)) for t in tape])
    env = {f"NAUTILUS_VPIN__{k.upper()}": str(v) for k, v in PARAMS.items()}
    env["NAUTILUS_VPIN__BUCKET_VOLUME"] = str(volume)
    log = tmp_path / "worker.log"

    # Act: the worker runs until it has published every reading the replay expects (the
    # replay also flushes the last open bar, which a live worker closes by the clock)
    with worker({**services_env, **env}, app_id, log, engines="vpin"):
        wait_for(lambda: len(_readings(kafka_brokers, symbols)) >= len(expected), 120,
                 f"{len(expected)} VPIN readings")
    readings = _readings(kafka_brokers, symbols)
    alerts = read_topic(kafka_brokers, "logic.risk.alerts", lambda r: r.get("symbol") in symbols)

    # Assert: exactly the replay's readings (ts_init is processing time)
    assert_no_offset_jumps(log)
    assert {_key(r): _without_ts_init(r) for r in readings} == {
        _key(r): _without_ts_init(r) for r in expected
    }
    # VPIN rises during the episode: its median there is above anything seen before
    informed = [r for r in readings if r["symbol"] == symbols[0] and r["vpin"] is not None]
    start, end = START_NS + EPISODE_START_S * NS, START_NS + (EPISODE_START_S + EPISODE_S) * NS
    quiet = [r["vpin"] for r in informed if r["ts_event"] < start]
    during = [r["vpin"] for r in informed if start <= r["ts_event"] < end]
    assert quiet and during
    assert float(np.median(during)) > max(quiet)
    # one toxicity alert raised during the episode, and never two raises without a clear
    raised = [a for a in alerts if a["symbol"] == symbols[0] and a["state"] == "raised"
              and start <= a["ts_event"] < end]
    assert len({a["alert_id"] for a in raised}) == 1
    distinct = {(a["alert_id"], a["state"]): a for a in alerts}.values()  # re-deliveries once
    for symbol in symbols:
        mine = sorted((a for a in distinct if a["symbol"] == symbol), key=lambda a: a["ts_event"])
        states = [a["state"] for a in mine]
        assert all(a != b for a, b in zip(states, states[1:], strict=False)), states


def _readings(brokers: str, symbols: list[str]) -> list[dict]:
    rows = read_topic(brokers, "logic.vpin", lambda r: r.get("symbol") in symbols)
    return list({_key(r): r for r in rows}.values())  # a re-delivered reading is the same


def _key(reading: dict) -> tuple[str, int]:
    return reading["symbol"], reading["bucket"]


def _without_ts_init(reading: dict) -> dict:
    return {k: v for k, v in reading.items() if k != "ts_init"}
