"""The bar returns and EWMA covariance risk is computed on (processors/kit/returns.py).

The recursion S_n = lambda S_(n-1) + (1 - lambda) r_n r_n' from zero is checked against its
direct sum, (1 - lambda) sum_k lambda^(n-k) r_k r_k', and, normalised by the weight the
periods carry (1 - lambda^n) as `covariance` reads it, against pandas'
`ewm(alpha=1 - lambda, adjust=True).mean()`
of the products r_i r_j (what the risk engine's parametric and Monte Carlo VaR use).
`latest` must read exactly what folding the pending period gives, and change nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from processors.kit.returns import RISKMETRICS_LAMBDA, BarReturns

MIN = 60_000_000_000
T0 = 1_700_000_040_000_000_000  # a minute boundary
SYMBOLS = ["AAPL", "MSFT", "ESZ6"]


def closes(periods: int, seed: int = 3) -> np.ndarray:
    """[periods, 3] closes: a random walk per symbol."""
    rng = np.random.default_rng(seed)
    return 100 * np.exp(np.cumsum(rng.normal(0, 0.01, size=(periods, len(SYMBOLS))), axis=0))


def feed(returns: BarReturns, prices: np.ndarray, first_period: int = 0) -> None:
    """One bar per symbol and period, period k starting at T0 + k minutes."""
    for k, row in enumerate(prices, start=first_period):
        start = np.full(len(SYMBOLS), T0 + k * MIN)
        returns.add(np.array(SYMBOLS, dtype=object), start, start + MIN, row)


def test_the_recursion_is_the_direct_sum_and_normalised_it_is_pandas_ewm() -> None:
    prices = closes(40)
    returns = BarReturns(torch.device("cpu"), window=250)

    feed(returns, prices)
    returns.flush()

    # the first period has no earlier close: its returns are 0
    r = np.vstack([np.zeros(len(SYMBOLS)), prices[1:] / prices[:-1] - 1])
    lam, n = RISKMETRICS_LAMBDA, len(r)
    direct = (1 - lam) * sum(lam ** (n - 1 - k) * np.outer(r[k], r[k]) for k in range(n))
    covariance = returns.covariance(SYMBOLS).numpy()
    assert returns.periods == n
    np.testing.assert_allclose(covariance * (1 - lam**n), direct, rtol=1e-12)
    products = pd.DataFrame({(i, j): r[:, i] * r[:, j] for i in range(3) for j in range(3)})
    ewm = products.ewm(alpha=1 - lam, adjust=True).mean().iloc[-1]
    pandas_cov = np.array([[ewm[(i, j)] for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(covariance, pandas_cov, rtol=1e-12)
    np.testing.assert_allclose(returns.history(SYMBOLS), r, rtol=1e-12)


def test_latest_reads_the_pending_period_as_folded_and_changes_nothing() -> None:
    prices = closes(12)
    returns = BarReturns(torch.device("cpu"), window=5)
    feed(returns, prices)  # the 12th period is pending: no later bar has come
    order = ["MSFT", "NQZ6", "AAPL"]  # NQZ6 was never seen: zeros

    view = returns.latest(order)
    again = returns.latest(order)

    assert returns.periods == 11 and view.periods == 12
    assert torch.equal(view.covariance, again.covariance)
    folded = BarReturns(torch.device("cpu"), window=5)
    feed(folded, prices)
    folded.flush()
    assert torch.equal(view.covariance, folded.covariance(order))
    np.testing.assert_array_equal(view.history, folded.history(order))
    assert view.history.shape == (5, 3) and not view.history[:, 1].any()


def test_without_a_pending_period_latest_is_what_was_folded() -> None:
    returns = BarReturns(torch.device("cpu"), window=3)
    assert returns.latest(SYMBOLS).periods == 0
    assert returns.latest([]).covariance.shape == (0, 0)
    feed(returns, closes(4))
    returns.flush()

    view = returns.latest(SYMBOLS)

    assert view.periods == 4
    assert torch.equal(view.covariance, returns.covariance(SYMBOLS))
    np.testing.assert_array_equal(view.history, returns.history(SYMBOLS))
    assert pytest.approx(view.history[0]) == closes(4)[1] / closes(4)[0] - 1
    # an account with no open position asks for no symbols
    assert returns.covariance([]).shape == (0, 0)
    assert returns.latest([]).history.shape == (3, 0)
