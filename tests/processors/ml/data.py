"""Feature outputs for the ML tests: `DIR/logic.features.parquet` as a replay writes it.

Each symbol's `ret_1` is a random walk's return; `lead` is the return over the next
HORIZON bars plus a little noise (a feature that predicts the target: a model that learns
must beat the zero forecast with it), `noise` predicts nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from processors import Emit
from streams.outputs import write_outputs
from streams.schema import FactorVector, FeatureVector
from tests.factories import MINUTE_NS, T0

HORIZON = 3
FEATURES = ("lead", "noise", "ret_1")


def feature_rows(symbols: tuple[str, ...], bars: int, seed: int) -> list[FeatureVector]:
    rng = np.random.default_rng(seed)
    rows = []
    for symbol in symbols:
        ret = rng.normal(0, 1e-3, bars + HORIZON)
        forward = np.array([np.prod(1 + ret[t + 1:t + 1 + HORIZON]) - 1 for t in range(bars)])
        lead = forward + rng.normal(0, 2e-4, bars)
        noise = rng.normal(0, 1, bars)
        rows += [FeatureVector(ts_event=T0 + (t + 1) * MINUTE_NS, ts_init=0, symbol=symbol,
                               values={"lead": float(lead[t]), "noise": float(noise[t]),
                                       "ret_1": float(ret[t])})
                 for t in range(bars)]
    return rows


def write_features(out: Path, rows: list[FeatureVector]) -> Path:
    """`out/logic.features.parquet` (and .csv) of `rows`."""
    write_outputs({"logic.features": [Emit("logic.features", r.symbol, r) for r in rows]},
                  {"logic.features": FeatureVector}, out)
    return out


def write_factors(out: Path, rows: list[FactorVector]) -> Path:
    """`out/logic.factors.parquet` (and .csv) of `rows`, next to the features."""
    write_outputs({"logic.factors": [Emit("logic.factors", r.symbol, r) for r in rows]},
                  {"logic.factors": FactorVector}, out)
    return out
