"""A small daily bar file for report and sweep tests: a random walk per symbol, in cents."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from tests.factories import MINUTE_NS, T0

DAY_NS = 86_400 * 1_000_000_000
SYMBOLS = ("AAA", "BBB")


def daily_bar_file(path: Path, days: int = 150, seed: int = 5) -> Path:
    """`days` bars of each symbol a day apart (1-minute bars, each saying its start, so
    equity spans several months), sorted by time."""
    rng = np.random.default_rng(seed)
    rows = []
    ends = T0 + DAY_NS * np.arange(1, days + 1)
    for symbol in SYMBOLS:
        close = 10_000 + np.cumsum(rng.integers(-150, 151, days))
        open_ = np.r_[10_000, close[:-1]] + rng.integers(-20, 21, days)
        high = np.maximum(open_, close) + rng.integers(0, 30, days)
        low = np.minimum(open_, close) - rng.integers(0, 30, days)
        rows += [(int(ts), int(ts) - MINUTE_NS, symbol,
                  *(f"{v / 100:.2f}" for v in (o, h, lo, c)), 1_000)
                 for ts, o, h, lo, c in zip(ends, open_, high, low, close, strict=True)]
    rows.sort(key=lambda r: (r[0], r[1]))
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["ts_event", "start_ns", "symbol", "open", "high", "low", "close",
                         "volume"])
        writer.writerows(rows)
    return path
