"""Throughput of one consumer group of 1, 2, ... `nautilus-streams worker` processes on the
same tape, against the single worker measured in the same run.

An embedded Tansu broker holds a synthetic tape in market.trades (6 partitions, see
topics.yaml); for each process count a new group (a new NAUTILUS_APP_ID) reads it from the
start with `--engines ENGINES` (bars,vpin by default). A group's rate is measured over the
part of the tape after its first STEADY_FROM share: the processes join the group one after
the other, and until the last has joined, the first ones hold more partitions (and a
rebalance pauses them all), so the first share absorbs start-up and rebalances. It is the
records consumed from the first logic.metrics report at or past that share to the first at
the end of the tape, over the time between (an engine's events_in summed over the group's
processes, as `benchmarks/harness.py` times one worker). Processes beyond the partition count
would hold nothing; more processes than cores compete for them: the machine's core count is
printed next to the figures. The last line is the key=value summary.

Usage: python -m benchmarks.worker_scaling [--trades N] [--workers 1,2,3] [--engines E,...]
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

import orjson

from benchmarks.harness import make_trades, produce
from streams import kafka
from streams.catalog import Catalog
from streams.embedded import EmbeddedBroker
from streams.settings import REPO_ROOT

TIMEOUT_S = 900.0
STEADY_FROM = 0.4  # the share of the tape that start-up and rebalances may take


def group_rate(brokers: str, engine: str, count: int, trades: int, logs: Path) -> float:
    """Trades/s of `count` worker processes in one new group until they consumed `trades`."""
    app_id = f"bench-scale-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "KAFKA_BROKERS": brokers, "NAUTILUS_APP_ID": app_id,
           "NAUTILUS_HEALTH_INTERVAL_MS": "250", "NAUTILUS_STATE_DIR": str(logs / app_id)}
    procs = []
    for i in range(count):
        with (logs / f"{app_id}-{i}.log").open("wb") as out:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "streams", "worker", "--engines", engine],
                env=env, stdout=out, stderr=subprocess.STDOUT,
            ))
    first = engine.split(",")[0]
    workers = {f":{p.pid}" for p in procs}
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            time.sleep(1.0)
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"a worker exited early; see {logs}")
            samples = sorted(
                (r["ts_init"], r["worker"], r["counters"]["events_in"])
                for _, _, _, v in kafka.read_all(brokers, "logic.metrics")
                for r in [orjson.loads(v)]
                if r["engine"] == first and any(r["worker"].endswith(w) for w in workers)
            )
            rate = _steady_rate(samples, trades)
            if rate is not None:
                return rate
        raise SystemExit(f"{count} workers did not finish in {TIMEOUT_S:.0f} s; see {logs}")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(30)


def _steady_rate(samples: list[tuple[int, str, int]], trades: int) -> float | None:
    """Records/s from the first report at or past STEADY_FROM of `trades` to the first at
    which the group had consumed them all; None until it has."""
    latest: dict[str, int] = {}
    steady: tuple[int, int] | None = None
    for ts, worker, events_in in samples:
        latest[worker] = events_in
        total = sum(latest.values())
        if steady is None and total >= STEADY_FROM * trades:
            steady = (ts, total)
        if total >= trades and steady is not None and ts > steady[0]:
            return (total - steady[1]) / ((ts - steady[0]) / 1e9)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=600_000)
    parser.add_argument("--workers", default="1,2", help="process counts to run, e.g. 1,2,3")
    parser.add_argument("--engines", default="bars,vpin")
    args = parser.parse_args()
    counts = [int(c) for c in args.workers.split(",")]
    records = make_trades(args.trades, span_s=args.trades / 1_000)
    rates = {}
    with tempfile.TemporaryDirectory() as tmp_dir, \
            EmbeddedBroker(Path(tmp_dir) / "broker.log") as broker:
        brokers = broker.start()
        kafka.apply_catalog(Catalog.load(REPO_ROOT / "topics.yaml"), brokers)
        produce(brokers, records, "market.trades")
        for count in counts:
            rates[count] = group_rate(brokers, args.engines, count, args.trades, Path(tmp_dir))
            print(f"{count} worker(s) --engines {args.engines}: {rates[count]:,.0f} trades/s "
                  f"({rates[count] / rates[counts[0]]:.2f}x {counts[0]})", flush=True)
    figures = " ".join(f"workers_{c}_per_s={rates[c]:.0f}" for c in counts)
    ratios = " ".join(f"ratio_{c}_vs_{counts[0]}={rates[c] / rates[counts[0]]:.2f}"
                      for c in counts[1:])
    print(f"{figures} {ratios} trades={args.trades} engines={args.engines} "
          f"cores={os.cpu_count()}")


if __name__ == "__main__":
    main()
