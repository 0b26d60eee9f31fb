"""Latency through a worker at a steady rate: from a trade's ts_init to the VPIN reading it
completes, against the broker's own produce-to-consume floor, measured in the same run.

An embedded Tansu broker; one `nautilus-streams worker --engines vpin` (VPIN buckets of
`--bucket-volume`, so readings come many times a second; tick-rule classification, which
classifies each trade as it arrives: with BVC, the default, a trade waits in its time bar until
the bar closes, `bar_seconds` plus `grace_ms`, by design); this process produces trades into
market.trades at `--rate` per second, paced against the wall clock, each stamped with
ts_event = ts_init = the wall-clock time it is produced at. A reading's ts_event is that of the
trade that completed its bucket and its ts_init the time the engine made it, just before it is
published, so

- emit latency = reading.ts_init - trade ts_init: the feed's producer, the broker, the
  worker's fetch, decode, VPIN and encode (the issue's "trade's ts_init to its VPIN reading's
  publish");
- end-to-end latency = when a consumer (a process of its own) receives the reading - trade
  ts_init;
- floor = when the same consumer receives a trade (every tenth) - its ts_init: the broker's
  round trip alone, which every engine pays; ratio = end-to-end p99 / floor p99.

The first `--warmup` seconds are not counted (the worker's first fetches, the buckets
filling). The producer, the consumer, the worker and the broker share the machine's cores:
on 2 cores all compete. The last line is the key=value summary.

Usage: python -m benchmarks.latency [--rate 20000] [--seconds 30] [--bucket-volume 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from multiprocessing import Event, Process, Queue
from pathlib import Path

import numpy as np
import orjson
from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from benchmarks.harness import SYMBOLS
from streams import kafka
from streams.catalog import Catalog
from streams.embedded import EmbeddedBroker
from streams.settings import REPO_ROOT

NS = 1_000_000_000


def receive(brokers: str, stopping: Event, results: Queue, floor_every: int) -> None:
    """In a process of its own (the producer's loop would hold this one's GIL): read
    market.trades and logic.vpin from their ends until `stopping`, then put (trades, readings)
    on `results`: (received ns, trade ts_init) of every `floor_every`-th trade and (received
    ns, ts_event, ts_init) of every reading."""
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": "unused",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 1,
                         "fetch.min.bytes": 1})
    catalog = Catalog.load(REPO_ROOT / "topics.yaml")
    consumer.assign([TopicPartition(t, p, OFFSET_END) for t in ("market.trades", "logic.vpin")
                     for p in range(catalog[t].partitions)])
    trades, readings, seen = [], [], 0
    while not stopping.is_set():
        for msg in consumer.consume(10_000, timeout=0.01):
            now = time.time_ns()
            if msg.error() is not None:
                continue
            if msg.topic() == "market.trades":
                seen += 1
                if seen % floor_every == 0:
                    trades.append((now, orjson.loads(msg.value())["ts_init"]))
            else:
                record = orjson.loads(msg.value())
                readings.append((now, record["ts_event"], record["ts_init"]))
    consumer.close()
    results.put((trades, readings))


def produce_paced(brokers: str, rate: float, seconds: float) -> int:
    """Produce trades at `rate` per second for `seconds`, each stamped when produced; the
    number produced."""
    producer = kafka.producer(brokers, **{"linger.ms": 1})
    rng = np.random.default_rng(7)
    sizes = rng.integers(1, 500, 1_000_000).tolist()
    ticks = rng.integers(-1, 2, 1_000_000).tolist()  # the tick rule needs prices that move
    prices = dict.fromkeys(SYMBOLS, 10_000)  # cents
    start, sent, last_ts = time.monotonic(), 0, 0
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate)
        while sent < due:
            ts = max(time.time_ns(), last_ts + 1)  # unique: a reading names its trade by it
            last_ts = ts
            symbol = SYMBOLS[sent % len(SYMBOLS)]
            prices[symbol] = max(100, prices[symbol] + ticks[sent % len(ticks)])
            value = orjson.dumps({
                "schema_version": 1, "ts_event": ts, "ts_init": ts, "symbol": symbol,
                "price": f"{prices[symbol] / 100:.2f}", "size": sizes[sent % len(sizes)],
            })
            try:
                producer.produce("market.trades", key=symbol.encode(), value=value)
            except BufferError:
                producer.poll(0.001)
                continue
            sent += 1
        producer.poll(0)
        time.sleep(0.0005)
    producer.flush(30)
    return sent


def percentiles(values_ns: list[int]) -> tuple[float, float]:
    """(p50, p99) in ms."""
    if not values_ns:
        return float("nan"), float("nan")
    p50, p99 = np.percentile(np.asarray(values_ns, dtype=np.float64), [50, 99])
    return p50 / 1e6, p99 / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20_000.0, help="trades per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured, after warm-up")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--bucket-volume", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir, \
            EmbeddedBroker(Path(tmp_dir) / "broker.log") as broker:
        brokers = broker.start()
        kafka.apply_catalog(Catalog.load(REPO_ROOT / "topics.yaml"), brokers)
        log = Path(tmp_dir) / "worker.log"
        env = {**os.environ, "KAFKA_BROKERS": brokers, "NAUTILUS_STATE_DIR": tmp_dir,
               "NAUTILUS_APP_ID": f"bench-latency-{uuid.uuid4().hex[:8]}",
               "NAUTILUS_VPIN__BUCKET_VOLUME": json.dumps({"default": args.bucket_volume}),
               "NAUTILUS_VPIN__CLASSIFICATION": "tick"}
        with log.open("wb") as out:
            worker = subprocess.Popen([sys.executable, "-m", "streams", "worker", "--engines",
                                       "vpin"], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            while "engine partitions assigned engine=vpin" not in log.read_text():
                if worker.poll() is not None:
                    raise SystemExit(f"the worker exited; see {log}")
                time.sleep(0.2)
            stopping, results = Event(), Queue()
            receiver = Process(target=receive, args=(brokers, stopping, results, 10))
            receiver.start()
            time.sleep(1.0)  # its assignment, before the first trade
            counted_from = time.time_ns() + int(args.warmup * NS)
            sent = produce_paced(brokers, args.rate, args.warmup + args.seconds)
            time.sleep(2.0)  # the last readings' way through
            stopping.set()
            received_trades, received_readings = results.get(timeout=60)
            receiver.join(10)
        finally:
            worker.terminate()
            worker.wait(30)
        if not received_readings:
            raise SystemExit("no VPIN reading arrived; the worker's log ends:\n"
                             + log.read_text()[-3000:])
    readings = [r for r in received_readings if r[1] >= counted_from]
    emit = percentiles([ts_init - ts_event for _, ts_event, ts_init in readings])
    end_to_end = percentiles([received - ts_event for received, ts_event, _ in readings])
    floor = percentiles([received - ts for received, ts in received_trades
                         if ts >= counted_from])
    achieved = sent / (args.warmup + args.seconds)
    print(f"{sent:,} trades at {achieved:,.0f}/s; {len(readings):,} VPIN readings counted")
    print(f"trade -> reading published (emit): p50 {emit[0]:.1f} ms, p99 {emit[1]:.1f} ms")
    print(f"trade -> reading received: p50 {end_to_end[0]:.1f} ms, p99 {end_to_end[1]:.1f} ms")
    print(f"trade -> trade received (broker floor): p50 {floor[0]:.1f} ms, "
          f"p99 {floor[1]:.1f} ms")
    print(f"rate_per_s={achieved:.0f} readings={len(readings)} emit_p50_ms={emit[0]:.1f} "
          f"emit_p99_ms={emit[1]:.1f} e2e_p50_ms={end_to_end[0]:.1f} "
          f"e2e_p99_ms={end_to_end[1]:.1f} floor_p50_ms={floor[0]:.1f} "
          f"floor_p99_ms={floor[1]:.1f} ratio={end_to_end[1] / floor[1]:.2f} "
          f"cores={os.cpu_count()}")


if __name__ == "__main__":
    main()
