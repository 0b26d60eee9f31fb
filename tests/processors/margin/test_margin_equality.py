"""The tensor code (all accounts at once, processors/margin/figures.py) equals the plain
per-account numpy loop (processors/margin/reference.py) on random accounts: both methods,
longs and shorts on both sides of 5 USD, futures with multipliers and their own scan ranges,
marks per account or shared, volatility from a random covariance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.margin.figures import figures
from processors.margin.reference import Accounts, each_account

H, BAR_S = 60, 60.0


def random_accounts(seed: int, accounts: int, instruments: int, *,
                    shared_marks: bool) -> Accounts:
    """Random accounts; marks per instrument [N] when shared, else per account [A, N]."""
    rng = np.random.default_rng(seed)
    held = rng.random((accounts, instruments)) < 0.4
    quantity = np.where(held, rng.integers(-500, 501, (accounts, instruments)), 0)
    # prices from 0.50 to 500: about a fifth under 5 USD, one at exactly 5
    universe = np.round(np.exp(rng.uniform(np.log(0.5), np.log(500), instruments)), 2)
    universe[0] = 5.0
    jitter = 1 + rng.normal(0, 0.01, (accounts, instruments))
    marks = universe if shared_marks else np.round(universe * jitter, 2).clip(min=0.01)
    future = rng.random(instruments) < 0.2
    multiplier = np.where(future, rng.choice([5.0, 20.0, 50.0], instruments), 1.0)
    scan_range = np.where(future, rng.uniform(0.03, 0.12, instruments), 0.15)
    factors = rng.normal(0, 0.01, (instruments, 3))
    covariance = factors @ factors.T + np.diag(rng.uniform(0, 4e-4, instruments))
    value = (quantity * marks * multiplier).sum(1)
    cash = -value + rng.normal(0, 1, accounts) * np.abs(value).clip(min=1_000) * 0.3
    columns = [np.flatnonzero(row) for row in quantity]
    return Accounts(columns=columns,
                    quantities=[quantity[a, c] for a, c in enumerate(columns)],
                    cash=cash, methods=rng.choice(["reg_t", "portfolio"], accounts).tolist(),
                    mark=marks, multiplier=multiplier, scan_range=scan_range,
                    covariance=covariance)


def reference_rows(accounts: Accounts) -> list[tuple[float, ...]]:
    return [(f.equity, f.initial, f.maintenance, f.excess, f.sigma_usd, f.call_probability,
             f.time_to_call_s)
            for f in each_account(accounts, range(len(accounts.cash)), horizon_bars=H,
                                  bar_seconds=BAR_S)]


def tensor_rows(accounts: Accounts) -> list[tuple[float, ...]]:
    quantity = np.zeros((len(accounts.cash), len(accounts.multiplier)))
    for a, (cols, q) in enumerate(zip(accounts.columns, accounts.quantities, strict=True)):
        quantity[a, cols] = q
    t = torch.from_numpy
    result = figures(t(quantity), t(accounts.mark), t(accounts.multiplier),
                     t(accounts.scan_range), t(accounts.covariance), t(accounts.cash),
                     torch.tensor([m == "portfolio" for m in accounts.methods]),
                     horizon_bars=H, bar_seconds=BAR_S)
    return list(zip(result.equity.tolist(), result.initial.tolist(),
                    result.maintenance.tolist(), result.excess.tolist(),
                    result.sigma_usd.tolist(), result.call_probability.tolist(),
                    result.time_to_call_s.tolist(), strict=True))


def assert_equal_figures(tensor: list[tuple[float, ...]], loop: list[tuple[float, ...]]) -> None:
    assert len(tensor) == len(loop)
    for a, (got, want) in enumerate(zip(tensor, loop, strict=True)):
        scale = max(1.0, abs(want[0]), abs(want[1]), abs(want[2]))
        money, statistics = got[:5], want[:5]
        assert money == pytest.approx(statistics, rel=1e-9, abs=1e-9 * scale), a
        assert got[5] == pytest.approx(want[5], abs=1e-9), a
        if math.isinf(want[6]):
            assert math.isinf(got[6]), a
        else:
            assert got[6] == pytest.approx(want[6], rel=1e-9, abs=1e-6), a


@pytest.mark.parametrize("shared_marks", [False, True], ids=["marks per account",
                                                             "marks per instrument"])
def test_tensor_code_equals_the_per_account_loop_on_many_random_accounts(
        shared_marks: bool) -> None:
    accounts = random_accounts(7, accounts=400, instruments=60, shared_marks=shared_marks)
    shorts_under_5 = [(q < 0) & (accounts.mark[..., c] < 5) if shared_marks
                      else (q < 0) & (accounts.mark[a, c] < 5)
                      for a, (c, q) in enumerate(zip(accounts.columns, accounts.quantities,
                                                     strict=True))]
    assert sum(int(s.sum()) for s in shorts_under_5) > 100

    assert_equal_figures(tensor_rows(accounts), reference_rows(accounts))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), accounts=st.integers(1, 12),
       instruments=st.integers(1, 9), shared_marks=st.booleans())
def test_tensor_code_equals_the_loop_on_any_small_book(seed: int, accounts: int,
                                                       instruments: int,
                                                       shared_marks: bool) -> None:
    book = random_accounts(seed, accounts, instruments, shared_marks=shared_marks)

    assert_equal_figures(tensor_rows(book), reference_rows(book))
