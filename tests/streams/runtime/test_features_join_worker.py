"""A features worker on the real broker joins the VPIN and order-book readings it holds into
later bars, also after it was killed with SIGKILL and restarted (its readings come back from
its state table or are re-delivered, never lost); a bar published twice is applied once."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import orjson
import pytest

from streams import codec, kafka
from streams.schema import Bar, Event
from tests.factories import MINUTE_NS, T0, event
from tests.streams.runtime.workers import produce, read_topic, start_group_at_end, wait_for, worker

pytestmark = pytest.mark.slow
SECOND_NS = 1_000_000_000
INPUTS = ("market.bars.1m", "logic.vpin", "logic.microstructure")
END = T0 + MINUTE_NS  # the first bar's end


def bar(symbol: str, end_ns: int, price: str = "10.00") -> Bar:
    start = end_ns - MINUTE_NS
    return Bar(ts_event=end_ns, ts_init=end_ns, bar_id=f"{symbol}@1m@{start}", symbol=symbol,
               start_ns=start, open=price, high=price, low=price, close=price,
               volume=1, trade_count=1, vwap=price)


def readings(symbol: str) -> dict[str, list[Event]]:
    """Readings before, exactly at and after the first bar's end (successive buckets, as the
    VPIN engine numbers them)."""
    return {
        "logic.vpin": [
            event("VpinReading", ts_event=ts, ts_init=ts, symbol=symbol, bucket=n, vpin=v,
                  vpin_cdf=c)
            for n, (ts, v, c) in enumerate(((END - 30 * SECOND_NS, 0.1, 0.5), (END, 0.2, 0.6),
                                            (END + 5 * SECOND_NS, 0.9, 0.99)), start=1)],
        "logic.microstructure": [
            event("MicrostructureFeatures", ts_event=ts, ts_init=ts, symbol=symbol, spread=s,
                  imbalance_5=i)
            for ts, s, i in ((END - SECOND_NS, "0.01", 0.25), (END + SECOND_NS, "0.03", -0.5))],
    }


def test_a_restarted_features_worker_joins_the_readings_it_consumed_before(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: the readings on the log, consumed by a worker that is then killed outright
    symbol = f"J{uuid.uuid4().hex[:6].upper()}"
    app_id = f"test-join-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id, INPUTS)
    held = readings(symbol)
    for topic, events in held.items():
        produce(kafka_brokers, [(symbol, codec.encode(e)) for e in events], topic)
    log = tmp_path / "worker.log"
    with worker(services_env, app_id, log, engines="features") as first:
        wait_for(lambda: _events_in(kafka_brokers, first.pid) >= 5, 120, "5 readings consumed")
        first.send_signal(signal.SIGKILL)
        first.wait()

    # Act: a new worker gets the bars ending at 60 s and 120 s
    with worker(services_env, app_id, log, engines="features"):
        produce(kafka_brokers, [(symbol, codec.encode(bar(symbol, END + m * MINUTE_NS)))
                                for m in (0, 1)], "market.bars.1m")
        wait_for(lambda: len(_vectors(kafka_brokers, symbol)) >= 2, 120, "2 feature vectors")

    # Assert: the reading at the end is joined, the one after it only into the next bar
    joined = {ts - T0: {k: v for k, v in values.items()
                        if k in {"vpin", "vpin_cdf", "spread", "imbalance_5"}}
              for ts, values in _vectors(kafka_brokers, symbol).items()}
    assert joined == {
        MINUTE_NS: {"vpin": 0.2, "vpin_cdf": 0.6, "spread": 0.01, "imbalance_5": 0.25},
        2 * MINUTE_NS: {"vpin": 0.9, "vpin_cdf": 0.99, "spread": 0.03, "imbalance_5": -0.5},
    }


def test_a_bar_published_twice_is_applied_once(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: 11 bars closing at 10, 11, ..., 20; the fifth is on the log twice, as a bars
    # worker killed between publishing it and writing its state leaves it (at a new offset)
    symbol = f"D{uuid.uuid4().hex[:6].upper()}"
    app_id = f"test-twice-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id, INPUTS)
    bars = [bar(symbol, END + i * MINUTE_NS, f"{10 + i}.00") for i in range(11)]
    last = bars[-1].ts_event

    # Act
    with worker(services_env, app_id, tmp_path / "worker.log", engines="features"):
        produce(kafka_brokers, [(symbol, codec.encode(b)) for b in [*bars[:5], bars[4],
                                                                    *bars[5:]]],
                "market.bars.1m")
        wait_for(lambda: last in _vectors(kafka_brokers, symbol), 120, "the last bar's vector")

    # Assert: one vector per bar; the SMA of 10 closes from the tenth bar on, by definition
    rows = read_topic(kafka_brokers, "logic.features", lambda r: r.get("symbol") == symbol)
    assert [r["ts_event"] for r in rows] == [b.ts_event for b in bars]
    sma = {r["ts_event"]: r["values"].get("sma_10") for r in rows}
    assert [sma[b.ts_event] for b in bars] == [None] * 9 + [14.5, 15.5]


def _vectors(brokers: str, symbol: str) -> dict[int, dict[str, float]]:
    rows = read_topic(brokers, "logic.features", lambda r: r.get("symbol") == symbol)
    return {r["ts_event"]: r["values"] for r in rows}


def _events_in(brokers: str, pid: int) -> int:
    """What the features engine of worker process `pid` last reported consuming."""
    rows = [orjson.loads(v) for _, _, _, v in kafka.read_all(brokers, "logic.metrics")]
    mine = [r for r in rows if r["engine"] == "features" and r["worker"].endswith(f":{pid}")]
    return mine[-1]["counters"]["events_in"] if mine else 0
