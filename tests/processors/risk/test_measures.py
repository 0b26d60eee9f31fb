"""VaR and CVaR against their published definitions (processors/risk/measures.py).

Historical: the empirical a-quantile of the losses (the smallest loss with at least a share a
of the losses at or below it: numpy's `inverted_cdf`) and Acerbi and Tasche's (2002)
empirical expected shortfall, worked by hand on series whose sorted losses are known.
Parametric: RiskMetrics' z x sqrt(v' S v), z_95 = 1.6449, z_99 = 2.3263 (the standard normal
quantiles to four decimals). Monte Carlo: the quantile of 10,000 draws of N(0, S) sits within
a stated tolerance of the parametric figure.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

import numpy as np
import pytest
import torch

from processors.risk.measures import (
    LEVELS,
    covariance_factor,
    historical_pnl,
    parametric_var,
    simulated_pnl,
    tail,
)

F64 = torch.float64


def pnl_of(values: list[float]) -> torch.Tensor:
    shuffled = list(values)
    random.Random(5).shuffle(shuffled)  # the order of the sample does not matter
    return torch.tensor(shuffled, dtype=F64)


def generator(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_250_losses_of_100_down_to_minus_149_by_hand() -> None:
    # P&L -100, -99, ..., 149: the losses, worst first, are 100, 99, 98, ...
    pnl = pnl_of([float(i - 100) for i in range(250)])

    # 99%: n (1 - a) = 2.5 -> VaR the 3rd worst loss, CVaR (100 + 99 + 0.5 x 98) / 2.5
    assert tail(pnl, LEVELS[99]) == pytest.approx((98.0, 248 / 2.5))
    # 95%: n (1 - a) = 12.5 -> VaR the 13th worst, CVaR (100 + ... + 89 + 0.5 x 88) / 12.5
    assert tail(pnl, LEVELS[95]) == pytest.approx((88.0, (sum(range(89, 101)) + 44) / 12.5))


def test_a_share_that_is_a_whole_number_takes_the_next_loss_as_var() -> None:
    # n = 20 at 95%: n (1 - a) = 1 exactly: VaR is the 2nd worst (19 of 20 losses are at or
    # below it), CVaR the mean of the worst 1 loss; at 99%, 0.2 of a loss: the worst for both
    losses = [30.0, 20.0, 10.0, *[float(-i) for i in range(17)]]
    pnl = pnl_of([-x for x in losses])

    assert tail(pnl, LEVELS[95]) == pytest.approx((20.0, 30.0))
    assert tail(pnl, LEVELS[99]) == (30.0, 30.0)  # exactly: no ulp between them


@pytest.mark.parametrize("n", [1, 7, 20, 99, 100, 101, 250, 1000])
@pytest.mark.parametrize("pct", [95, 99])
def test_var_is_numpys_inverted_cdf_quantile_of_the_losses(n: int, pct: int) -> None:
    rng = np.random.default_rng(n)
    pnl = rng.standard_t(4, size=n) * 1_000

    var, cvar = tail(torch.tensor(pnl), LEVELS[pct])

    losses = -pnl
    assert var == pytest.approx(np.quantile(losses, pct / 100, method="inverted_cdf"))
    # the tail's mean weighs n (1 - a) losses: the worst ones, the last one partly
    share = n * (1 - Fraction(pct, 100))
    worst = np.sort(losses)[::-1]
    whole = math.floor(share)
    expected = (worst[:whole].sum() + float(share - whole) * worst[whole]) / float(share)
    assert cvar == pytest.approx(expected)
    assert cvar >= var


def test_historical_pnl_revalues_todays_positions_on_each_past_return() -> None:
    value = torch.tensor([1_000.0, -500.0], dtype=F64)
    history = torch.tensor([[0.01, 0.02], [-0.03, 0.01], [0.0, -0.04]], dtype=F64)

    assert historical_pnl(value, history).tolist() == pytest.approx([0.0, -35.0, 20.0])


def test_parametric_var_is_z_times_the_dollar_sigma() -> None:
    # two assets, vol 2% and 1% per bar, correlation 0.5; $10,000 long and $4,000 short:
    # dollar sigmas 200 and 40, variance 200^2 + 40^2 - 2 x 0.5 x 200 x 40 = 33,600
    covariance = torch.tensor([[0.02**2, 0.5 * 0.02 * 0.01], [0.5 * 0.02 * 0.01, 0.01**2]],
                              dtype=F64)
    value = torch.tensor([10_000.0, -4_000.0], dtype=F64)
    sigma = math.sqrt(33_600)

    assert parametric_var(value, covariance, 95) == pytest.approx(1.6449 * sigma, rel=1e-4)
    assert parametric_var(value, covariance, 99) == pytest.approx(2.3263 * sigma, rel=1e-4)


def test_monte_carlo_var_is_within_5_percent_of_the_parametric_one_and_repeats() -> None:
    # With 10,000 draws the standard error of the empirical quantile is
    # sqrt(a (1 - a) / n) / phi(z_a) sigma: 1.3% of VaR_95 and 1.6% of VaR_99 relative;
    # the tolerance is 3 standard errors at 99% (4 at 95%), and the seed fixes the draw.
    covariance = torch.tensor([[4e-4, 1e-4, 0.0], [1e-4, 1e-4, 2e-5], [0.0, 2e-5, 9e-4]],
                              dtype=F64)
    value = torch.tensor([10_000.0, -4_000.0, 2_500.0], dtype=F64)

    pnl = simulated_pnl(value, covariance, 10_000, generator(42))

    for pct, level in LEVELS.items():
        assert tail(pnl, level)[0] == pytest.approx(parametric_var(value, covariance, pct),
                                                    rel=0.05)
    assert torch.equal(pnl, simulated_pnl(value, covariance, 10_000, generator(42)))
    assert not torch.equal(pnl, simulated_pnl(value, covariance, 10_000, generator(43)))


def test_a_singular_covariance_is_simulated_in_the_space_it_spans() -> None:
    # two perfectly correlated assets and one without any return (rank 1): a hedged pair
    # (long one, short the same dollars of its twin) has no risk, the other leg all of it
    sigma = 0.02
    covariance = torch.tensor([[sigma**2, sigma**2, 0.0], [sigma**2, sigma**2, 0.0],
                               [0.0, 0.0, 0.0]], dtype=F64)
    with pytest.raises(torch.linalg.LinAlgError):
        torch.linalg.cholesky(covariance)
    hedged = torch.tensor([5_000.0, -5_000.0, 7_000.0], dtype=F64)
    outright = torch.tensor([5_000.0, 0.0, 0.0], dtype=F64)

    factor = covariance_factor(covariance)

    assert torch.allclose(factor @ factor.T, covariance, atol=1e-15)
    assert simulated_pnl(hedged, covariance, 10_000, generator()).abs().max() < 1e-9
    mc = tail(simulated_pnl(outright, covariance, 10_000, generator()), LEVELS[99])[0]
    assert mc == pytest.approx(2.3263 * 5_000 * sigma, rel=0.05)
