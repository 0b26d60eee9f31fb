"""The operators' arithmetic on arrays of shape (symbols, bars), newest bar last.

An elementwise operator maps arrays of equal shape to one. A rolling operator of window N
takes its argument's last L + N - 1 bars as windows of shape (symbols, L, N), one per bar
of the result, oldest value first, and reduces each to one value. Each window is computed
from its own values (no running totals), so a value never depends on the bars before its
window, nor on how many bars are computed at once.

NaN is "no value": it propagates through every operator (a comparison with NaN is NaN, not
False), and a window with a NaN in it has no value, as a pandas rolling window of N needs N
values. Qlib's guard is kept: `Corr` and `Rsquare` have no value where a series' sample
standard deviation over the window is within `FLAT_STD` of zero.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

FLAT_STD = 2e-5
"""Qlib's tolerance (np.isclose(std, 0, atol=2e-05)) under which Corr and Rsquare are NaN."""

Elementwise = Callable[..., np.ndarray]
Rolling = Callable[[np.ndarray, float], np.ndarray]  # (windows, quantile) -> values
Pair = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _comparison(compare: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Elementwise:
    def compared(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(a) | np.isnan(b), np.nan, compare(a, b).astype(np.float64))

    return compared


def _if(condition: np.ndarray, then: np.ndarray, otherwise: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(condition), np.nan, np.where(condition != 0, then, otherwise))


ELEMENTWISE: dict[str, Elementwise] = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
    "Neg": np.negative, "Abs": np.abs, "Log": np.log, "Sign": np.sign, "Power": np.power,
    "Greater": np.maximum, "Less": np.minimum, "If": _if,
    "Gt": _comparison(np.greater), "Lt": _comparison(np.less),
    "Ge": _comparison(np.greater_equal), "Le": _comparison(np.less_equal),
    "Eq": _comparison(np.equal), "Ne": _comparison(np.not_equal),
}


def _where_complete(windows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """`values`, NaN where the window holds a NaN (for reductions that would skip it)."""
    return np.where(np.isnan(windows).any(axis=-1), np.nan, values)


def _mean(windows: np.ndarray) -> np.ndarray:
    """np.mean's arithmetic (a sum, then a division) without its overhead."""
    return windows.sum(axis=-1) / windows.shape[-1]


def _centred(windows: np.ndarray) -> np.ndarray:
    return windows - _mean(windows)[..., np.newaxis]


def _sample_std(windows: np.ndarray) -> np.ndarray:
    return np.sqrt((_centred(windows) ** 2).sum(axis=-1) / (windows.shape[-1] - 1))


def _rank(windows: np.ndarray, _: float) -> np.ndarray:
    """The newest value's average rank among the window's values (ties share the mean of
    their ranks), divided by N: pandas' rolling rank(pct=True), Qlib's percentile."""
    newest = windows[..., -1:]
    below = (windows < newest).sum(axis=-1)
    equal = (windows == newest).sum(axis=-1)
    return _where_complete(windows, (below + (equal + 1) / 2) / windows.shape[-1])


def _regression(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least squares of the window's values on x = 1..N: (slope, the values centred, x
    centred)."""
    n = windows.shape[-1]
    x = np.arange(1, n + 1, dtype=np.float64) - (n + 1) / 2
    centred = _centred(windows)
    slope = (centred * x).sum(axis=-1) / (x * x).sum()
    return slope, centred, x


def _slope(windows: np.ndarray, _: float) -> np.ndarray:
    return _regression(windows)[0]


def _rsquare(windows: np.ndarray, _: float) -> np.ndarray:
    slope, centred, x = _regression(windows)
    explained = slope * slope * (x * x).sum()
    total = (centred * centred).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(_sample_std(windows) <= FLAT_STD, np.nan, explained / total)


def _residual(windows: np.ndarray, _: float) -> np.ndarray:
    """The newest value less the regression line's value at x = N."""
    slope, centred, x = _regression(windows)
    return centred[..., -1] - slope * x[-1]


def _quantile(windows: np.ndarray, q: float) -> np.ndarray:
    """Linear interpolation between the order statistics around q * (N - 1), as pandas'
    rolling quantile (np.quantile's overhead is most of a bar's evaluation)."""
    ordered = np.sort(windows, axis=-1)
    position = q * (windows.shape[-1] - 1)
    below = int(position)
    above = min(below + 1, windows.shape[-1] - 1)
    low, high = ordered[..., below], ordered[..., above]
    return _where_complete(windows, low + (high - low) * (position - below))


def _index_of(pick: Callable[..., np.ndarray]) -> Rolling:
    def index(windows: np.ndarray, _: float) -> np.ndarray:
        """1-based position in the window (1: the oldest bar) of the first extreme value."""
        return _where_complete(windows, pick(windows, axis=-1) + 1.0)

    return index


ROLLING: dict[str, Rolling] = {
    "Mean": lambda w, _: _mean(w),
    "Sum": lambda w, _: w.sum(axis=-1),
    "Std": lambda w, _: _sample_std(w),
    "Var": lambda w, _: (_centred(w) ** 2).sum(axis=-1) / (w.shape[-1] - 1),
    "Max": lambda w, _: w.max(axis=-1),
    "Min": lambda w, _: w.min(axis=-1),
    "Med": lambda w, _: _quantile(w, 0.5),
    "Mad": lambda w, _: _mean(np.abs(_centred(w))),
    "Quantile": _quantile,
    "Rank": _rank,
    "IdxMax": _index_of(np.argmax),
    "IdxMin": _index_of(np.argmin),
    "Slope": _slope,
    "Rsquare": _rsquare,
    "Resi": _residual,
}


def _covariance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (_centred(a) * _centred(b)).sum(axis=-1) / (a.shape[-1] - 1)


def _correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    std_a, std_b = _sample_std(a), _sample_std(b)
    flat = (std_a <= FLAT_STD) | (std_b <= FLAT_STD)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flat, np.nan, _covariance(a, b) / (std_a * std_b))


PAIRS: dict[str, Pair] = {"Corr": _correlation, "Cov": _covariance}
