"""Throughput of the 1-minute bars engine, against baselines measured in the same run.

Measures, on one tape of synthetic trades:
  1. in-process: decode + engine through the replay driver (columnar, batched);
  2. baseline in-process: the same bars computed one event at a time in plain Python;
  3. worker: one `nautilus-streams worker --engines bars` on an embedded Tansu broker, from
     its first consumed record to its last (read from its logic.metrics counters);
  4. baseline worker: a plain Faust agent on the same broker and tape that updates one
     table entry per event (the per-event pattern).

Prints a line per measurement and, last, a key=value summary with the ratios
(ours / baseline). Usage: python -m benchmarks.bars_throughput [--trades N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import orjson

from benchmarks.harness import create_topic, make_trades, produce, run_rate_process, worker_rate
from processors import BarEngine
from streams import codec, kafka
from streams.catalog import Catalog
from streams.embedded import EmbeddedBroker
from streams.replay import Source, run_replay
from streams.settings import REPO_ROOT, EngineParams

MINUTE_NS = 60_000_000_000
BASELINE = Path(__file__).parent / "baselines" / "faust_bars.py"


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


def naive_worker_rate(brokers: str, records: list[tuple[bytes, bytes]], tmp: Path) -> float:
    """A per-event Faust agent with one table update per event, on its own copy of the tape."""
    topic = create_topic(brokers, "bench.trades")
    produce(brokers, records, topic)
    result = tmp / "faust-bars.rate"
    env = {"BASELINE_APP": f"naive-{uuid.uuid4().hex[:6]}", "BASELINE_BROKERS": brokers,
           "BASELINE_TOPIC": topic, "BASELINE_COUNT": str(len(records)),
           "BASELINE_DATADIR": str(tmp / "faust-bars-data"), "BASELINE_RESULT": str(result)}
    cmd = [sys.executable, str(BASELINE), "worker", "-l", "warn", "--without-web"]
    return run_rate_process(cmd, env, result, tmp / "faust-bars.log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=400_000)
    parser.add_argument("--baseline-trades", type=int, default=20_000,
                        help="tape length for the per-event Faust baseline (it is slow)")
    args = parser.parse_args()
    records = make_trades(args.trades, span_s=args.trades / 2000)
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
        worker = worker_rate(broker.bootstrap, "bars", len(records), Path(tmp) / "worker.log", {})
        print(f"worker (embedded broker): {worker:,.0f} trades/s")
        naive_worker = naive_worker_rate(
            broker.bootstrap, records[: args.baseline_trades], Path(tmp)
        )
        print(f"baseline worker (per-event Faust agent + table): {naive_worker:,.0f} trades/s")

    print(
        f"in_process_trades_per_s={ours:.0f} naive_in_process_trades_per_s={naive:.0f} "
        f"in_process_ratio={ours / naive:.2f} worker_trades_per_s={worker:.0f} "
        f"naive_faust_trades_per_s={naive_worker:.0f} worker_ratio={worker / naive_worker:.2f}"
    )


if __name__ == "__main__":
    main()
