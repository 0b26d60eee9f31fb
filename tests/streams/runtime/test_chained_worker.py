"""A worker running bars and features chains them over the broker (trades -> market.bars.1m
-> logic.features) and publishes exactly what the chained in-process replay of the same
trades gives (ts_init is processing time, not compared)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from processors import ENGINES
from streams import codec
from streams.replay import Source, run_replay
from streams.schema import Trade
from streams.settings import EngineParams
from tests.streams.runtime.workers import (
    assert_no_offset_jumps,
    produce,
    read_topic,
    start_group_at_end,
    wait_for,
    worker,
)

pytestmark = pytest.mark.slow
NS = 1_000_000_000
MINUTE_NS = 60 * NS
START_NS = 1_700_000_040 * NS  # a minute boundary
MINUTES = 24
TOPICS = ("market.trades", "market.bars.1m", "logic.vpin", "logic.microstructure")


def tape(symbols: list[str]) -> list[Trade]:
    """A trade of each symbol every 9 s for MINUTES minutes, then one each 5 minutes later,
    which closes every earlier bar by event time."""
    trades = []
    for i in range(MINUTES * 60 // 9):
        for j, symbol in enumerate(symbols):
            trades.append(Trade(ts_event=START_NS + i * 9 * NS + j, ts_init=START_NS,
                                symbol=symbol, price=f"{50 + j + (i * 13 % 7) * 0.05:.2f}",
                                size=1 + i % 4))
    end = START_NS + (MINUTES + 5) * MINUTE_NS
    return trades + [Trade(ts_event=end + j, ts_init=START_NS, symbol=s, price="50.00", size=1)
                     for j, s in enumerate(symbols)]


def test_worker_chain_equals_the_chained_replay(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: the trades on the log; what the chained replay makes of them, up to the bars
    # the final trades close (the replay also flushes the final trades' own bars)
    tag = uuid.uuid4().hex[:6].upper()
    symbols = [f"C{tag}0", f"C{tag}1"]
    trades = tape(symbols)
    columns, rejected = codec.decode_columns("Trade", [codec.encode(t) for t in trades])
    assert not rejected
    replay = run_replay([Source("market.trades", columns)],
                        [ENGINES["bars"], ENGINES["features"]], EngineParams())
    closed_by = START_NS + MINUTES * MINUTE_NS
    expected_bars = _by_key(replay.rows("market.bars.1m"), closed_by)
    expected_features = _by_key(replay.rows("logic.features"), closed_by)
    assert len(expected_bars) == len(expected_features) == 2 * MINUTES
    app_id = f"test-chain-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id, TOPICS)
    produce(kafka_brokers, [(t.symbol, codec.encode(t)) for t in trades])
    log = tmp_path / "worker.log"

    # Act: one worker, both engines; the features engine reads the bars engine's topic
    with worker(services_env, app_id, log, engines="bars,features"):
        wait_for(lambda: expected_features.keys() <= _features(kafka_brokers, symbols).keys(),
                 240, f"{len(expected_features)} feature vectors")
    bars = _by_key(read_topic(kafka_brokers, "market.bars.1m",
                              lambda r: r.get("symbol") in symbols), closed_by)
    features = _features(kafka_brokers, symbols)

    # Assert
    assert_no_offset_jumps(log)
    assert bars == expected_bars
    assert {k: features[k] for k in expected_features} == expected_features


def _features(brokers: str, symbols: list[str]) -> dict[tuple[str, int], dict]:
    rows = read_topic(brokers, "logic.features", lambda r: r.get("symbol") in symbols)
    return _by_key(rows, None)


def _by_key(rows: list[dict], until_ns: int | None) -> dict[tuple[str, int], dict]:
    """Rows by (symbol, ts_event) without ts_init, those dated at or before `until_ns`; a
    re-delivered record is the same record."""
    return {(r["symbol"], r["ts_event"]): {k: v for k, v in r.items() if k != "ts_init"}
            for r in rows if until_ns is None or r["ts_event"] <= until_ns}
