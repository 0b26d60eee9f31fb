"""BarReturns (processors/kit/returns.py): the RiskMetrics EWMA covariance of per-period bar
returns, by hand, and the covariance of any list of symbols, the empty one included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from processors.kit.returns import BarReturns
from tests.factories import MINUTE_NS, T0


def _add(returns: BarReturns, period: int, closes: dict[str, float]) -> None:
    start = T0 + period * MINUTE_NS
    symbols = list(closes)
    returns.add(np.array(symbols, dtype=object), np.full(len(symbols), start),
                np.full(len(symbols), start + MINUTE_NS), np.array(list(closes.values())))


def test_the_ewma_covariance_of_two_periods_by_hand() -> None:
    returns = BarReturns(torch.device("cpu"), lambda_=0.94)
    _add(returns, 0, {"A": 100.0, "B": 50.0})
    _add(returns, 1, {"A": 101.0, "B": 49.0})  # folds period 0: no earlier close, r = 0
    _add(returns, 2, {"A": 99.99, "B": 49.49})  # folds period 1: r = (0.01, -0.02)
    _add(returns, 3, {"A": 99.99})  # folds period 2: r = (-0.01, 0.01)

    got = returns.covariance(["B", "A", "C"]).numpy()

    r1, r2 = np.array([0.01, -0.02]), np.array([99.99 / 101 - 1, 49.49 / 49 - 1])
    recursion = 0.94 * (0.06 * np.outer(r1, r1)) + 0.06 * np.outer(r2, r2)  # (A, B)
    expected = recursion / (1 - 0.94**3)  # three periods folded, the first one's r = 0
    assert got[:2, :2] == pytest.approx(expected[::-1, ::-1], rel=1e-12)
    assert (got[2] == 0).all() and (got[:, 2] == 0).all()  # C never seen


def test_the_covariance_of_no_symbols_is_empty_once_symbols_are_known() -> None:
    returns = BarReturns(torch.device("cpu"))
    _add(returns, 0, {"A": 100.0})
    _add(returns, 1, {"A": 101.0})

    assert returns.covariance([]).shape == (0, 0)
