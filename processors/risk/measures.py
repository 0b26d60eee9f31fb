"""VaR and CVaR of one account's positions, on torch tensors on the engine's device.

`value` [k] is the account's dollar positions (quantity x mark), `covariance` [k, k] the
EWMA covariance of their one-bar returns, `history` [n, k] their last n return vectors. All
figures are one-bar losses in USD (positive = a loss); the engine scales them to the horizon.

- Empirical tail (historical and Monte Carlo), Acerbi and Tasche (2002), "On the coherence
  of expected shortfall": losses L = -P&L sorted worst first, L[1] >= ... >= L[n];
  w = floor(n (1 - a)). VaR_a = L[w + 1], the empirical a-quantile of the losses (the smallest
  l with a share of at least a of the losses <= l; numpy's `quantile(method="inverted_cdf")`).
  CVaR_a = (L[1] + ... + L[w] + (n (1 - a) - w) L[w + 1]) / (n (1 - a)): the mean loss over
  the worst 1 - a of the sample, a fraction of L[w + 1] filling it up. With n = 250: VaR_99 is
  the 3rd worst loss and CVaR_99 = (L[1] + L[2] + 0.5 L[3]) / 2.5; VaR_95 the 13th worst and
  CVaR_95 the mean of the 12 worst and half the 13th over 12.5.
- Parametric (RiskMetrics, zero mean): VaR_a = z_a sqrt(v' S v), z_95 = 1.6449, z_99 = 2.3263.
- Monte Carlo: `scenarios` return vectors drawn from N(0, S) with the caller's seeded
  generator, S factored by its eigendecomposition (S = Q E Q', draws Q sqrt(E) z), which takes
  a singular S (fewer returns than symbols, a symbol without returns) as it is: the draws
  stay in the space S spans. The simulated P&L's tail is read as the historical one's. The
  standard normals are drawn in float32 (on a CPU six times faster than float64; their
  rounding, 6e-8 relative, is far below the estimate's sampling error of about 1%).
"""

from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist

import torch
from torch import Tensor

from processors.margin.methods import dollar_sigma

LEVELS = {95: Fraction(95, 100), 99: Fraction(99, 100)}
Z = {pct: NormalDist().inv_cdf(float(level)) for pct, level in LEVELS.items()}


def tail(pnl: Tensor, level: Fraction) -> tuple[float, float]:
    """(VaR, CVaR) at `level` of a P&L sample [n], n >= 1 (module docstring)."""
    share = len(pnl) * (1 - level)  # exact: n (1 - a) as a fraction
    whole = math.floor(share)
    losses = torch.topk(-pnl, whole + 1).values  # the worst whole + 1, worst first
    var = losses[whole]
    if whole == 0:  # the tail is within the worst loss: both are it, exactly
        return float(var), float(var)
    cvar = (losses[:whole].sum() + float(share - whole) * var) / float(share)
    return float(var), max(float(cvar), float(var))  # >= VaR exactly, not just to an ulp


def historical_pnl(value: Tensor, history: Tensor) -> Tensor:
    """P&L of today's positions on each past return vector, [n]: history @ value."""
    return history @ value


def parametric_var(value: Tensor, covariance: Tensor, level: int) -> float:
    """RiskMetrics VaR at `level` (95 or 99): z x sqrt(v' S v)."""
    return Z[level] * float(dollar_sigma(value[None, :], covariance)[0])


def covariance_factor(covariance: Tensor) -> Tensor:
    """F [k, k] with F F' = the positive semi-definite part of S: Q sqrt(max(E, 0)).

    Decomposed on the CPU in float64 (small: one account's symbols; the same on every device,
    and MPS has no eigh), then moved to S's device and dtype."""
    eigenvalues, vectors = torch.linalg.eigh(covariance.detach().to("cpu", torch.float64))
    factor = vectors * eigenvalues.clamp(min=0).sqrt()
    return factor.to(covariance.device, covariance.dtype)


def simulated_pnl(value: Tensor, covariance: Tensor, scenarios: int,
                  generator: torch.Generator) -> Tensor:
    """P&L of `scenarios` return vectors r = F z, z ~ N(0, I), [scenarios]: (F z) . v."""
    factor = covariance_factor(covariance)
    z = torch.randn((scenarios, len(value)), generator=generator, dtype=torch.float32,
                    device=value.device)
    return z.to(value.dtype) @ (factor.T @ value)
