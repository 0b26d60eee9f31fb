"""One day's factor returns: weighted least squares, sectors summing to zero (see __init__.py)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class DayFit(NamedTuple):
    """One day's market, sector (in sector-code order) and style returns, and the residual
    return of each symbol in the regression."""

    market: float
    sectors: np.ndarray
    styles: np.ndarray
    residuals: np.ndarray


def fit_day(returns: np.ndarray, market_cap: np.ndarray, sector: np.ndarray,
            n_sectors: int, styles: np.ndarray) -> DayFit:
    """Regress one day's returns (n,) on the market, the sectors (`sector`: each symbol's
    code, 0..n_sectors-1) and the styles (n, k), weighting each symbol by sqrt(market cap).

    Stage 1: r = m + s_sector + u with sum(s) = 0, solved with the last sector's return
    written as minus the sum of the others (a design of n_sectors columns: 1 and
    D_j - D_last). Stage 2: the styles regressed on the stage-1 residuals u, with the same
    weights; the residual return is u - styles @ f. Each stage is the minimum-norm weighted
    least-squares solution, so a rank-deficient day (a sector without members) still
    solves.
    """
    root_weight = np.sqrt(np.sqrt(market_cap))  # rows scaled by sqrt(w), w = sqrt(cap)
    dummies = np.zeros((returns.size, n_sectors))
    dummies[np.arange(returns.size), sector] = 1.0
    design = np.column_stack([np.ones(returns.size), dummies[:, :-1] - dummies[:, -1:]])
    free, *_ = np.linalg.lstsq(design * root_weight[:, None], returns * root_weight,
                               rcond=None)
    sectors = np.append(free[1:], -free[1:].sum())
    sector_residuals = returns - design @ free
    style_returns, *_ = np.linalg.lstsq(styles * root_weight[:, None],
                                        sector_residuals * root_weight, rcond=None)
    return DayFit(float(free[0]), sectors, style_returns,
                  sector_residuals - styles @ style_returns)
