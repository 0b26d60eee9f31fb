"""Faust's stall monitor and timers on the batching consumer: quiet while a worker is healthy,
loud when a batch is stuck.

Faust reads its own settings from the environment: STREAM_PROCESSING_TIMEOUT (how long
fetched records may wait for a stream) and BROKER_COMMIT_INTERVAL (the monitor runs every 2.5
intervals) are lowered so that the monitor judges within seconds, not minutes.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import pytest

from streams import codec, kafka
from streams.schema import Trade
from tests.streams.runtime.workers import read_topic, start_group_at_end, wait_for, worker

pytestmark = pytest.mark.slow
STALL_LINES = ("has not started processing", "Stream stopped processing",
               "Has not committed", "let_time_pass is overlapping")
FAUST_MONITOR = {
    "STREAM_PROCESSING_TIMEOUT": "6", "BROKER_COMMIT_LIVELOCK_SOFT_TIMEOUT": "6",
    "BROKER_COMMIT_INTERVAL": "0.6",  # the monitor runs every 1.5 s
}
MONITOR_RUNS = 6  # judged after this many monitor runs past the timeout
T0 = 1_700_000_040 * 1_000_000_000


@contextmanager
def busy(brokers: str, topic: str, records: Iterator[tuple[bytes, bytes]]) -> Iterator[None]:
    """Keep producing `records` to `topic` (a few hundred a second) until the block ends."""
    stop = threading.Event()

    def produce() -> None:
        producer = kafka.producer(brokers)
        while not stop.is_set():
            for _ in range(50):
                key, value = next(records)
                producer.produce(topic, key=key, value=value)
            producer.poll(0)
            stop.wait(0.1)
        producer.flush(15)

    thread = threading.Thread(target=produce)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _trades(symbols: list[str]) -> Iterator[tuple[bytes, bytes]]:
    """Trades a second apart in event time, far behind the wall clock: bars keep closing."""
    for i in range(10**9):
        symbol = symbols[i % len(symbols)]
        ts = T0 + i * 1_000_000_000
        trade = Trade(ts_event=ts, ts_init=ts, symbol=symbol, price=f"{100 + i % 7}.25", size=3)
        yield symbol.encode(), codec.encode(trade)


def _stall_lines(log: Path) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines()
            if any(s in line for s in STALL_LINES)]


def test_a_busy_healthy_worker_logs_no_stall_and_no_overlapping_timer(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    app_id = f"stall-quiet-{uuid.uuid4().hex[:6]}"
    symbols = [f"Q{uuid.uuid4().hex[:6].upper()}{i}" for i in range(6)]
    start_group_at_end(kafka_brokers, app_id, ("market.trades", "market.quotes"))
    log = tmp_path / "worker.log"
    env = {**services_env, **FAUST_MONITOR}
    # every 100 ms: a tick that waited for a batch used to overrun the timer
    with busy(kafka_brokers, "market.trades", _trades(symbols)), \
            worker(env, app_id, log, engines="bars,vpin", clock_tick_ms="100"):
        wait_for(lambda: "engine state restored" in log.read_text(), 120, "the worker to start")
        judged = time.monotonic() + float(FAUST_MONITOR["STREAM_PROCESSING_TIMEOUT"]) \
            + MONITOR_RUNS * 2.5 * float(FAUST_MONITOR["BROKER_COMMIT_INTERVAL"])
        while time.monotonic() < judged:  # the monitor's runs: there is nothing to wait for
            time.sleep(0.5)

    assert _stall_lines(log) == []
    wanted = set(symbols)
    assert read_topic(kafka_brokers, "market.bars.1m", lambda r: r.get("symbol") in wanted)


def test_a_stuck_batch_is_still_reported(
    kafka_brokers: str, services_env: dict[str, str], topic: str, tmp_path: Path
) -> None:
    log = tmp_path / "blocked.log"
    env = {**services_env, "STREAM_PROCESSING_TIMEOUT": "3", "BROKER_COMMIT_INTERVAL": "0.4"}
    values = ((b"k", orjson.dumps({"i": i})) for i in range(10**9))
    with busy(kafka_brokers, topic, values), log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.streams.runtime.blocked_worker", kafka_brokers,
             topic, f"stall-loud-{uuid.uuid4().hex[:6]}", str(tmp_path / "faust")],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda: "handler blocked" in log.read_text(), 120, "the stuck batch")
            reported = f"Stream stopped processing, or is slow for TP(topic='{topic}'"
            wait_for(lambda: reported in log.read_text(), 120, "the stall to be reported")
        finally:
            proc.kill()
            proc.wait()

    assert f"has not started processing TP(topic='{topic}'" not in log.read_text()
