"""Throughput of the 1-minute bars engine, against baselines measured in the same run.

Measures, on one tape of synthetic trades:
  1. in-process: decode + engine through the replay driver (columnar, batched);
  2. baseline in-process: the same bars computed one event at a time in plain Python;
  3. worker: one `nautilus-streams worker --engines bars` on an embedded Tansu broker, from
     its first consumed record to its last (read from its logic.metrics counters);
  4. baseline worker: a plain Faust agent on the same broker and tape that updates one
     table entry per event (the per-event pattern).

Prints a line per measurement and, last, a key=value summary with the ratios
(ours / baseline). Usage: python benchmarks/bars_throughput.py [--trades N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import orjson

from processors import BarEngine
from streams import codec, kafka
from streams.catalog import Catalog
from streams.embedded import EmbeddedBroker
from streams.replay import Source, run_replay
from streams.settings import REPO_ROOT, EngineParams

MINUTE_NS = 60_000_000_000
SYMBOLS = ["ESZ6", "NQZ6", "AAPL", "MSFT", "EURUSD", "GCZ6", "CLZ6", "TSLA"]


def make_values(n: int, seed: int = 1) -> list[tuple[bytes, bytes]]:
    """(key, value) wire records of n trades over n/2000 seconds of event time."""
    rng = np.random.default_rng(seed)
    ts = 1_700_000_000 * 10**9 + np.cumsum(rng.exponential(500_000, n)).astype(np.int64)
    sym = rng.integers(0, len(SYMBOLS), n)
    prices = np.round(100 + rng.normal(0, 1, n), 2)
    sizes = rng.integers(1, 500, n)
    out = []
    for t, s, p, q in zip(ts.tolist(), sym.tolist(), prices.tolist(), sizes.tolist(), strict=True):
        symbol = SYMBOLS[s]
        value = orjson.dumps({"schema_version": 1, "ts_event": t, "ts_init": t,
                              "symbol": symbol, "price": f"{p:.2f}", "size": q})
        out.append((symbol.encode(), value))
    return out


def in_process(values: list[bytes]) -> tuple[float, int]:
    started = time.perf_counter()
    columns, rejected = codec.decode_columns("Trade", values)
    order = np.argsort(columns["ts_event"], kind="stable")
    source = Source("market.trades", {k: v[order] for k, v in columns.items()})
    result = run_replay([source], [BarEngine], EngineParams())
    elapsed = time.perf_counter() - started
    assert not rejected
    return len(values) / elapsed, len(result.outputs["market.bars.1m"])


def naive_in_process(values: list[bytes]) -> tuple[float, int]:
    """Per event: parse, look up the symbol's open bar, update or close it."""
    started = time.perf_counter()
    open_bars: dict[str, list] = {}
    closed = 0
    for raw in values:
        doc = orjson.loads(raw)
        start = doc["ts_event"] - doc["ts_event"] % MINUTE_NS
        price, size = float(doc["price"]), doc["size"]
        bar = open_bars.get(doc["symbol"])
        if bar is None or bar[0] != start:
            closed += bar is not None
            open_bars[doc["symbol"]] = [start, price, price, price, price, size, price * size]
        else:
            bar[2], bar[3] = max(bar[2], price), min(bar[3], price)
            bar[4], bar[5], bar[6] = price, bar[5] + size, bar[6] + price * size
    elapsed = time.perf_counter() - started
    return len(values) / elapsed, closed + len(open_bars)


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


def worker_rate(brokers: str, n: int, log: Path) -> float:
    """Run one worker over the tape on market.trades; rate from its logic.metrics."""
    app_id = f"bench-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "KAFKA_BROKERS": brokers, "NAUTILUS_APP_ID": app_id,
           "NAUTILUS_HEALTH_INTERVAL_MS": "250"}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streams", "worker", "--engines", "bars"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        samples = _wait_for_count(brokers, n, proc)
    finally:
        proc.terminate()
        proc.wait(30)
    return _rate(samples)


def _wait_for_count(brokers: str, n: int, proc: subprocess.Popen) -> list[tuple[int, int]]:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        time.sleep(1)
        if proc.poll() is not None:
            raise SystemExit("worker exited early; see its log")
        samples = [
            (r["ts_init"], r["counters"]["events_in"])
            for _, _, _, v in kafka.read_all(brokers, "logic.metrics")
            for r in [orjson.loads(v)]
        ]
        if samples and samples[-1][1] >= n:
            return samples
    raise SystemExit("worker did not finish in 10 minutes")


def _rate(samples: list[tuple[int, int]]) -> float:
    """Events/s between the last sample before work began and the first at the end."""
    final = samples[-1][1]
    start = max((s for s in samples if s[1] == 0), default=samples[0])
    end = next(s for s in samples if s[1] == final)
    return (end[1] - start[1]) / ((end[0] - start[0]) / 1e9)


