"""A worker running the factors engine reads market.bars.1m from the broker and publishes on
logic.factors exactly what the in-process replay of the same bars gives, with the shipped
catalog (ts_init is processing time, not compared)."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

import pytest

from processors import ENGINES
from streams import codec
from streams.replay import Source, run_replay
from streams.schema import Bar
from streams.settings import EngineParams
from tests.factories import MINUTE_NS, T0
from tests.streams.runtime.workers import produce, read_topic, start_group_at_end, wait_for, worker

pytestmark = pytest.mark.slow
MINUTES = 70  # past the 61 bars of the shipped catalog's longest factor (CORD60)


def tape(symbols: list[str]) -> list[Bar]:
    rng = random.Random(5)
    bars, prices = [], dict.fromkeys(symbols, 100.0)
    for i in range(MINUTES):
        start = T0 + i * MINUTE_NS
        for symbol in symbols:
            open_ = prices[symbol]
            prices[symbol] = close = round(open_ * (1 + rng.gauss(0, 0.002)), 2)
            bars.append(Bar(ts_event=start + MINUTE_NS, ts_init=start + MINUTE_NS,
                            bar_id=f"{symbol}@1m@{start}", symbol=symbol, start_ns=start,
                            open=f"{open_:.2f}", high=f"{max(open_, close) + 0.05:.2f}",
                            low=f"{min(open_, close) - 0.03:.2f}", close=f"{close:.2f}",
                            volume=rng.randrange(100, 5_000), trade_count=10,
                            vwap=f"{(open_ + close) / 2:.9f}"))
    return bars


def test_worker_publishes_what_the_replay_of_the_same_bars_gives(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange
    tag = uuid.uuid4().hex[:6].upper()
    symbols = [f"F{tag}0", f"F{tag}1"]
    bars = tape(symbols)
    columns, rejected = codec.decode_columns("Bar", [codec.encode(b) for b in bars])
    assert not rejected
    replay = run_replay([Source("market.bars.1m", columns)], [ENGINES["factors"]],
                        EngineParams())
    expected = _by_key(replay.rows("logic.factors"))
    assert len(expected) == len(bars)
    assert len(expected[(symbols[0], bars[-1].ts_event)]["values"]) == 158
    app_id = f"test-factors-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id, ("market.bars.1m",))
    produce(kafka_brokers, [(b.symbol, codec.encode(b)) for b in bars], "market.bars.1m")

    # Act
    with worker(services_env, app_id, tmp_path / "worker.log", engines="factors"):
        wait_for(lambda: expected.keys() <= _factors(kafka_brokers, symbols).keys(), 240,
                 f"{len(expected)} factor vectors")

    # Assert
    assert _factors(kafka_brokers, symbols) == expected


def _factors(brokers: str, symbols: list[str]) -> dict[tuple[str, int], dict]:
    return _by_key(read_topic(brokers, "logic.factors", lambda r: r.get("symbol") in symbols))


def _by_key(rows: list[dict]) -> dict[tuple[str, int], dict]:
    """Rows by (symbol, ts_event) without ts_init; a re-delivered record is the same record."""
    return {(r["symbol"], r["ts_event"]): {k: v for k, v in r.items() if k != "ts_init"}
            for r in rows}
