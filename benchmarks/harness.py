"""What the throughput benchmarks share: a synthetic tape, producing it, timing a worker and
running a per-event baseline process on the same broker.

Every benchmark prints its measurements against a baseline measured in the same run; nothing
here asserts a speed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import orjson
from confluent_kafka.admin import NewTopic

from streams import kafka

SYMBOLS = ["ESZ6", "NQZ6", "AAPL", "MSFT", "EURUSD", "GCZ6", "CLZ6", "TSLA"]
START_NS = 1_700_000_000 * 10**9


def make_trades(
    n: int, *, span_s: float, symbols: list[str] = SYMBOLS, seed: int = 1
) -> list[tuple[bytes, bytes]]:
    """(key, value) wire records of n trades spread over `span_s` seconds of event time.

    Prices follow a random walk per symbol (so bars move), sizes are uniform 1-499.
    """
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(span_s * 1e9 / n, n)
    ts = START_NS + np.cumsum(gaps).astype(np.int64)
    sym = rng.integers(0, len(symbols), n)
    steps = rng.normal(0, 0.02, n)
    prices = np.empty(n)
    for i in range(len(symbols)):
        mine = sym == i
        prices[mine] = np.round(100 + np.cumsum(steps[mine]), 2)
    sizes = rng.integers(1, 500, n)
    out = []
    rows = zip(ts.tolist(), sym.tolist(), prices.tolist(), sizes.tolist(), strict=True)
    for t, s, p, q in rows:
        symbol = symbols[s]
        value = orjson.dumps({"schema_version": 1, "ts_event": t, "ts_init": t,
                              "symbol": symbol, "price": f"{max(p, 0.01):.2f}", "size": q})
        out.append((symbol.encode(), value))
    return out


def produce(brokers: str, records: list[tuple[bytes, bytes]], topic: str) -> None:
    producer = kafka.producer(brokers)
    for key, value in records:
        while True:
            try:
                producer.produce(topic, key=key, value=value)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(60)


def create_topic(brokers: str, prefix: str, partitions: int = 6) -> str:
    """A fresh topic with a unique name (and explicit retention, which Quix Streams needs)."""
    topic = f"{prefix}.{uuid.uuid4().hex[:6]}"
    admin = kafka.admin(brokers)
    new = NewTopic(topic, partitions, 1, config={"retention.ms": "604800000"})
    for fut in admin.create_topics([new]).values():
        fut.result()
    return topic


def worker_rate(
    brokers: str, engine: str, n: int, log: Path, env: dict[str, str],
    interpreter: list[str] | None = None,
) -> float:
    """Run `nautilus-streams worker --engines ENGINE` (with `interpreter`, default this
    Python) until it consumed `n` records of market.trades; its rate from first to last
    record, read from the engine's logic.metrics counters."""
    app_id = f"bench-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, **env, "KAFKA_BROKERS": brokers, "NAUTILUS_APP_ID": app_id,
           "NAUTILUS_HEALTH_INTERVAL_MS": "250"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*(interpreter or [sys.executable]), "-m", "streams", "worker", "--engines", engine],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        samples = _wait_for_count(brokers, engine, n, proc, log)
    finally:
        proc.terminate()
        proc.wait(30)
    return _rate(samples)


def _wait_for_count(
    brokers: str, engine: str, n: int, proc: subprocess.Popen, log: Path
) -> list[tuple[int, int]]:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        time.sleep(1)
        if proc.poll() is not None:
            raise SystemExit(f"worker exited early; see {log}")
        samples = [
            (r["ts_init"], r["counters"]["events_in"])
            for _, _, _, v in kafka.read_all(brokers, "logic.metrics")
            for r in [orjson.loads(v)]
            if r["engine"] == engine
        ]
        if samples and samples[-1][1] >= n:
            return samples
    raise SystemExit(f"worker did not finish in 10 minutes; see {log}")


def _rate(samples: list[tuple[int, int]]) -> float:
    """Events/s between the last sample before work began and the first at the end."""
    final = samples[-1][1]
    start = max((s for s in samples if s[1] == 0), default=samples[0])
    end = next(s for s in samples if s[1] == final)
    return (end[1] - start[1]) / ((end[0] - start[0]) / 1e9)


def run_rate_process(cmd: list[str], env: dict[str, str], result: Path, log: Path) -> float:
    """Run a baseline process that writes its events/s to `result` when done; return it."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            if result.exists() and result.read_text():
                return float(result.read_text())
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(30)
    raise SystemExit(f"baseline {cmd[1]} gave no rate; see {log}")
