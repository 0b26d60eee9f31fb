"""Performance figures of a series of period returns, as empyrical and quantstats define them.

Pure functions on a 1-d float64 array of simple returns r_1..r_n (one per period), each
following its reference's conventions exactly, so the figures equal the reference's on the
same returns (tests/processors/analytics/ check them against empyrical; empyrical itself is a
test dependency only):

- `total_return`: prod(1 + r) - 1 (empyrical cum_returns_final);
- `annual_return`: (1 + total)^(ppy / n) - 1, the compound annual growth rate (annual_return);
- `annual_volatility`: std(r, ddof=1) x sqrt(ppy) (annual_volatility);
- `sharpe`: mean(r) / std(r, ddof=1) x sqrt(ppy), risk-free 0; the std of n equal returns is
  0 exactly (sharpe_ratio);
- `sortino`: mean(r) x ppy / (sqrt(mean(min(r, 0)^2)) x sqrt(ppy)), required return 0
  (sortino_ratio over downside_risk);
- `max_drawdown`: the lowest (w - running peak) / running peak of the wealth path
  w_0 = 1, w_k = prod(1 + r_1..r_k): negative, or 0 (max_drawdown);
- `calmar`: annual_return / |max_drawdown|, undefined without a drawdown (calmar_ratio);
- `var_95`: the 5th percentile of r, linearly interpolated (value_at_risk, np.percentile);
- `cvar_95`: the mean of the floor((n - 1) x 0.05) + 1 lowest returns
  (conditional_value_at_risk);
- over the non-zero returns, as quantstats: `hit_rate` = #(r > 0) / #(r != 0); `avg_win`,
  `avg_loss` the means of the positive and of the negative returns; `profit_factor` =
  sum(r > 0) / |sum(r < 0)|.

A figure is None where it is undefined: where empyrical gives NaN or an infinity (fewer than
two returns for the ratios and the volatility, a Sharpe ratio of equal returns, a Sortino
ratio without a losing period, a negative wealth for the annual return) and where quantstats
divides by nothing (no non-zero return, no losing one: it returns 0.0 or inf there).
"""

from __future__ import annotations

import math

import numpy as np

Figures = dict[str, float | None]
TAIL = 0.05  # the 95% figures' tail


def _defined(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def total_return(returns: np.ndarray) -> float:
    if len(returns) == 0:
        return math.nan
    return float(np.prod(1.0 + returns) - 1.0)


def annual_return(returns: np.ndarray, periods_per_year: float) -> float:
    if len(returns) == 0:
        return math.nan
    years = len(returns) / periods_per_year
    with np.errstate(all="ignore"):
        return float(np.float64(1.0 + total_return(returns)) ** (1.0 / years) - 1.0)


def annual_volatility(returns: np.ndarray, periods_per_year: float) -> float:
    if len(returns) < 2:
        return math.nan
    return float(np.std(returns, ddof=1) * periods_per_year ** 0.5)


def _std(returns: np.ndarray) -> float:
    """The sample std, 0 exactly when every return is the same (the mean of equal floats
    can differ from them in the last bit, which would leave a residue)."""
    if returns.max() == returns.min():
        return 0.0
    return float(np.std(returns, ddof=1))


def sharpe(returns: np.ndarray, periods_per_year: float) -> float:
    if len(returns) < 2:
        return math.nan
    with np.errstate(all="ignore"):
        return float(np.float64(np.mean(returns)) / _std(returns) * math.sqrt(periods_per_year))


def downside_risk(returns: np.ndarray, periods_per_year: float) -> float:
    if len(returns) == 0:
        return math.nan
    downside = np.minimum(returns, 0.0)
    return float(np.sqrt(np.mean(downside * downside)) * math.sqrt(periods_per_year))


def sortino(returns: np.ndarray, periods_per_year: float) -> float:
    if len(returns) < 2:
        return math.nan
    with np.errstate(all="ignore"):
        return float(np.float64(np.mean(returns) * periods_per_year)
                     / downside_risk(returns, periods_per_year))


def max_drawdown(returns: np.ndarray) -> float:
    if len(returns) == 0:
        return math.nan
    wealth = np.concatenate(([1.0], np.cumprod(1.0 + returns)))
    peak = np.fmax.accumulate(wealth)
    with np.errstate(all="ignore"):
        return float(np.nanmin((wealth[1:] - peak[1:]) / peak[1:]))


def calmar(returns: np.ndarray, periods_per_year: float) -> float:
    drawdown = max_drawdown(returns)
    if not drawdown < 0:
        return math.nan
    return annual_return(returns, periods_per_year) / abs(drawdown)


def value_at_risk(returns: np.ndarray, cutoff: float = TAIL) -> float:
    if len(returns) == 0:
        return math.nan
    return float(np.percentile(returns, 100 * cutoff))


def conditional_value_at_risk(returns: np.ndarray, cutoff: float = TAIL) -> float:
    if len(returns) == 0:
        return math.nan
    last = int((len(returns) - 1) * cutoff)
    return float(np.mean(np.partition(returns, last)[: last + 1]))


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def hit_rate(returns: np.ndarray) -> float:
    moved = np.count_nonzero(returns)
    return np.count_nonzero(returns > 0) / moved if moved else math.nan


def profit_factor(returns: np.ndarray) -> float:
    losses = -float(np.sum(returns[returns < 0]))
    return float(np.sum(returns[returns > 0])) / losses if losses else math.nan


def performance(returns: np.ndarray, periods_per_year: float) -> Figures:
    """The `performance` figures of `returns` that depend on the returns alone."""
    r = np.asarray(returns, dtype=np.float64)
    figures = {
        "total_return": total_return(r),
        "annual_return": annual_return(r, periods_per_year),
        "annual_volatility": annual_volatility(r, periods_per_year),
        "sharpe": sharpe(r, periods_per_year),
        "sortino": sortino(r, periods_per_year),
        "calmar": calmar(r, periods_per_year),
        "max_drawdown": max_drawdown(r),
        "var_95": value_at_risk(r),
        "cvar_95": conditional_value_at_risk(r),
        "hit_rate": hit_rate(r),
        "profit_factor": profit_factor(r),
        "avg_win": _mean(r[r > 0]),
        "avg_loss": _mean(r[r < 0]),
    }
    return {name: _defined(value) for name, value in figures.items()}


def rolling(returns: np.ndarray, periods_per_year: float) -> Figures:
    """The `rolling` figures of a window of returns: its Sharpe ratio and max drawdown."""
    r = np.asarray(returns, dtype=np.float64)
    return {"sharpe": _defined(sharpe(r, periods_per_year)),
            "max_drawdown": _defined(max_drawdown(r))}
