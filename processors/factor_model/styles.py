"""Style exposures, per day and symbol, as toraniko 1.1.1 defines them (see __init__.py).

Inputs are day x symbol arrays, NaN where a symbol has no value on a day; a symbol without a
bar on a day (`present` false) is outside that day's cross-section.
"""

from __future__ import annotations

import numpy as np

from processors.factor_model.cross_section import nearest_quantile, standardize, winsorize
from processors.factor_model.params import FactorModelParams

WINDOW_CELLS = 4_000_000  # days x symbols x window held at once while compounding momentum


def momentum_weights(days: int, half_life: int) -> np.ndarray:
    """Weights of a window's returns, oldest first: the newest 1, halving every
    `half_life` days back."""
    return np.exp(-np.log(2) / half_life * np.arange(days))[::-1]


def momentum(returns: np.ndarray, params: FactorModelParams) -> np.ndarray:
    """prod(1 + w_k r_k) - 1 over the `momentum_days` daily returns ending `momentum_lag`
    days before the day scored (NaN unless all of them exist), winsorized and standardized
    per day."""
    days, symbols = returns.shape
    window, lag = params.momentum_days, params.momentum_lag
    lagged = np.full_like(returns, np.nan)
    lagged[lag:] = returns[:days - lag]
    raw = np.full_like(returns, np.nan)
    if days >= window:
        weights = momentum_weights(window, params.momentum_half_life)
        windows = np.lib.stride_tricks.sliding_window_view(lagged, window, axis=0)
        step = max(1, WINDOW_CELLS // max(1, symbols * window))
        for start in range(0, windows.shape[0], step):
            block = windows[start:start + step]  # (days, symbols, window)
            raw[window - 1 + start:window - 1 + start + block.shape[0]] = (
                np.prod(1 + block * weights, axis=-1) - 1)
    return standardize(winsorize(raw, params.momentum_winsor))


def size(market_cap: np.ndarray, params: FactorModelParams) -> np.ndarray:
    """-log(market cap), standardized per day; scores strictly between the day's
    `size_lower` and `size_upper` quantiles (nearest rank) set to 0."""
    score = standardize(-np.log(market_cap))
    out = score.copy()
    for day, row in enumerate(score):
        lower = nearest_quantile(row, params.size_lower)
        upper = nearest_quantile(row, params.size_upper)
        middle = (row > lower) & (row < upper)
        out[day, middle] = 0.0
    return out


def value(book_to_price: np.ndarray, sales_to_price: np.ndarray,
          cash_flow_to_price: np.ndarray) -> np.ndarray:
    """The mean of standardized log(book/price), log(sales/price) and cash-flow/price (those
    a symbol has), standardized per day. A non-positive book or sales to price counts as
    missing."""
    with np.errstate(divide="ignore", invalid="ignore"):
        book = np.log(np.where(book_to_price > 0, book_to_price, np.nan))
        sales = np.log(np.where(sales_to_price > 0, sales_to_price, np.nan))
    parts = np.stack([standardize(book), standardize(sales), standardize(cash_flow_to_price)])
    have = np.isfinite(parts)
    count = have.sum(axis=0)
    total = np.where(have, parts, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.nan)
    return standardize(mean)
