"""What malformed records cost a worker's decode path, against a clean tape in the same run.

A worker's binding decodes each fetch with `codec.decode_columns` and turns every rejected row
into a logic.deadletter record (`codec.dead_letter`, encoded). This times exactly that, in
batches of `--batch` records (a fetch), over `--records` trades of which a share is malformed
(truncated JSON, wrong types, negative sizes, unknown fields, newer schema versions, over-long
text: the small kinds of tests/streams/runtime/test_malformed_flood.py, spread at random):
  - baseline: the clean tape (0 %), which takes Arrow's fast path;
  - each `--shares` percentage: the bad records (and only those) go through the per-row path,
    which names them; the good ones around them keep the fast path.
Each timing is the best of `--repeat` runs. With `--worker`, also one `nautilus-streams worker
--engines bars` on an embedded broker per tape (`--worker-records`, clean, then with
`--worker-share` % malformed; each on a fresh broker), its rate from its logic.metrics.
The last line is the key=value summary: records/s (valid and malformed together) per share,
and the ratio to the clean tape's rate.
Usage: python -m benchmarks.malformed_decode [--records N] [--batch B] [--shares 1,10,60]
       [--worker [--worker-records N] [--worker-share PCT]]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

from benchmarks.harness import make_trades, produce, worker_rate
from streams import codec, kafka
from streams.catalog import Catalog
from streams.embedded import EmbeddedBroker

REPO_ROOT = Path(__file__).resolve().parents[1]

CORRUPTIONS: list[Callable[[dict, np.random.Generator], bytes]] = [
    lambda doc, rng: orjson.dumps(doc)[: int(rng.integers(1, 40))],
    lambda doc, rng: orjson.dumps(doc | {"price": "abc"}),
    lambda doc, rng: orjson.dumps(doc | {"size": 5.5}),
    lambda doc, rng: orjson.dumps(doc | {"size": -int(rng.integers(1, 1000))}),
    lambda doc, rng: orjson.dumps(doc | {"agressor": "buy"}),
    lambda doc, rng: orjson.dumps(doc | {"schema_version": 2}),
    lambda doc, rng: orjson.dumps(doc | {"venue": "x" * 200}),
]


def keyed_tape(n: int, share_pct: float, seed: int = 16) -> list[tuple[bytes, bytes]]:
    """n (key, value) wire records, `share_pct` % of them malformed, at random places."""
    rng = np.random.default_rng(seed)
    records = make_trades(n, span_s=n / 2000)
    for i in np.flatnonzero(rng.random(n) < share_pct / 100).tolist():
        corrupt = CORRUPTIONS[int(rng.integers(len(CORRUPTIONS)))]
        key, value = records[i]
        records[i] = (key, corrupt(orjson.loads(value), rng))
    return records


def tape(n: int, share_pct: float) -> list[bytes]:
    return [value for _, value in keyed_tape(n, share_pct)]


def decode_and_dead_letter(values: list[bytes], batch: int) -> int:
    """The binding's decode step over `values`, a fetch at a time; returns the dead letters."""
    letters = 0
    for start in range(0, len(values), batch):
        chunk = values[start:start + batch]
        _, rejected = codec.decode_columns("Trade", chunk)
        for row in rejected:
            codec.encode(codec.dead_letter(
                topic="market.trades", partition=0, offset=start + row.index, key=b"ESZ6",
                value=chunk[row.index], reason=row.reason, ts_event=0, ts_init=0,
            ))
        letters += len(rejected)
    return letters


def best_rate(values: list[bytes], batch: int, repeat: int) -> tuple[float, int]:
    best, letters = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        letters = decode_and_dead_letter(values, batch)
        best = min(best, time.perf_counter() - started)
    return len(values) / best, letters


def worker_on(records: list[tuple[bytes, bytes]]) -> float:
    """A bars worker's records/s over `records`, on a fresh embedded broker."""
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(Path(tmp) / "broker.log") as broker:
        kafka.apply_catalog(Catalog.load(REPO_ROOT / "topics.yaml"), broker.bootstrap)
        produce(broker.bootstrap, records, "market.trades")
        return worker_rate(broker.bootstrap, "bars", len(records), Path(tmp) / "worker.log", {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000, help="records per fetch")
    parser.add_argument("--shares", default="1,10,60", help="malformed percentages to time")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many timings")
    parser.add_argument("--worker", action="store_true",
                        help="also time a bars worker on an embedded broker, clean and not")
    parser.add_argument("--worker-records", type=int, default=300_000)
    parser.add_argument("--worker-share", type=float, default=10.0)
    args = parser.parse_args()
    clean, letters = best_rate(tape(args.records, 0), args.batch, args.repeat)
    assert letters == 0
    print(f"clean tape: {clean:,.0f} records/s")
    summary = [f"records={args.records}", f"batch={args.batch}", f"clean_per_s={clean:.0f}"]
    for share in (float(s) for s in args.shares.split(",")):
        rate, letters = best_rate(tape(args.records, share), args.batch, args.repeat)
        print(f"{share:g} % malformed: {rate:,.0f} records/s ({letters:,} dead letters), "
              f"{rate / clean:.2f} of the clean rate")
        summary += [f"malformed_{share:g}pct_per_s={rate:.0f}",
                    f"ratio_{share:g}pct={rate / clean:.2f}"]
    if args.worker:
        share = args.worker_share
        worker_clean = worker_on(keyed_tape(args.worker_records, 0))
        worker_bad = worker_on(keyed_tape(args.worker_records, share))
        print(f"bars worker, embedded broker: {worker_clean:,.0f} records/s clean, "
              f"{worker_bad:,.0f} with {share:g} % malformed "
              f"({worker_bad / worker_clean:.2f} of the clean rate)")
        summary += [f"worker_clean_per_s={worker_clean:.0f}",
                    f"worker_malformed_{share:g}pct_per_s={worker_bad:.0f}",
                    f"worker_ratio_{share:g}pct={worker_bad / worker_clean:.2f}"]
    print(" ".join(summary))


if __name__ == "__main__":
    main()
