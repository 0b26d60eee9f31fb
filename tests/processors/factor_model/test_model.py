"""Known answers of the factor model's pieces against straightforward evaluations of their
definitions (processors/factor_model/__init__.py), and the identities the fit must keep."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from processors.factor_model import DailyCloses, FactorModelParams, estimate, ewma_covariance
from processors.factor_model.cross_section import nearest_quantile
from processors.factor_model.regression import fit_day
from processors.factor_model.styles import momentum, size, value
from streams.exceptions import ConfigError


def _standardized(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sub(frame.mean(axis=1), axis=0).div(frame.std(axis=1, ddof=1), axis=0)


def test_momentum_is_the_weighted_compounded_lagged_return_winsorized_and_standardized() -> None:
    params = FactorModelParams(momentum_days=6, momentum_half_life=3, momentum_lag=2,
                               momentum_winsor=0.1)
    rng = np.random.default_rng(1)
    returns = rng.normal(0, 0.02, (15, 12))
    returns[0] = np.nan
    returns[5, 4] = np.nan  # no score for symbol 4 while day 5 is in its window

    raw = pd.DataFrame(np.nan, index=range(15), columns=range(12))
    for day in range(15):
        for symbol in range(12):
            window = [returns[day - 2 - age, symbol] if day - 2 - age >= 0 else np.nan
                      for age in range(6)]  # newest first
            raw.loc[day, symbol] = np.prod([1 + 0.5 ** (age / 3) * r
                                            for age, r in enumerate(window)]) - 1
    low, high = raw.quantile(0.1, axis=1), raw.quantile(0.9, axis=1)
    expected = _standardized(raw.clip(low, high, axis=0))

    got = momentum(returns, params)
    np.testing.assert_allclose(got, expected.to_numpy(), rtol=1e-12, atol=1e-12)
    assert np.isnan(got[:8]).all() and np.isfinite(got[8:, :4]).all()  # 1 + 2 + 6 - 1 days
    assert np.isnan(got[8:13, 4]).all() and np.isfinite(got[13:, 4]).all()  # 5 + 2 + 6 - 1


def test_size_standardizes_minus_log_cap_and_zeroes_the_middle_quantiles() -> None:
    caps = np.array([[1e9, 2e9, 3e9, 5e9, 8e9, 1.3e10, 2.1e10, 3.4e10, 5.5e10, 8.9e10, np.nan]])
    got = size(caps, FactorModelParams())
    score = _standardized(pd.DataFrame(-np.log(caps))).to_numpy()[0]
    # nearest rank of 10 values: 0.2 * 9 = 1.8 -> index 2 (the 3rd smallest), 0.8 * 9 = 7.2 -> 7
    ranked = np.sort(score[:10])
    kept = (score <= ranked[2]) | (score >= ranked[7])
    np.testing.assert_allclose(got[0, :10], np.where(kept, score, 0.0)[:10], rtol=1e-15)
    assert kept[:10].sum() == 6 and np.isnan(got[0, 10])
    assert got[0, 0] > 0 > got[0, 9]  # the smallest company scores highest (small minus big)


def test_nearest_quantile_rounds_half_up() -> None:
    assert nearest_quantile(np.array([4.0, 1.0, 3.0, 2.0, np.nan]), 0.5) == 3.0  # 1.5 -> 2
    assert nearest_quantile(np.arange(1.0, 7.0), 0.5) == 4.0  # 2.5 -> 3 (polars), not 2
    assert nearest_quantile(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 0.2) == 2.0  # 0.8 -> 1
    assert np.isnan(nearest_quantile(np.array([np.nan]), 0.5))


def test_value_averages_the_descriptors_a_symbol_has() -> None:
    book = np.array([[0.5, 0.8, 1.2, 0.3, -0.1]])  # -0.1: negative equity, missing
    sales = np.array([[1.0, 2.0, 0.5, np.nan, 1.5]])
    cash_flow = np.array([[0.05, 0.10, -0.02, 0.07, 0.01]])
    parts = [_standardized(pd.DataFrame(np.log(np.where(book > 0, book, np.nan)))),
             _standardized(pd.DataFrame(np.log(sales))), _standardized(pd.DataFrame(cash_flow))]
    expected = _standardized(pd.concat(parts).groupby(level=0).mean())  # mean skips NaN
    np.testing.assert_allclose(value(book, sales, cash_flow), expected.to_numpy(), rtol=1e-14)


def _planted_day(rng: np.random.Generator, n: int = 30, n_sectors: int = 4):
    """Returns exactly market + sector + style returns, with styles orthogonal (in the
    weighted sense) to the market and sectors, so the fit must recover them."""
    cap = np.exp(rng.normal(22, 1, n))
    sector = np.arange(n) % n_sectors
    weight = np.sqrt(cap)
    dummies = np.eye(n_sectors)[sector]
    raw_styles = rng.normal(size=(n, 2))
    coef = np.linalg.solve(dummies.T @ (weight[:, None] * dummies),
                           dummies.T @ (weight[:, None] * raw_styles))
    styles = raw_styles - dummies @ coef  # weighted residuals on the sectors (and market)
    sector_returns = rng.normal(0, 0.01, n_sectors)
    sector_returns -= sector_returns.mean()
    style_returns = rng.normal(0, 0.01, 2)
    returns = 0.004 + sector_returns[sector] + styles @ style_returns
    return returns, cap, sector, styles, sector_returns, style_returns


def test_fit_day_recovers_planted_factor_returns() -> None:
    rng = np.random.default_rng(3)
    returns, cap, sector, styles, sector_returns, style_returns = _planted_day(rng)
    fit = fit_day(returns, cap, sector, 4, styles)
    assert fit.market == pytest.approx(0.004, abs=1e-14)
    np.testing.assert_allclose(fit.sectors, sector_returns, atol=1e-14)
    np.testing.assert_allclose(fit.styles, style_returns, atol=1e-13)
    np.testing.assert_allclose(fit.residuals, 0, atol=1e-14)


def test_fit_day_sectors_sum_to_zero_and_residuals_are_weighted_orthogonal() -> None:
    rng = np.random.default_rng(4)
    returns, cap, sector, styles, *_ = _planted_day(rng)
    returns = returns + rng.normal(0, 0.02, returns.size)
    fit = fit_day(returns, cap, sector, 4, styles)
    assert abs(fit.sectors.sum()) < 1e-15
    weight = np.sqrt(cap)
    # the normal equations of both stages: residuals orthogonal to the market, to each
    # sector contrast, and to the styles
    np.testing.assert_allclose(weight @ fit.residuals, 0, atol=1e-9)
    np.testing.assert_allclose(styles.T @ (weight * fit.residuals), 0, atol=1e-9)
    fitted = fit.market + fit.sectors[sector] + styles @ fit.styles
    np.testing.assert_allclose(fitted + fit.residuals, returns, atol=1e-15)


def test_fit_day_with_an_empty_sector_still_solves() -> None:
    rng = np.random.default_rng(5)
    returns, cap, sector, styles, *_ = _planted_day(rng, n_sectors=3)
    fit = fit_day(returns, cap, sector, 4, styles)  # sector 3 has no member
    assert np.isfinite([fit.market, *fit.sectors, *fit.styles]).all()
    assert abs(fit.sectors.sum()) < 1e-15


def test_ewma_covariance_weights_halve_every_half_life() -> None:
    returns = pd.DataFrame({"market": [0.01, -0.02, 0.03], "size": [0.0, 0.01, -0.01]})
    weights = np.array([0.25, 0.5, 1.0])  # half-life 1 day, newest last
    f = returns.to_numpy()
    expected = sum(w * np.outer(r, r) for w, r in zip(weights, f, strict=True)) / weights.sum()
    got = ewma_covariance(returns, 1.0)
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-15)
    assert list(got.index) == list(got.columns) == ["market", "size"]


def _closes(days: int, symbols: int, seed: int = 0) -> DailyCloses:
    rng = np.random.default_rng(seed)
    close = 20 * np.cumprod(1 + rng.normal(0, 0.01, (days, symbols)), axis=0)
    dates = np.arange(np.datetime64("2024-01-01"), np.datetime64("2024-01-01") + days)
    return DailyCloses(dates=dates, symbols=tuple(f"S{i}" for i in range(symbols)), close=close)


def test_estimate_starts_once_momentum_exists_and_leaves_out_unknown_symbols() -> None:
    closes = _closes(20, 9)
    reference = pd.DataFrame({"sector": ["A", "B", "C"] * 2 + ["A", "B"],
                              "market_cap": np.linspace(1e9, 9e9, 8)},
                             index=[f"S{i}" for i in range(8)])
    params = FactorModelParams(momentum_days=5, momentum_half_life=2, momentum_lag=3,
                               returns_winsor=0)
    result = estimate(closes, reference, params)
    assert result.factors == ("market", "A", "B", "C", "momentum", "size")  # no value columns
    assert result.dropped_symbols == ("S8",)
    assert result.factor_returns.index[0] == pd.Timestamp("2024-01-09")  # day 1 + 3 + 5 - 1 = day 8
    assert len(result.factor_returns) == 12 and len(result.residuals) == 12 * 8
    # every return is its exposures times the factor returns plus its residual
    merged = result.exposures.merge(result.residuals, on=["date", "symbol"])
    day_returns = result.factor_returns.loc[merged["date"]].reset_index(drop=True)
    sector_return = day_returns.to_numpy()[np.arange(len(merged)),
                                           1 + merged["sector"].map({"A": 0, "B": 1, "C": 2})]
    explained = (day_returns["market"] + sector_return + merged["momentum"]
                 * day_returns["momentum"] + merged["size"] * day_returns["size"])
    symbol_index = merged["symbol"].str[1:].astype(int).to_numpy()
    day_index = (merged["date"] - pd.Timestamp(closes.dates[0])).dt.days.to_numpy()
    actual = closes.close[day_index, symbol_index] / closes.close[day_index - 1, symbol_index] - 1
    np.testing.assert_allclose(explained + merged["residual"], actual, atol=1e-15)


def test_estimate_refuses_a_sector_named_like_a_factor() -> None:
    reference = pd.DataFrame({"sector": ["size", "B"], "market_cap": [1e9, 2e9]},
                             index=["S0", "S1"])
    with pytest.raises(ConfigError, match="clash"):
        estimate(_closes(3, 2), reference, FactorModelParams())


def test_a_missing_bar_keeps_a_symbol_out_until_its_momentum_window_is_whole_again() -> None:
    closes = _closes(30, 6, seed=2)
    close = closes.close.copy()
    close[12, 0] = np.nan  # S0 has no bar on day 12: no return on days 12 and 13
    close[:20, 5] = np.nan  # S5 lists on day 20
    closes = DailyCloses(closes.dates, closes.symbols, close)
    reference = pd.DataFrame({"sector": ["A", "B"] * 3, "market_cap": np.linspace(1e9, 6e9, 6)},
                             index=list(closes.symbols))
    params = FactorModelParams(momentum_days=4, momentum_half_life=2, momentum_lag=1)
    result = estimate(closes, reference, params)
    days_in = result.residuals.groupby("symbol")["date"].apply(
        lambda d: sorted((d - pd.Timestamp(closes.dates[0])).dt.days))
    assert days_in["S1"] == list(range(5, 30))  # from 1 + 1 + 4 - 1
    # S0's returns of days 12 and 13 are missing (so are those days), and lagged a day they
    # are in the windows ending on days 13 to 17
    assert days_in["S0"] == [*range(5, 12), *range(18, 30)]
    assert days_in["S5"] == list(range(25, 30))  # returns from day 21, lagged from 22, + 4 - 1
    assert np.isfinite(result.factor_returns.to_numpy()).all()


def test_estimate_refuses_bars_without_any_reference_data() -> None:
    reference = pd.DataFrame({"sector": ["A"], "market_cap": [1e9]}, index=["OTHER"])
    with pytest.raises(ConfigError, match="none of the 2 bar symbols has reference data"):
        estimate(_closes(3, 2), reference, FactorModelParams())