NAIVE_FAUST = '''
import faust, orjson, os, time
app = faust.App(os.environ["NAIVE_APP"], broker="kafka://" + os.environ["NAIVE_BROKERS"],
                store="memory://", datadir=os.environ["NAIVE_DATADIR"],
                value_serializer="raw", key_serializer="raw", web_enabled=False,
                broker_session_timeout=6, broker_rebalance_timeout=6,
                broker_heartbeat_interval=2, consumer_auto_offset_reset="earliest")
topic = app.topic(os.environ["NAIVE_TOPIC"], value_serializer="raw", key_serializer="raw")
bars = app.Table("bars", default=None, value_type=bytes, key_type=bytes, partitions=6)
count, first = 0, None
@app.agent(topic)
async def aggregate(stream):
    global count, first
    async for key, raw in stream.items():
        doc = orjson.loads(raw)
        first = first or time.perf_counter()
        start = doc["ts_event"] - doc["ts_event"] % 60_000_000_000
        stored = bars.get(key)
        bar = orjson.loads(stored) if stored else None
        price = float(doc["price"])
        if bar is None or bar[0] != start:
            bar = [start, price, price, price, price, doc["size"]]
        else:
            high, low = max(bar[2], price), min(bar[3], price)
            bar = [start, bar[1], high, low, price, bar[5] + doc["size"]]
        bars[key] = orjson.dumps(bar)
        count += 1
        if count == int(os.environ["NAIVE_COUNT"]):
            with open(os.environ["NAIVE_RESULT"], "w") as out:
                out.write(str(count / (time.perf_counter() - first)))
app.main()
'''


def naive_worker_rate(brokers: str, records: list[tuple[bytes, bytes]], log: Path) -> float:
    """A per-event Faust agent with one table update per event, on its own copy of the tape."""
    topic = f"bench.trades.{uuid.uuid4().hex[:6]}"
    admin = kafka.admin(brokers)
    from confluent_kafka.admin import NewTopic

    for fut in admin.create_topics([NewTopic(topic, 6, 1)]).values():
        fut.result()
    produce(brokers, records, topic)
    script = log.with_suffix(".py")
    script.write_text(NAIVE_FAUST)
    env = {**os.environ, "NAIVE_APP": f"naive-{uuid.uuid4().hex[:6]}", "NAIVE_BROKERS": brokers,
           "NAIVE_TOPIC": topic, "NAIVE_COUNT": str(len(records)),
           "NAIVE_DATADIR": str(log.parent / "naive-data"),
           "NAIVE_RESULT": str(log.with_suffix(".rate"))}
    cmd = [sys.executable, str(script), "worker", "-l", "warn", "--without-web"]
    result = log.with_suffix(".rate")
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            if result.exists() and result.read_text():
                return float(result.read_text())
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(30)
    raise SystemExit(f"naive Faust baseline gave no rate; see {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=400_000)
    parser.add_argument("--baseline-trades", type=int, default=20_000,
                        help="tape length for the per-event Faust baseline (it is slow)")
    args = parser.parse_args()
    records = make_values(args.trades)
    values = [v for _, v in records]

    ours, bars = in_process(values)
    print(f"in-process (replay driver): {ours:,.0f} trades/s, {bars} bars")
    naive, naive_bars = naive_in_process(values)
    print(f"baseline in-process (per-event Python): {naive:,.0f} trades/s, {naive_bars} bars")

    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(Path(tmp) / "broker.log") as broker:
        kafka.apply_catalog(Catalog.load(REPO_ROOT / "topics.yaml"), broker.bootstrap)
        started = time.perf_counter()
        produce(broker.bootstrap, records, "market.trades")
        print(f"produced {len(records):,} trades in {time.perf_counter() - started:.1f} s")
        worker = worker_rate(broker.bootstrap, len(records), Path(tmp) / "worker.log")
        print(f"worker (embedded broker): {worker:,.0f} trades/s")
        naive_worker = naive_worker_rate(
            broker.bootstrap, records[: args.baseline_trades], Path(tmp) / "naive.log"
        )
        print(f"baseline worker (per-event Faust agent + table): {naive_worker:,.0f} trades/s")

    print(
        f"in_process_trades_per_s={ours:.0f} naive_in_process_trades_per_s={naive:.0f} "
        f"in_process_ratio={ours / naive:.2f} worker_trades_per_s={worker:.0f} "
        f"naive_faust_trades_per_s={naive_worker:.0f} worker_ratio={worker / naive_worker:.2f}"
    )


if __name__ == "__main__":
    main()
