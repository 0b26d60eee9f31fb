"""Margin requirements and the predictive margin call, for many accounts at once.

Every function takes one row per account and one column per instrument (torch tensors on
the engine's device; floats in the device's widest float): `quantity` [A, N] (signed),
`mark` [N] or [A, N], `multiplier` [N]. Market value = quantity * mark * multiplier.

- `reg_t` (Regulation T and FINRA Rule 4210, strategy-based): initial = 50% of |market
  value| for longs and shorts; maintenance = 25% of market value for longs; for shorts
  max(30% of |market value|, 5 USD per share) at prices >= 5 USD and max(100% of |market
  value|, 2.50 USD per share) below 5 USD.
- `portfolio_scan` (FINRA portfolio margin, TIMS-style): all positions move together by each
  scan point, -15, -12, -9, -6, -3, +3, +6, +9, +12, +15 % for equities (`scan_range` 0.15);
  an instrument with another scan range (a future, from the instruments file) moves by its
  range times point / 15%; the requirement is the largest loss over the points, 0 if none
  loses.
- `call_probability` / `time_to_call_s`: excess liquidity as a driftless Brownian motion
  with `sigma_usd` per bar; the probability that it touches zero within H bars is
  min(1, 2 * Phi(-excess / (sigma_usd * sqrt(H)))) (reflection principle; 1 when excess <= 0),
  and it reaches 0.5 at H = (excess / (0.6745 * sigma_usd))^2 bars.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

EQUITY_SCAN_RANGE = 0.15
SCAN_POINTS = (-1.0, -0.8, -0.6, -0.4, -0.2, 0.2, 0.4, 0.6, 0.8, 1.0)  # of the scan range
MEDIAN_Z = 0.6745  # Phi^-1(0.75): 2 * Phi(-x) = 0.5 at x = 0.6745


def market_value(quantity: Tensor, mark: Tensor, multiplier: Tensor) -> Tensor:
    """Signed market value per account and instrument, [A, N]."""
    return quantity.to(mark.dtype) * mark * multiplier


def row_dot(quantity: Tensor, per_unit: Tensor) -> Tensor:
    """Per account, sum over instruments of quantity * per_unit, [A]: a matrix-vector
    product when `per_unit` is the same for every account ([N]), so no [A, N] temporary."""
    return quantity @ per_unit if per_unit.dim() == 1 else (quantity * per_unit).sum(-1)


def short_requirement_per_share(mark: Tensor) -> Tensor:
    """Reg T short maintenance per share (per unit of quantity times multiplier):
    max(30% of the price, 5 USD) at prices >= 5 USD, max(the price, 2.50 USD) below."""
    return torch.where(mark >= 5.0, (0.30 * mark).clamp(min=5.0), mark.clamp(min=2.5))


def reg_t(quantity: Tensor, mark: Tensor, multiplier: Tensor) -> tuple[Tensor, Tensor]:
    """(initial, maintenance) per account, [A] each, under Reg T / FINRA 4210.

    Per position |market value| = |quantity| * mark * multiplier, and a short's requirement
    max(30% of it, 5 USD per share) = shares * multiplier * max(30% of the mark, 5 USD) (below
    5 USD likewise), so every sum is a product of the long or short quantities with a
    per-instrument vector."""
    q = quantity.to(mark.dtype)
    longs, shorts = q.clamp(min=0), (-q).clamp(min=0)
    unit = mark * multiplier
    long_value = row_dot(longs, unit)
    short_value = row_dot(shorts, unit)
    short_maintenance = row_dot(shorts, short_requirement_per_share(mark) * multiplier)
    return 0.5 * (long_value + short_value), 0.25 * long_value + short_maintenance


def scan_moves(scan_range: Tensor) -> Tensor:
    """Each instrument's relative price move at each scan point, [N, 10]."""
    points = torch.as_tensor(SCAN_POINTS, dtype=scan_range.dtype, device=scan_range.device)
    return scan_range[:, None] * points[None, :]


def portfolio_scan(quantity: Tensor, mark: Tensor, multiplier: Tensor,
                   scan_range: Tensor) -> Tensor:
    """The portfolio-margin requirement per account, [A]: the largest loss over the scan
    points (0 if no point loses)."""
    moves = scan_moves(scan_range)  # [N, 10]
    unit = mark * multiplier
    if unit.dim() == 1:  # the same marks for every account: one product, [A, N] @ [N, 10]
        pnl = quantity.to(mark.dtype) @ (unit[:, None] * moves)
    else:
        pnl = market_value(quantity, mark, multiplier) @ moves
    return (-pnl).amax(-1).clamp(min=0)


def call_probability(excess: Tensor, sigma_usd: Tensor, horizon_bars: int) -> Tensor:
    """P(excess liquidity touches 0 within `horizon_bars` bars), [A]."""
    scale = sigma_usd * math.sqrt(horizon_bars)
    ratio = torch.where(scale > 0, excess / torch.where(scale > 0, scale, 1.0),
                        torch.full_like(excess, math.inf))
    p = torch.clamp(2.0 * torch.special.ndtr(-ratio), max=1.0)
    return torch.where(excess <= 0, torch.ones_like(p), p)


def time_to_call_s(excess: Tensor, sigma_usd: Tensor, bar_seconds: float) -> Tensor:
    """Seconds until the call probability reaches 0.5, [A]: 0 when excess <= 0, inf when the
    account has no volatility."""
    safe = torch.where(sigma_usd > 0, sigma_usd, 1.0)
    t = bar_seconds * (excess / (MEDIAN_Z * safe)) ** 2
    t = torch.where(sigma_usd > 0, t, torch.full_like(t, math.inf))
    return torch.where(excess <= 0, torch.zeros_like(t), t)


def dollar_sigma(value: Tensor, covariance: Tensor) -> Tensor:
    """Each account's dollar volatility per bar, sqrt(v' Sigma v), [A]; `value` [A, N] the
    dollar positions, `covariance` [N, N] of the instruments' bar returns."""
    variance = ((value @ covariance) * value).sum(-1)
    return variance.clamp(min=0).sqrt()
