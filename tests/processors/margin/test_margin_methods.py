"""Known answers of the margin rules, worked by hand from the published definitions, on the
tensor code (processors/margin/figures.py, methods.py) and on the per-account reference
(processors/margin/reference.py) alike.

Reg T / FINRA Rule 4210: initial 50% of |market value|; maintenance 25% of a long's value; a
short's max(30% of |value|, 5 USD per share) at prices >= 5 USD and max(100% of |value|,
2.50 USD per share) below. FINRA portfolio margin (TIMS-style scan): every position moves by
-15 ... +15% (a future by its own scan range); the requirement is the largest loss. The call
probability within H bars is min(1, 2 Phi(-excess / (sigma sqrt(H)))), 1 when excess <= 0;
time to call = bar seconds * (excess / (0.6745 sigma))^2.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from processors.margin.figures import figures
from processors.margin.reference import account_figures

H, BAR_S = 60, 60.0
Position = tuple[float, float, float, float]  # quantity, mark, multiplier, scan range


def both(positions: list[Position], method: str, *, cash: float = 0.0,
         variances: list[float] | None = None) -> list[tuple[float, ...]]:
    """(equity, initial, maintenance, excess, sigma, probability, time to call) of one
    account by the tensor code and by the reference."""
    q, mark, mult, scan = (np.array(c, dtype=float) for c in zip(*positions, strict=True))
    cov = np.diag(variances if variances is not None else np.zeros(len(q)))
    t = torch.from_numpy
    tensor = figures(t(q[None]), t(mark[None]), t(mult), t(scan), t(cov),
                     torch.tensor([cash], dtype=torch.float64),
                     torch.tensor([method == "portfolio"]), horizon_bars=H, bar_seconds=BAR_S)
    ref = account_figures(q, mark, mult, scan, cov, cash, method, horizon_bars=H,
                          bar_seconds=BAR_S)
    return [
        (tensor.equity.item(), tensor.initial.item(), tensor.maintenance.item(),
         tensor.excess.item(), tensor.sigma_usd.item(), tensor.call_probability.item(),
         tensor.time_to_call_s.item()),
        (ref.equity, ref.initial, ref.maintenance, ref.excess, ref.sigma_usd,
         ref.call_probability, ref.time_to_call_s),
    ]


def requirements(positions: list[Position], method: str) -> list[tuple[float, float]]:
    return [(initial, maintenance) for _, initial, maintenance, *_ in both(positions, method)]


def equity(quantity: float, mark: float) -> Position:
    return (quantity, mark, 1.0, 0.15)


# ---- Reg T ------------------------------------------------------------------------------

@pytest.mark.parametrize(("position", "initial", "maintenance"), [
    (equity(100, 50.0), 2_500.0, 1_250.0),      # long: 50% / 25% of 5,000
    (equity(-100, 50.0), 2_500.0, 1_500.0),     # short >= 5: 30% of 5,000 beats 5 x 100
    (equity(-100, 10.0), 500.0, 500.0),         # short >= 5: 5 USD x 100 beats 30% of 1,000
    (equity(-100, 5.0), 250.0, 500.0),          # exactly 5 USD is the >= 5 rule
    (equity(-100, 4.0), 200.0, 400.0),          # short < 5: 100% of 400 beats 2.50 x 100
    (equity(-100, 2.0), 100.0, 250.0),          # short < 5: 2.50 x 100 beats 100% of 200
])
def test_reg_t_of_one_position(position: Position, initial: float, maintenance: float) -> None:
    for got in requirements([position], "reg_t"):
        assert got == pytest.approx((initial, maintenance), rel=1e-12)


def test_reg_t_of_an_account_adds_its_positions() -> None:
    positions = [equity(100, 50.0), equity(-100, 10.0), equity(-300, 2.0)]
    # initial 0.5 x (5,000 + 1,000 + 600); maintenance 1,250 + 500 + max(600, 750)
    for got in requirements(positions, "reg_t"):
        assert got == pytest.approx((3_300.0, 2_500.0), rel=1e-12)


def test_reg_t_counts_a_contract_as_multiplier_shares() -> None:
    # short 2 contracts of 50 at 4.00: |value| 400, 100 shares: max(400, 250)
    for got in requirements([(-2, 4.0, 50.0, 0.15)], "reg_t"):
        assert got == pytest.approx((200.0, 400.0), rel=1e-12)


# ---- portfolio margin -------------------------------------------------------------------

def test_portfolio_margin_of_a_hedged_long_short_pair_is_zero() -> None:
    for got in requirements([equity(100, 50.0), equity(-50, 100.0)], "portfolio"):
        assert got == pytest.approx((0.0, 0.0), abs=1e-9)


@pytest.mark.parametrize("quantity", [100, -100])
def test_portfolio_margin_of_a_single_equity_is_15_percent_of_its_value(quantity: int) -> None:
    for got in requirements([equity(quantity, 50.0)], "portfolio"):
        assert got == pytest.approx((750.0, 750.0), rel=1e-12)


def test_portfolio_margin_of_a_future_uses_its_scan_range() -> None:
    # 2 contracts x 50 x 5,000 = 500,000 moved by -6%: 30,000
    for got in requirements([(2, 5_000.0, 50.0, 0.06)], "portfolio"):
        assert got == pytest.approx((30_000.0, 30_000.0), rel=1e-12)


def test_portfolio_margin_moves_every_position_together_by_its_own_range() -> None:
    # long 10,000 of an equity (15%), short 20,000 of a future (6%): the scan point at
    # -100% of each range loses 1,500 - 1,200 = 300; the point at +100% gains it.
    for got in requirements([equity(100, 100.0), (-4, 100.0, 50.0, 0.06)], "portfolio"):
        assert got == pytest.approx((300.0, 300.0), rel=1e-12)


# ---- equity, excess, the predictive call ------------------------------------------------

def test_equity_is_cash_plus_market_value_and_excess_is_equity_less_maintenance() -> None:
    for eq, _, maintenance, excess, *_ in both([equity(100, 50.0), (1, 5_000.0, 50.0, 0.06)],
                                              "reg_t", cash=-200_000.0):
        assert eq == pytest.approx(-200_000.0 + 5_000.0 + 250_000.0, rel=1e-12)
        assert maintenance == pytest.approx(1_250.0 + 62_500.0, rel=1e-12)
        assert excess == pytest.approx(eq - maintenance, rel=1e-12)


def test_sigma_is_the_dollar_volatility_of_the_positions() -> None:
    # one position of 5,000 whose bar returns have variance 0.0004 (2% a bar): 100 USD
    for *_, sigma, _, _ in both([equity(100, 50.0)], "reg_t", cash=0.0, variances=[4e-4]):
        assert sigma == pytest.approx(100.0, rel=1e-12)


def test_excess_of_0_6745_sigma_sqrt_h_gives_probability_one_half_at_the_horizon() -> None:
    sigma = 100.0  # 5,000 at 2% a bar
    cash = 0.6745 * sigma * math.sqrt(H) + 1_250.0 - 5_000.0  # excess = 0.6745 sigma sqrt(H)
    for *_, excess, got_sigma, probability, to_call in both(
            [equity(100, 50.0)], "reg_t", cash=cash, variances=[4e-4]):
        assert excess == pytest.approx(0.6745 * sigma * math.sqrt(H), rel=1e-12)
        assert got_sigma == pytest.approx(sigma, rel=1e-12)
        assert probability == pytest.approx(0.5, abs=1e-4)  # 0.6745 is Phi^-1(0.75) to 4 dp
        assert to_call == pytest.approx(H * BAR_S, rel=1e-12)  # the horizon of p = 0.5


def test_excess_of_1_96_sigma_sqrt_h_gives_probability_0_05() -> None:
    cash = 1.96 * 100.0 * math.sqrt(H) + 1_250.0 - 5_000.0
    for *_, probability, _ in both([equity(100, 50.0)], "reg_t", cash=cash, variances=[4e-4]):
        assert probability == pytest.approx(2 * 0.0249979, rel=1e-5)  # 2 Phi(-1.96)


@pytest.mark.parametrize("cash", [-3_750.0, -4_500.0])  # excess 0 and -750
def test_excess_at_or_below_zero_gives_probability_one_and_no_time(cash: float) -> None:
    for *_, excess, _, probability, to_call in both([equity(100, 50.0)], "reg_t", cash=cash,
                                                    variances=[4e-4]):
        assert excess <= 0
        assert (probability, to_call) == (1.0, 0.0)


def test_an_account_without_volatility_has_probability_zero_and_infinite_time() -> None:
    for *_, sigma, probability, to_call in both([equity(100, 50.0)], "reg_t", cash=10_000.0):
        assert (sigma, probability, to_call) == (0.0, 0.0, math.inf)
