"""The margin figures of one account at a time, in plain numpy, written from the rules
(processors/margin/__init__.py) and not from the tensor code: the reference that the tensor
code (figures.py) is tested against, and the per-account loop benchmarks/margin_throughput.py
compares it with.

An account is its positions only: arrays over the instruments it holds (quantity, mark,
multiplier, scan range) and the covariance of those instruments' bar returns.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

SCAN_PERCENT = (-15, -12, -9, -6, -3, 3, 6, 9, 12, 15)  # of an equity's price; 15 = the range
MEDIAN_Z = 0.6745


@dataclass(frozen=True, slots=True)
class AccountFigures:
    equity: float
    initial: float
    maintenance: float
    excess: float
    sigma_usd: float
    call_probability: float
    time_to_call_s: float


def account_figures(quantity: np.ndarray, mark: np.ndarray, multiplier: np.ndarray,
                    scan_range: np.ndarray, covariance: np.ndarray, cash: float, method: str,
                    *, horizon_bars: int, bar_seconds: float) -> AccountFigures:
    """One account's figures; `quantity`, `mark`, `multiplier`, `scan_range` over its P
    instruments, `covariance` [P, P] of theirs."""
    value = quantity * mark * multiplier
    if method == "portfolio":
        initial = maintenance = _scan_requirement(value, scan_range)
    else:
        initial, maintenance = _reg_t(quantity, mark, multiplier, value)
    equity = cash + float(value.sum())
    excess = equity - maintenance
    sigma = math.sqrt(max(float(value @ covariance @ value), 0.0))
    return AccountFigures(equity, initial, maintenance, excess, sigma,
                          _call_probability(excess, sigma, horizon_bars),
                          _time_to_call(excess, sigma, bar_seconds))


def _reg_t(quantity: np.ndarray, mark: np.ndarray, multiplier: np.ndarray,
           value: np.ndarray) -> tuple[float, float]:
    shares = np.abs(quantity) * multiplier
    initial = 0.5 * float(np.abs(value).sum())
    maintenance = 0.25 * float(value[quantity > 0].sum())
    short = quantity < 0
    high, low = short & (mark >= 5.0), short & (mark < 5.0)
    maintenance += float(np.maximum(0.30 * np.abs(value[high]), 5.0 * shares[high]).sum())
    maintenance += float(np.maximum(np.abs(value[low]), 2.5 * shares[low]).sum())
    return initial, maintenance


def _scan_requirement(value: np.ndarray, scan_range: np.ndarray) -> float:
    losses = [-float((value * scan_range * (percent / 15)).sum()) for percent in SCAN_PERCENT]
    return max(0.0, *losses)


def _call_probability(excess: float, sigma: float, horizon_bars: int) -> float:
    if excess <= 0:
        return 1.0
    if sigma == 0:
        return 0.0
    # 2 Phi(-x) = erfc(x / sqrt(2))
    return min(1.0, math.erfc(excess / (sigma * math.sqrt(horizon_bars)) / math.sqrt(2)))


def _time_to_call(excess: float, sigma: float, bar_seconds: float) -> float:
    if excess <= 0:
        return 0.0
    if sigma == 0:
        return math.inf
    return bar_seconds * (excess / (MEDIAN_Z * sigma)) ** 2


@dataclass(frozen=True, slots=True)
class Accounts:
    """Many accounts over one instrument universe: per account the columns it holds and its
    quantities there; marks per instrument [N] or per account [A, N]; the universe's
    multipliers, scan ranges and covariance."""

    columns: Sequence[np.ndarray]
    quantities: Sequence[np.ndarray]
    cash: np.ndarray
    methods: Sequence[str]
    mark: np.ndarray
    multiplier: np.ndarray
    scan_range: np.ndarray
    covariance: np.ndarray


def each_account(accounts: Accounts, which: Sequence[int], *, horizon_bars: int,
                 bar_seconds: float) -> Iterator[AccountFigures]:
    """The figures of accounts `which`, one account at a time."""
    for a in which:
        cols = accounts.columns[a]
        mark = accounts.mark[cols] if accounts.mark.ndim == 1 else accounts.mark[a, cols]
        yield account_figures(
            accounts.quantities[a], mark, accounts.multiplier[cols],
            accounts.scan_range[cols], accounts.covariance[np.ix_(cols, cols)],
            float(accounts.cash[a]), accounts.methods[a],
            horizon_bars=horizon_bars, bar_seconds=bar_seconds)
