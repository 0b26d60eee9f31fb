"""The performance figures (processors/analytics/metrics.py) equal empyrical's on the same
returns, and the quantstats figures follow quantstats' definitions, on hand-made equity paths
(flat periods, a single period, losses only, no movement at all) and on random ones.

empyrical (empyrical-reloaded) is the reference, imported here only: the platform does not
depend on it. Where empyrical gives NaN or an infinity, our figure is None.
"""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.analytics.metrics import performance, rolling

PPY = 252
EMPYRICAL = {
    "total_return": lambda r, ppy: empyrical.cum_returns_final(r),
    "annual_return": lambda r, ppy: empyrical.annual_return(r, annualization=ppy),
    "annual_volatility": lambda r, ppy: empyrical.annual_volatility(r, annualization=ppy),
    "sharpe": lambda r, ppy: empyrical.sharpe_ratio(r, risk_free=0, annualization=ppy),
    "sortino": lambda r, ppy: empyrical.sortino_ratio(r, required_return=0,
                                                      annualization=ppy),
    "calmar": lambda r, ppy: empyrical.calmar_ratio(r, annualization=ppy),
    "max_drawdown": lambda r, ppy: empyrical.max_drawdown(r),
    "var_95": lambda r, ppy: empyrical.value_at_risk(r, cutoff=0.05),
    "cvar_95": lambda r, ppy: empyrical.conditional_value_at_risk(r, cutoff=0.05),
}


def returns_of(equities: list[float]) -> np.ndarray:
    """Simple returns of an equity path whose first value is the starting cash."""
    path = np.asarray(equities, dtype=np.float64)
    return path[1:] / path[:-1] - 1.0


def expected(value: float) -> float | None:
    """empyrical's value as we publish it: None where it is NaN or infinite."""
    value = float(value)
    return value if math.isfinite(value) else None


def assert_equal_to_empyrical(returns: np.ndarray, ppy: int = PPY) -> dict:
    figures = performance(returns, ppy)
    for name, reference in EMPYRICAL.items():
        want = expected(reference(returns, ppy))
        if want is None:
            assert figures[name] is None, name
        else:
            assert figures[name] == pytest.approx(want, rel=1e-9, abs=1e-12), name
    return figures


PATHS = {
    "up, down and flat periods": [100, 101, 101, 99.5, 99.5, 102, 100.8, 103],
    "a single period": [1000, 1012.5],
    "losses only": [100, 98, 97, 95.5, 90],
    "no movement": [5000, 5000, 5000, 5000],
    "gains only": [100, 101, 103, 103.5],
    "a fall below the start and back": [10, 9, 8, 9.5, 11, 10.5],
}


@pytest.mark.parametrize("equities", PATHS.values(), ids=PATHS.keys())
def test_performance_equals_empyrical_on_hand_made_paths(equities: list[float]) -> None:
    assert_equal_to_empyrical(returns_of(equities))


def test_a_single_period_has_a_return_but_no_ratios() -> None:
    figures = assert_equal_to_empyrical(returns_of([1000, 1012.5]))

    assert figures["total_return"] == pytest.approx(0.0125)
    assert figures["annual_return"] == pytest.approx(1.0125 ** 252 - 1)
    assert figures["sharpe"] is figures["sortino"] is figures["annual_volatility"] is None
    assert figures["max_drawdown"] == 0.0
    assert figures["calmar"] is None  # no drawdown: empyrical's NaN


def test_no_movement_gives_zeros_and_undefined_ratios() -> None:
    figures = assert_equal_to_empyrical(returns_of([5000, 5000, 5000, 5000]))

    assert (figures["total_return"], figures["annual_volatility"], figures["max_drawdown"],
            figures["var_95"], figures["cvar_95"]) == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert figures["sharpe"] is figures["sortino"] is figures["calmar"] is None
    # quantstats counts over the non-zero returns: there are none
    assert figures["hit_rate"] is figures["profit_factor"] is None
    assert figures["avg_win"] is figures["avg_loss"] is None


def test_losses_only_has_a_drawdown_from_the_start_and_no_wins() -> None:
    returns = returns_of([100, 98, 97, 95.5, 90])

    figures = assert_equal_to_empyrical(returns)

    assert figures["max_drawdown"] == pytest.approx(-0.1)  # 90 / 100 - 1
    assert figures["hit_rate"] == 0.0
    assert figures["profit_factor"] == 0.0  # no gains over |losses|
    assert figures["avg_win"] is None
    assert figures["avg_loss"] == pytest.approx(float(np.mean(returns)))


def test_the_quantstats_figures_count_the_non_zero_returns() -> None:
    # returns +1%, 0, -1.4851..%, 0, +2.5126..%, -1.1765..%, +2.2222..%
    returns = returns_of([100, 101, 101, 99.5, 99.5, 102, 100.8, 103])
    gains, losses = returns[returns > 0], returns[returns < 0]

    figures = performance(returns, PPY)

    assert figures["hit_rate"] == pytest.approx(3 / 5)  # quantstats win_rate: zeros left out
    assert figures["avg_win"] == pytest.approx(gains.mean())
    assert figures["avg_loss"] == pytest.approx(losses.mean())
    assert figures["profit_factor"] == pytest.approx(gains.sum() / -losses.sum())


def test_rolling_figures_are_empyricals_over_the_window() -> None:
    returns = returns_of([100, 104, 99, 101, 97, 103])

    figures = rolling(returns, 12)

    assert figures["sharpe"] == pytest.approx(empyrical.sharpe_ratio(returns, annualization=12))
    assert figures["max_drawdown"] == pytest.approx(empyrical.max_drawdown(returns))


def test_an_equity_below_zero_has_no_annual_return() -> None:
    returns = returns_of([100, 50, -10, -5, -6, -7])  # wealth < 0, power 252 / 5: no real root

    figures = assert_equal_to_empyrical(returns)

    assert figures["annual_return"] is None


equity_paths = st.lists(
    st.one_of(st.floats(-0.2, 0.2), st.just(0.0)), min_size=1, max_size=120,
).map(lambda steps: np.round(np.cumprod([1_000_000.0, *(1 + np.asarray(steps))]), 2))


@settings(max_examples=200, deadline=None)
@given(equities=equity_paths, ppy=st.sampled_from([1, 12, 52, 252, 365, 98_280]))
def test_performance_equals_empyrical_on_random_paths(equities: np.ndarray, ppy: int) -> None:
    assert_equal_to_empyrical(returns_of(list(equities)), ppy)
