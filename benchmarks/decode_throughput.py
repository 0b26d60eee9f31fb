"""Throughput of the columnar wire decoder, against a baseline measured in the same run.

For each model (trades, quotes, 10-level depth, 1-minute bars) on one synthetic batch:
  1. ours, fast path: `codec.decode_columns(model, values)` on a clean batch (Arrow's reader);
  2. ours, one bad record: the same batch with one bad record at its end (its good records
     keep the fast path; the bad one is named by the per-row path);
  3. baseline: each record validated by its pydantic model (`model_validate_json`), the
     per-event way, no columns built.
Each timing is the best of `--repeat` runs. With `--vpin`, also the in-process part of
benchmarks/vpin_throughput.py (wire decode + VPIN engine, and a Parquet file replay).

The last line is the key=value summary (records/s; ratio = ours over the baseline).
Usage: python -m benchmarks.decode_throughput [--records N] [--repeat R] [--vpin]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

from benchmarks.harness import SYMBOLS, make_trades
from benchmarks.vpin_throughput import BARS_PER_SYMBOL, file_replay, in_process
from streams import codec
from streams.schema import MODELS

MINUTE_NS = 60_000_000_000


def trades(n: int) -> list[bytes]:
    return [v for _, v in make_trades(n, span_s=3_600)]


def quotes(n: int) -> list[bytes]:
    out = []
    for raw in trades(n):
        doc = orjson.loads(raw)
        bid = float(doc.pop("price"))
        size = doc.pop("size")
        out.append(orjson.dumps({**doc, "bid_price": f"{bid:.2f}", "bid_size": size,
                                 "ask_price": f"{bid + 0.01:.2f}", "ask_size": size + 1}))
    return out


def depth(n: int) -> list[bytes]:
    out = []
    for raw in trades(n):
        doc = orjson.loads(raw)
        bid = float(doc.pop("price"))
        size = doc.pop("size")
        out.append(orjson.dumps({
            **doc,
            "bid_prices": [f"{bid - 0.01 * k:.2f}" for k in range(10)],
            "bid_sizes": [size + k for k in range(10)],
            "ask_prices": [f"{bid + 0.01 * (k + 1):.2f}" for k in range(10)],
            "ask_sizes": [size + 2 * k for k in range(10)],
        }))
    return out


def bars(n: int) -> list[bytes]:
    rng = np.random.default_rng(2)
    out = []
    for i in range(n):
        symbol = SYMBOLS[i % len(SYMBOLS)]
        start = 1_700_000_000 * 10**9 + (i // len(SYMBOLS)) * MINUTE_NS
        low = 100 + float(rng.normal(0, 1))
        out.append(orjson.dumps({
            "schema_version": 1, "ts_event": start + MINUTE_NS, "ts_init": start + MINUTE_NS,
            "bar_id": f"{symbol}@1m@{start}", "symbol": symbol, "interval": "1m",
            "start_ns": start, "open": f"{low + 0.1:.2f}", "high": f"{low + 0.3:.2f}",
            "low": f"{low:.2f}", "close": f"{low + 0.2:.2f}", "volume": int(rng.integers(1, 9e5)),
            "trade_count": int(rng.integers(1, 900)), "vwap": f"{low + 0.15:.4f}",
        }))
    return out


def best_rate(work: Callable[[], object], n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return n / best


def measure(model: str, values: list[bytes], repeat: int) -> dict[str, float]:
    n = len(values)
    with_bad = [*values, b'{"ts_event": -1}']
    _, rejected = codec.decode_columns(model, values)
    assert not rejected, rejected[:3]
    validate = MODELS[model].model_validate_json
    return {
        "fast": best_rate(lambda: codec.decode_columns(model, values), n, repeat),
        "one_bad": best_rate(lambda: codec.decode_columns(model, with_bad), n, repeat),
        "baseline": best_rate(lambda: [validate(v) for v in values], n, repeat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many timings")
    parser.add_argument("--vpin", action="store_true",
                        help="also the in-process VPIN benchmark (decode + engine, file replay)")
    parser.add_argument("--vpin-trades", type=int, default=500_000)
    args = parser.parse_args()
    summary = []
    for model, make in (("Trade", trades), ("Quote", quotes), ("DepthSnapshot", depth),
                        ("Bar", bars)):
        rates = measure(model, make(args.records), args.repeat)
        print(f"{model}: fast path {rates['fast']:,.0f}/s, "
              f"with one bad record {rates['one_bad']:,.0f}/s, "
              f"baseline pydantic per record {rates['baseline']:,.0f}/s")
        key = model.lower()
        summary += [f"{key}_fast_per_s={rates['fast']:.0f}",
                    f"{key}_one_bad_per_s={rates['one_bad']:.0f}",
                    f"{key}_ratio={rates['fast'] / rates['baseline']:.1f}"]
    if args.vpin:
        summary += vpin(args.vpin_trades)
    print(" ".join(summary))


def vpin(n: int) -> list[str]:
    """The in-process part of benchmarks/vpin_throughput.py: no broker, no baselines."""
    values = [v for _, v in make_trades(n, span_s=BARS_PER_SYMBOL * 60)]
    ours, engine_only, readings = in_process(values, 20_000)
    with tempfile.TemporaryDirectory() as tmp:
        from_file, _ = file_replay(values, 20_000, Path(tmp))
    print(f"VPIN in-process: {ours:,.0f} trades/s with the decode, {engine_only:,.0f} without; "
          f"file replay {from_file:,.0f} trades/s ({readings} readings)")
    return [f"vpin_in_process_per_s={ours:.0f}", f"vpin_engine_per_s={engine_only:.0f}",
            f"vpin_file_per_s={from_file:.0f}"]


if __name__ == "__main__":
    main()
