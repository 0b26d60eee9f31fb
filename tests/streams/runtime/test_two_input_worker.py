"""A worker running an engine with two input topics (microstructure: market.depth and
market.quotes): each topic's records are applied once, whatever the other topic's offsets.

Both topics of a symbol share a partition number but count offsets independently; state that
remembered one offset per symbol would take the slower topic's records for re-deliveries."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest

from streams import codec, kafka
from streams.feeds.sim import SimMarket
from streams.schema import DepthSnapshot, Quote
from tests.streams.runtime.workers import (
    assert_no_offset_jumps,
    produce,
    read_topic,
    start_group_at_end,
    wait_for,
    worker,
)

pytestmark = pytest.mark.slow
START_NS = 1_700_000_000 * 1_000_000_000
INPUTS = ("market.depth", "market.quotes")


def test_two_input_engine_applies_every_record_of_both_topics(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: 30 s of quotes (one per trade) and depth (one per 5 trades) for two symbols,
    # so a symbol's quote offsets run far ahead of its depth offsets
    tag = uuid.uuid4().hex[:6].upper()
    symbols = [f"M{tag}0", f"M{tag}1"]
    market = SimMarket(symbols, seed=3, trades_per_s=100, quote_every=1, depth_every=5,
                       informed_probability=0.0)
    events = []
    for event in market.events(START_NS):
        if event.ts_event >= START_NS + 30 * 1_000_000_000:
            break
        events.append(event)
    quotes = [e for e in events if isinstance(e, Quote)]
    depth = [e for e in events if isinstance(e, DepthSnapshot)]
    app_id = f"test-two-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id, INPUTS)
    produce(kafka_brokers, [(e.symbol, codec.encode(e)) for e in depth], "market.depth")
    produce(kafka_brokers, [(e.symbol, codec.encode(e)) for e in quotes], "market.quotes")
    log = tmp_path / "worker.log"

    # Act
    with worker(services_env, app_id, log, engines="microstructure") as proc:
        wait_for(lambda: _events_in(kafka_brokers, proc.pid) >= len(quotes) + len(depth), 90,
                 "every quote and depth record consumed")
    metrics = _metrics_of(kafka_brokers, proc.pid)[-1]
    features = read_topic(kafka_brokers, "logic.microstructure",
                          lambda r: r.get("symbol") in symbols)

    # Assert: nothing taken for a re-delivery, nothing skipped, both symbols published
    assert metrics["counters"]["events_in"] == len(quotes) + len(depth)
    assert metrics["counters"]["redelivered_skipped"] == 0
    assert_no_offset_jumps(log)
    assert {r["symbol"] for r in features} == set(symbols)


def _metrics_of(brokers: str, pid: int) -> list[dict]:
    """The microstructure engine's logic.metrics records from the worker process `pid`."""
    rows = [orjson.loads(v) for _, _, _, v in kafka.read_all(brokers, "logic.metrics")]
    return [r for r in rows
            if r["engine"] == "microstructure" and r["worker"].endswith(f":{pid}")]


def _events_in(brokers: str, pid: int) -> int:
    rows = _metrics_of(brokers, pid)
    return rows[-1]["counters"]["events_in"] if rows else 0
