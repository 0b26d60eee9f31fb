"""Factor-model variance of an account's dollar positions, from one daily factor model's records.

`FactorRisk` keeps, of the model it is given, the newest factor covariance C (logic.factor.
returns: daily units, as of its day) and each symbol's newest exposures and specific variance
s_i (logic.factor.exposures). For dollar positions x its variance is

    x'B C B'x + sum_i x_i^2 s_i

with B the exposures: 1 to the market, 1 to the symbol's sector (0 to the others), the
styles as published. B'x is computed as the factor dollar exposures directly: the market's
is sum x, a sector's the sum of x over its symbols, a style's sum x_i e_i. It is None when
there is no covariance yet, when a position's symbol has no exposures, or when those name a
factor the covariance does not have (a sector or style the newest fit does not know); never a
guess. A symbol keeps its newest exposures while later fits leave it out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from processors.factor_model import MARKET


@dataclass(frozen=True, slots=True)
class _Exposure:
    sector: str
    styles: dict[str, float]
    specific_variance: float
    ts: int  # the record's ts_event: an older record changes nothing


@dataclass(frozen=True, slots=True)
class _Covariance:
    index: dict[str, int]  # factor -> row of `matrix`
    matrix: np.ndarray
    ts: int


class FactorRisk:
    """The newest covariance and exposures of factor model `model` (module docstring)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self._covariance: _Covariance | None = None
        self._exposures: dict[str, _Exposure] = {}

    def add_returns(self, model: str, ts: int, covariance: Mapping[str, Mapping[str, float]]
                    ) -> None:
        """One FactorReturns record: its covariance replaces an older one of the model (a
        factor pair it does not give is NaN, which makes the variance None)."""
        if model != self.model or (self._covariance and ts < self._covariance.ts):
            return
        factors = list(covariance)
        matrix = np.array([[covariance[f].get(g, math.nan) for g in factors] for f in factors],
                          dtype=np.float64).reshape(len(factors), len(factors))
        self._covariance = _Covariance({f: i for i, f in enumerate(factors)}, matrix, ts)

    def add_exposure(self, model: str, symbol: str, ts: int, sector: str,
                     styles: Mapping[str, float], specific_variance: float) -> None:
        """One FactorExposure record: it replaces an older one of the symbol and model."""
        held = self._exposures.get(symbol)
        if model != self.model or (held and ts < held.ts):
            return
        self._exposures[symbol] = _Exposure(sector, dict(styles), specific_variance, ts)

    def variance(self, values: Mapping[str, float]) -> float | None:
        """Daily variance in USD^2 of the dollar positions `values` (symbol -> USD), or None
        (module docstring)."""
        cov = self._covariance
        if cov is None or any(s not in self._exposures for s in values):
            return None
        factor_usd = np.zeros(len(cov.index))
        specific = 0.0
        for symbol, usd in values.items():
            exposure = self._exposures[symbol]
            loadings = {MARKET: 1.0, exposure.sector: 1.0, **exposure.styles}
            if any(f not in cov.index for f in loadings):
                return None
            for factor, loading in loadings.items():
                factor_usd[cov.index[factor]] += loading * usd
            specific += usd * usd * exposure.specific_variance
        variance = float(factor_usd @ cov.matrix @ factor_usd) + specific
        # a hedged book can round a hair below 0 on a covariance that is PSD
        return max(variance, 0.0) if math.isfinite(variance) else None
