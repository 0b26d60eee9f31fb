"""Out-of-sample figures of a forecast: MSE, Spearman information coefficient, hit rate.

The IC is Spearman's rank correlation of forecast and outcome over every out-of-sample
sample pooled (symbols and times together); the hit rate is the share of the samples with
a non-zero forecast and a non-zero outcome whose signs agree (a model that stays at the zero
forecast, in a fold where training never beat it, takes no side there). Undefined figures
are None: the IC and hit rate of the zero forecast.
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
    sided = (forecast != 0) & (outcome != 0)
    if not sided.any():
        return None
    return float(np.mean(np.sign(forecast[sided]) == np.sign(outcome[sided])))


def scores(forecast: np.ndarray, outcome: np.ndarray) -> dict[str, float | None]:
    """`mse`, `ic` and `hit_rate` of a forecast against the outcome."""
    return {"mse": float(np.mean((forecast - outcome) ** 2)), "ic": spearman(forecast, outcome),
            "hit_rate": hit_rate(forecast, outcome)}
