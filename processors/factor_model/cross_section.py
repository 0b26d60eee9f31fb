"""Per-day statistics over a day's cross-section: rows are days, columns symbols, NaN where a
symbol has no value that day (left out of the day's statistics, and NaN again after)."""

from __future__ import annotations

import warnings

import numpy as np


def standardize(x: np.ndarray) -> np.ndarray:
    """(x - the day's mean) / the day's sample standard deviation (ddof 1), over the finite
    values; NaN on a day with fewer than two."""
    finite = np.where(np.isfinite(x), x, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN days: NaN is the answer
        mean = np.nanmean(finite, axis=1, keepdims=True)
        std = np.nanstd(finite, axis=1, ddof=1, keepdims=True)
    return (x - mean) / std


def winsorize(x: np.ndarray, share: float) -> np.ndarray:
    """Each day's values clipped to its `share` and 1 - `share` percentiles (linear
    interpolation between the finite values)."""
    finite = np.where(np.isfinite(x), x, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lower = np.nanpercentile(finite, share * 100, axis=1, keepdims=True)
        upper = np.nanpercentile(finite, (1 - share) * 100, axis=1, keepdims=True)
    return np.clip(x, lower, upper)


def nearest_quantile(values: np.ndarray, q: float) -> float:
    """The q-quantile of the non-NaN values, by the nearest rank: the sorted value at index
    q * (n - 1) rounded half up (NaN when there are none)."""
    kept = np.sort(values[~np.isnan(values)])
    if kept.size == 0:
        return float("nan")
    return float(kept[int(np.floor(q * (kept.size - 1) + 0.5))])
