"""Out-of-sample figures of a forecast: MSE, Spearman information coefficient, hit rate.

The IC is Spearman's rank correlation of forecast and outcome over every out-of-sample
sample pooled (symbols and times together); the hit rate is the share of samples with a
non-zero outcome whose forecast has the outcome's sign (a zero forecast never hits, so the
zero forecast's hit rate is 0 and its IC undefined: None).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def spearman(forecast: np.ndarray, outcome: np.ndarray) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None when either is constant."""
    if len(forecast) < 2 or np.ptp(forecast) == 0 or np.ptp(outcome) == 0:
        return None
    ranks = [pd.Series(a).rank(method="average").to_numpy() for a in (forecast, outcome)]
    value = float(np.corrcoef(*ranks)[0, 1])
    return None if math.isnan(value) else value


def hit_rate(forecast: np.ndarray, outcome: np.ndarray) -> float | None:
    moved = outcome != 0
    if not moved.any():
        return None
    return float(np.mean(np.sign(forecast[moved]) == np.sign(outcome[moved])))


def scores(forecast: np.ndarray, outcome: np.ndarray) -> dict[str, float | None]:
    """`mse`, `ic` and `hit_rate` of a forecast against the outcome."""
    return {"mse": float(np.mean((forecast - outcome) ** 2)), "ic": spearman(forecast, outcome),
            "hit_rate": hit_rate(forecast, outcome)}
