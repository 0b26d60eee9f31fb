"""Latency through a worker at a steady rate: from a trade's ts_init to the publish of the VPIN
reading it completes, at `--rate` against a slow rate (`--baseline-rate`) in the same run.

An embedded Tansu broker; one `nautilus-streams worker --engines vpin` (VPIN buckets of
`--bucket-volume`, so readings come many times a second; tick-rule classification, which
classifies each trade as it arrives: with BVC, the default, a trade waits in its time bar until
the bar closes, `bar_seconds` plus `grace_ms`, by design); this process produces trades into
market.trades, paced against the wall clock, first at the baseline rate, then at `--rate`,
each stamped with ts_event = ts_init = the wall-clock time it is produced at. A reading's
ts_event is that of the trade that completed its bucket and its ts_init the time the engine
made it, just before it is published: latency = reading.ts_init - trade ts_init, the feed's
producer, the broker, the worker's fetch, decode, VPIN and encode (the issue's "trade's ts_init
to its VPIN reading's publish"). The readings are read back from logic.vpin after the run.

The first `--warmup` seconds of each phase are not counted. The producer, the worker and the
broker share the machine's cores: on 2 cores they compete. ratio = p99 at the rate / p99 at
the baseline rate. The last line is the key=value summary.

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
from pathlib import Path

import numpy as np
import orjson

from benchmarks.harness import SYMBOLS
from streams import kafka
from streams.catalog import Catalog
from streams.embedded import EmbeddedBroker
from streams.settings import REPO_ROOT

NS = 1_000_000_000


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
    parser.add_argument("--baseline-rate", type=float, default=1_000.0, help="trades per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured, per phase")
    parser.add_argument("--warmup", type=float, default=5.0, help="not counted, per phase")
    parser.add_argument("--bucket-volume", type=int, default=50_000)
    args = parser.parse_args()
    phases = {}  # rate -> (counted from ns, until ns, trades sent)
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
            for rate in (args.baseline_rate, args.rate):
                counted_from = time.time_ns() + int(args.warmup * NS)
                sent = produce_paced(brokers, rate, args.warmup + args.seconds)
                phases[rate] = (counted_from, time.time_ns(), sent)
                print(f"{sent:,} trades at {rate:,.0f}/s asked, "
                      f"{sent / (args.warmup + args.seconds):,.0f}/s produced", flush=True)
            time.sleep(2.0)  # the last readings' way through
        finally:
            worker.terminate()
            worker.wait(30)
        readings = [orjson.loads(value) for _, _, _, value in kafka.read_all(brokers,
                                                                               "logic.vpin")]
    if not readings:
        raise SystemExit("no VPIN reading arrived; the worker's log ends:\n"
                         + log.read_text()[-3000:])
    figures = {}
    for rate, (since, until, _) in phases.items():
        mine = [r["ts_init"] - r["ts_event"] for r in readings if since <= r["ts_event"] < until]
        figures[rate] = (len(mine), *percentiles(mine))
        print(f"at {rate:,.0f} trades/s: {len(mine):,} readings, trade -> reading published "
              f"p50 {figures[rate][1]:.1f} ms, p99 {figures[rate][2]:.1f} ms")
    at, base = figures[args.rate], figures[args.baseline_rate]
    print(f"rate_per_s={args.rate:.0f} readings={at[0]} p50_ms={at[1]:.1f} p99_ms={at[2]:.1f} "
          f"baseline_rate_per_s={args.baseline_rate:.0f} baseline_p50_ms={base[1]:.1f} "
          f"baseline_p99_ms={base[2]:.1f} ratio={at[2] / base[2]:.2f} cores={os.cpu_count()}")


if __name__ == "__main__":
    main()
