"""Throughput and batch latency of the `ml` engine's inference, against a per-row forward pass.

An MLP (two hidden layers of --hidden units, --features inputs, seeded weights) registered
and promoted in a temporary registry, served by the `ml` engine as a worker serves it
(Registry.load on the device). Feature records of --symbols symbols, decoded as a worker
decodes them, go through:

  1. engine: `MlEngine.on_features` per batch (history, window check, one forward pass, the
     Prediction records): the predictions/s and p99 batch latency reported;
  2. forward: the served model's forward pass alone on the batch's windows;
  3. baseline: the same rows one forward pass per row (`ServedModel.predict` of one window),
     what an engine without batching does.

At batch sizes 1, 100 and 10,000, on CPU and on CUDA when torch sees one (--devices).
Latencies are wall-clock per call (CUDA: the result is copied back, which waits for the
device). Nothing here asserts a speed; the machine's load moves the figures, so run it on
a quiet machine and compare only figures of one run. The last line is the key=value
summary: the engine at batch 10,000 on the first device, and the per-row baseline there.
Usage: python -m benchmarks.ml_inference [--features 16] [--hidden 32] [--rows 200000]
[--threads N]
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from processors.ml.engine import MlEngine
from processors.ml.networks import build_network
from processors.ml.params import MlParams
from processors.ml.registry import Registry
from streams.clock import TestClock
from streams.codec import decode_columns, encode
from streams.schema import FeatureVector

BATCH_SIZES = (1, 100, 10_000)
START_NS = 1_700_000_040 * 10**9
MINUTE_NS = 60 * 10**9


def register(root: Path, features: int, hidden: int) -> list[str]:
    """An MLP with seeded weights, promoted; returns its feature names."""
    torch.manual_seed(0)
    names = [f"f{i:02d}" for i in range(features)]
    network = build_network("mlp", features, 1, hidden)
    registry = Registry(root)
    version = registry.save("bench", network, {
        "network": {"kind": "mlp", "sequence_length": 1, "hidden": hidden}, "features": names,
        "normalisation": {"mean": [0.0] * features, "std": [1.0] * features, "target_std": 1e-3},
        "target": {"name": "ret_5", "horizon_bars": 5, "horizon_ns": 5 * MINUTE_NS},
        "data": {}, "metrics": {}, "training": {}, "code_version": "benchmark",
        "created_at": "benchmark"})
    registry.promote("bench", version)
    return names


def batches(names: list[str], symbols: int, size: int, count: int, seed: int) -> list[dict]:
    """`count` decoded batches of `size` feature records (symbols round-robin, minutes on)."""
    rng = np.random.default_rng(seed)
    out = []
    for b in range(count):
        values = rng.normal(0, 1, (size, len(names))).tolist()
        rows = [encode(FeatureVector(
            ts_event=START_NS + ((b * size + i) // symbols) * MINUTE_NS, ts_init=0,
            symbol=f"S{(b * size + i) % symbols:04d}", values=dict(zip(names, v, strict=True))))
            for i, v in enumerate(values)]
        columns, rejected = decode_columns("FeatureVector", rows)
        assert not rejected
        out.append(columns)
    return out


def timed(calls: list, run) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Seconds of each call of `run` on each item of `calls`."""
    seconds = np.empty(len(calls))
    for i, item in enumerate(calls):
        started = time.perf_counter()
        run(item)
        seconds[i] = time.perf_counter() - started
    return seconds


def measure(root: Path, names: list[str], device: torch.device, size: int, rows: int,
            symbols: int) -> dict[str, float]:
    count = max(20, rows // size) if size > 1 else min(rows, 5_000)
    data = batches(names, symbols, size, count + 3, seed=size)
    # the input held for the run (up to 200,000 decoded records) is not a worker's, which
    # holds one batch: freeze it out of the cyclic GC, whose full collections would scan it
    gc.freeze()
    try:
        return _measure(root, names, device, size, rows, data)
    finally:
        gc.unfreeze()


def _measure(root: Path, names: list[str], device: torch.device, size: int, rows: int,
             data: list[dict]) -> dict[str, float]:
    engine = MlEngine(MlParams(registry=str(root), model="bench"), TestClock(START_NS), device)
    for warm in data[:2]:
        engine.on_features(warm)
    served = engine.served
    assert served is not None
    engine_s = timed(data[2:-1], engine.on_features)
    # a bar is predicted once (a re-delivered record changes nothing): check on a new batch
    produced = len(engine.on_features(data[-1]))
    assert produced == size, f"the engine predicted {produced} of {size} rows"
    windows = [np.array([[[v[n] for n in names]] for v in c["values"].tolist()])
               for c in data[2:-1]]
    forward_s = timed(windows, served.predict)
    flat = np.concatenate(windows)[:min(rows, 5_000)]
    single = [flat[i:i + 1] for i in range(len(flat))]
    per_row_s = timed(single, served.predict)
    predicted = size * len(engine_s)
    return {"engine_per_s": predicted / engine_s.sum(),
            "engine_p99_ms": float(np.percentile(engine_s, 99) * 1e3),
            "forward_per_s": predicted / forward_s.sum(),
            "forward_p99_ms": float(np.percentile(forward_s, 99) * 1e3),
            "per_row_per_s": len(single) / per_row_s.sum()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--rows", type=int, default=200_000,
                        help="rows per batch size measured (default 200,000)")
    parser.add_argument("--symbols", type=int, default=2_000)
    parser.add_argument("--devices", default="cpu,cuda",
                        help="measured when torch sees them (default cpu,cuda)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch's CPU threads (default: torch's, one per core)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device(d) for d in args.devices.split(",")
               if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]
    print(f"mlp {args.features} features, hidden {args.hidden}x2; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} cpus, load "
          f"{os.getloadavg()[0]:.1f}")
    summary = None
    with tempfile.TemporaryDirectory() as tmp:
        names = register(Path(tmp), args.features, args.hidden)
        for device in devices:
            for size in BATCH_SIZES:
                r = measure(Path(tmp), names, device, size, args.rows, args.symbols)
                print(f"{device.type} batch {size:>6,}: engine {r['engine_per_s']:>12,.0f}/s "
                      f"p99 {r['engine_p99_ms']:8.3f} ms | forward {r['forward_per_s']:>12,.0f}"
                      f"/s p99 {r['forward_p99_ms']:8.3f} ms | per-row baseline "
                      f"{r['per_row_per_s']:>9,.0f}/s | engine / baseline "
                      f"{r['engine_per_s'] / r['per_row_per_s']:.1f}x")
                if summary is None and size == BATCH_SIZES[-1]:
                    summary = (r, device)
    assert summary is not None
    r, device = summary
    print(f"predictions_per_s={r['engine_per_s']:.0f} p99_batch_ms={r['engine_p99_ms']:.3f} "
          f"per_row_baseline_per_s={r['per_row_per_s']:.0f} device={device.type}")


if __name__ == "__main__":
    main()
