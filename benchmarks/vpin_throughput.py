"""Throughput of the VPIN engine, against baselines measured in the same run on the same tape.

Measures:
  1. in-process: decode + VPIN engine through the replay driver (columnar, batched), from the
     wire records (JSON, as a topic replay reads them) and from a Parquet file of the same tape
     (as a backtest reads one; the file is read inside the timing);
  2. worker: one `nautilus-streams worker --engines vpin` on an embedded Tansu broker, from its
     first consumed record to its last (its logic.metrics counters);
  3. baseline: a plain Faust agent computing the same VPIN one event at a time, state in Faust
     tables (benchmarks/baselines/faust_vpin.py);
  4. baseline: a Quix Streams application computing it one event at a time with its RocksDB
     state store and changelog (benchmarks/baselines/quix_vpin.py), run from its own virtualenv
     (`--quix-python`, made by `make bench`), since quixstreams pins its own confluent-kafka.

With `--profile`, also prints the top costs of the in-process run and of the worker (the
worker's main thread under cProfile). The last line is the key=value summary; ratio is the
worker over the faster baseline. Usage: python -m benchmarks.vpin_throughput [--trades N]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from benchmarks.harness import create_topic, make_trades, produce, run_rate_process, worker_rate
from processors import VpinEngine
from streams import codec, kafka
from streams.catalog import Catalog
from streams.embedded import EmbeddedBroker
from streams.feeds.badrows import BadRows
from streams.feeds.files import FileOptions
from streams.params import apply_overrides
from streams.replay import Source, file_runs, run_replay
from streams.settings import REPO_ROOT, EngineParams

BASELINES = Path(__file__).parent / "baselines"
BARS_PER_SYMBOL = 600  # of 60 s: enough buckets for VPIN values and their CDF


def in_process(values: list[bytes], bucket_volume: int) -> tuple[float, float, int]:
    """Trades/s of decode + replay, trades/s of the replay alone, and the reading count."""
    params = apply_overrides(EngineParams(), [f"vpin.bucket_volume={bucket_volume}"])
    started = time.perf_counter()
    columns, rejected = codec.decode_columns("Trade", values)
    order = np.argsort(columns["ts_event"], kind="stable")
    source = Source("market.trades", {k: v[order] for k, v in columns.items()})
    decoded = time.perf_counter()
    result = run_replay([source], [VpinEngine], params)
    done = time.perf_counter()
    assert not rejected
    n = len(values)
    return n / (done - started), n / (done - decoded), len(result.outputs["logic.vpin"])


def file_replay(values: list[bytes], bucket_volume: int, tmp: Path) -> tuple[float, int]:
    """Trades/s of `nautilus-streams replay` on a Parquet file of the tape (read included),
    and the reading count."""
    path = tmp / "trades.parquet"
    frame = pd.DataFrame([orjson.loads(v) for v in values]).drop(columns="schema_version")
    frame.to_parquet(path, index=False)
    params = apply_overrides(EngineParams(), [f"vpin.bucket_volume={bucket_volume}"])
    started = time.perf_counter()
    result = run_replay(file_runs([path], FileOptions(), BadRows()), [VpinEngine], params)
    elapsed = time.perf_counter() - started
    return len(values) / elapsed, len(result.outputs["logic.vpin"])


def baseline_rate(
    kind: str, python: str, brokers: str, records: list[tuple[bytes, bytes]],
    bucket_volume: int, tmp: Path,
) -> tuple[float, int]:
    """Events/s of one baseline process on its own copy of the tape, and its reading count."""
    topic = create_topic(brokers, "bench.trades")
    out = create_topic(brokers, "bench.vpin")
    produce(brokers, records, topic)
    result = tmp / f"{kind}.rate"
    env = {"BASELINE_APP": f"{kind}-{uuid.uuid4().hex[:6]}", "BASELINE_BROKERS": brokers,
           "BASELINE_TOPIC": topic, "BASELINE_OUT": out, "BASELINE_COUNT": str(len(records)),
           "BASELINE_BUCKET_VOLUME": str(bucket_volume),
           "BASELINE_DATADIR": str(tmp / f"{kind}-data"), "BASELINE_RESULT": str(result)}
    cmd = [python, str(BASELINES / f"{kind}_vpin.py")]
    if kind == "faust":
        cmd += ["worker", "-l", "warn", "--without-web"]
    rate = run_rate_process(cmd, env, result, tmp / f"{kind}.log")
    time.sleep(2)  # let the last readings reach the broker
    return rate, sum(1 for _ in kafka.read_all(brokers, out))


def top_costs(stats: pstats.Stats, n: int = 12) -> str:
    buffer = io.StringIO()
    stats.stream = buffer  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(n)
    lines = buffer.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    return "\n".join(lines[start:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=500_000)
    parser.add_argument("--baseline-trades", type=int, default=30_000,
                        help="tape length for the per-event baselines (they are slow)")
    parser.add_argument("--bucket-volume", type=int, default=20_000)
    parser.add_argument("--quix-python", default=str(REPO_ROOT / ".bench-quix/bin/python"),
                        help="interpreter of a virtualenv with quixstreams installed")
    parser.add_argument("--profile", action="store_true", help="print where the time goes")
    args = parser.parse_args()
    records = make_trades(args.trades, span_s=BARS_PER_SYMBOL * 60)
    values = [v for _, v in records]
    volume = args.bucket_volume

    ours, engine_only, readings = in_process(values, volume)
    print(f"in-process (replay driver, JSON decode included): {ours:,.0f} trades/s, "
          f"{readings} readings; without the decode: {engine_only:,.0f} trades/s")
    with tempfile.TemporaryDirectory() as tmp_dir:
        from_file, file_readings = file_replay(values, volume, Path(tmp_dir))
    print(f"in-process (replay driver, Parquet file read included): {from_file:,.0f} trades/s, "
          f"{file_readings} readings")
    if file_readings != readings:
        raise SystemExit("the file replay and the decoded replay disagree")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(in_process, values, volume)
        print("in-process top costs:\n" + top_costs(pstats.Stats(profile)))

    with tempfile.TemporaryDirectory() as tmp_dir, \
            EmbeddedBroker(Path(tmp_dir) / "broker.log") as broker:
        tmp, brokers = Path(tmp_dir), broker.bootstrap
        kafka.apply_catalog(Catalog.load(REPO_ROOT / "topics.yaml"), brokers)
        produce(brokers, records, "market.trades")
        env = {"NAUTILUS_VPIN__BUCKET_VOLUME": str(volume)}
        worker = worker_rate(brokers, "vpin", len(records), tmp / "worker.log", env)
        print(f"worker (embedded broker): {worker:,.0f} trades/s")
        if args.profile:
            print("worker main-thread top costs:\n" + worker_profile(brokers, records, env, tmp))
        subset = records[: args.baseline_trades]
        faust, faust_readings = baseline_rate("faust", sys.executable, brokers, subset, volume, tmp)
        print(f"baseline Faust agent, per event: {faust:,.0f} trades/s, {faust_readings} readings")
        quix, quix_readings = baseline_rate("quix", args.quix_python, brokers, subset, volume, tmp)
        print(f"baseline Quix Streams, per event: {quix:,.0f} trades/s, {quix_readings} readings")

    print(
        f"in_process_trades_per_s={ours:.0f} in_process_engine_trades_per_s={engine_only:.0f} "
        f"in_process_file_trades_per_s={from_file:.0f} "
        f"worker_trades_per_s={worker:.0f} "
        f"naive_faust_trades_per_s={faust:.0f} quix_trades_per_s={quix:.0f} "
        f"ratio={worker / max(faust, quix):.2f}"
    )


def worker_profile(
    brokers: str, records: list[tuple[bytes, bytes]], env: dict[str, str], tmp: Path
) -> str:
    """Run a second worker over a fresh copy of the tape under cProfile; its top costs."""
    out = tmp / "worker.prof"
    produce(brokers, records, "market.trades")
    worker_rate(brokers, "vpin", 2 * len(records), tmp / "worker-profiled.log", env,
                interpreter=[sys.executable, "-m", "cProfile", "-o", str(out)])
    return top_costs(pstats.Stats(str(out)))


if __name__ == "__main__":
    main()
