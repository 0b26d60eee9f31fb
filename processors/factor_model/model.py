"""The whole model over a panel of daily closes: exposures, factor returns, residuals and the
EWMA factor covariance (definitions in __init__.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from processors.factor_model import styles
from processors.factor_model.cross_section import winsorize
from processors.factor_model.params import FactorModelParams
from processors.factor_model.regression import fit_day
from streams.exceptions import ConfigError

MARKET = "market"
STYLES = ("momentum", "size", "value")
VALUE_DESCRIPTORS = ("book_to_price", "sales_to_price", "cash_flow_to_price")


@dataclass(frozen=True)
class DailyCloses:
    """Closes per day and symbol: `close[d, s]` of `dates[d]` (datetime64[D], ascending) and
    `symbols[s]`, NaN where the symbol has no bar that day."""

    dates: np.ndarray
    symbols: tuple[str, ...]
    close: np.ndarray


@dataclass(frozen=True)
class FactorModelResult:
    """factor_returns: one row per day fitted (index `date`), columns `factors`.
    exposures: one row per day and symbol of the regression (date, symbol, sector,
    market_cap, the styles). residuals: date, symbol, residual, specific_variance (the
    EWMA of the symbol's squared residuals up to the day). covariance: factors x
    factors, as of the last day. `dropped_symbols`: bar symbols without reference data."""

    factors: tuple[str, ...]
    factor_returns: pd.DataFrame
    exposures: pd.DataFrame
    residuals: pd.DataFrame
    covariance: pd.DataFrame
    dropped_symbols: tuple[str, ...]


def estimate(closes: DailyCloses, reference: pd.DataFrame,
             params: FactorModelParams) -> FactorModelResult:
    """Fit the model. `reference` is indexed by symbol with columns sector, market_cap and
    any of VALUE_DESCRIPTORS (the value style exists when one of them does)."""
    known = [s in reference.index for s in closes.symbols]
    symbols = tuple(s for s, k in zip(closes.symbols, known, strict=True) if k)
    dropped = tuple(s for s, k in zip(closes.symbols, known, strict=True) if not k)
    if not symbols:
        raise ConfigError(f"none of the {len(closes.symbols)} bar symbols has reference data")
    close = closes.close[:, np.asarray(known, bool)]
    ref = reference.loc[list(symbols)]
    sectors = tuple(sorted(ref["sector"].unique()))
    clashes = sorted({MARKET, *STYLES} & set(sectors))
    if clashes:
        raise ConfigError(f"sector names {clashes} clash with factor names")
    style_names = tuple(n for n in STYLES
                        if n != "value" or any(c in ref for c in VALUE_DESCRIPTORS))
    factors = (MARKET, *sectors, *style_names)

    present = np.isfinite(close)
    returns = np.full_like(close, np.nan)
    returns[1:] = close[1:] / close[:-1] - 1

    def per_day(column: str) -> np.ndarray:
        values = ref[column].to_numpy(float) if column in ref else np.full(len(symbols), np.nan)
        return np.where(present, values[None, :], np.nan)

    market_cap = per_day("market_cap")
    exposure = {"momentum": styles.momentum(returns, params),
                "size": styles.size(market_cap, params)}
    if "value" in style_names:
        exposure["value"] = styles.value(*(per_day(c) for c in VALUE_DESCRIPTORS))
    style_cube = np.stack([exposure[n] for n in style_names], axis=-1)
    sector_code = np.searchsorted(np.array(sectors), ref["sector"].to_numpy())

    in_model = np.isfinite(returns) & np.isfinite(style_cube).all(axis=-1)
    winsorized = winsorize(np.where(in_model, returns, np.nan), params.returns_winsor)
    rows, exposure_parts, residual_parts, fitted_days = [], [], [], []
    specific = SpecificVariance(len(symbols), params.covariance_half_life)
    for day in np.flatnonzero(in_model.any(axis=1)):
        members = np.flatnonzero(in_model[day])
        fit = fit_day(winsorized[day, members], market_cap[day, members],
                      sector_code[members], len(sectors), style_cube[day, members])
        rows.append(np.concatenate([[fit.market], fit.sectors, fit.styles]))
        fitted_days.append(day)
        date = closes.dates[day]
        names = np.array(symbols)[members]
        exposure_parts.append(pd.DataFrame({
            "date": date, "symbol": names, "sector": ref["sector"].to_numpy()[members],
            "market_cap": market_cap[day, members],
            **{n: style_cube[day, members, k] for k, n in enumerate(style_names)}}))
        residual_parts.append(pd.DataFrame({
            "date": date, "symbol": names, "residual": fit.residuals,
            "specific_variance": specific.update(members, fit.residuals)}))
    dates = pd.Index(closes.dates[fitted_days], name="date")
    factor_returns = pd.DataFrame(np.array(rows).reshape(len(rows), len(factors)),
                                  index=dates, columns=list(factors))
    return FactorModelResult(
        factors=factors,
        factor_returns=factor_returns,
        exposures=_concat(exposure_parts, ["date", "symbol", "sector", "market_cap",
                                           *style_names]),
        residuals=_concat(residual_parts, ["date", "symbol", "residual", "specific_variance"]),
        covariance=ewma_covariance(factor_returns, params.covariance_half_life),
        dropped_symbols=dropped,
    )


def ewma_covariance(factor_returns: pd.DataFrame, half_life_days: float) -> pd.DataFrame:
    """The EWMA covariance as of the last day (`ewma_covariances`); NaN without days."""
    k = factor_returns.shape[1]
    by_day = ewma_covariances(factor_returns.to_numpy(), half_life_days)
    covariance = by_day[-1] if len(by_day) else np.full((k, k), np.nan)
    return pd.DataFrame(covariance, index=pd.Index(factor_returns.columns, name="factor"),
                        columns=factor_returns.columns)


def ewma_covariances(factor_returns: np.ndarray, half_life_days: float) -> np.ndarray:
    """(days, k, k): as of each day t, sum_s<=t w_s f_s f_s' / sum_s<=t w_s, zero mean
    (RiskMetrics), w_s = 2^(-(t - s) / `half_life_days`)."""
    decay = 0.5 ** (1 / half_life_days)
    k = factor_returns.shape[1]
    products, weight = np.zeros((k, k)), 0.0
    out = np.empty((len(factor_returns), k, k))
    for day, f in enumerate(factor_returns):
        products = decay * products + np.outer(f, f)
        weight = decay * weight + 1.0
        out[day] = products / weight
    return out


class SpecificVariance:
    """Each symbol's EWMA of its squared residual returns, zero mean, over the days it was in
    the regression: weights halving every `half_life_days` fitted days back, normalised to
    sum to 1 over the symbol's own days."""

    def __init__(self, symbols: int, half_life_days: float) -> None:
        self._decay = 0.5 ** (1 / half_life_days)
        self._squares = np.zeros(symbols)
        self._weights = np.zeros(symbols)

    def update(self, members: np.ndarray, residuals: np.ndarray) -> np.ndarray:
        """Fold one fitted day in; the members' variances as of the day."""
        self._squares *= self._decay
        self._weights *= self._decay
        self._squares[members] += residuals ** 2
        self._weights[members] += 1.0
        return self._squares[members] / self._weights[members]


def _concat(parts: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
