"""Every margin figure of many accounts at once, on the device: what the engine publishes
and what benchmarks/margin_throughput.py times (processors/margin/reference.py computes the
same numbers one account at a time with numpy, as the reference of both).

Rows are accounts (or one account's consistent states), columns instruments. Both methods
are computed for every row and each row takes its own (`portfolio`): branch-free, so one
batch of mixed accounts is one pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from processors.margin.methods import (
    call_probability,
    dollar_sigma,
    portfolio_scan,
    reg_t,
    row_dot,
    time_to_call_s,
)


@dataclass(frozen=True, slots=True)
class Figures:
    """Per row, [K] each: equity = cash + sum(quantity * mark * multiplier); initial and
    maintenance margin by the row's method; excess = equity - maintenance; sigma_usd = the
    dollar volatility per bar; the call probability within the horizon and the time to call
    (0 when excess <= 0, inf without volatility)."""

    equity: Tensor
    initial: Tensor
    maintenance: Tensor
    excess: Tensor
    sigma_usd: Tensor
    call_probability: Tensor
    time_to_call_s: Tensor


def figures(quantity: Tensor, mark: Tensor, multiplier: Tensor, scan_range: Tensor,
            covariance: Tensor, cash: Tensor, portfolio: Tensor, *, horizon_bars: int,
            bar_seconds: float) -> Figures:
    """`quantity` [K, N] (signed), `mark` [K, N] or [N], `multiplier` and `scan_range` [N],
    `covariance` [N, N] of the instruments' bar returns, `cash` [K], `portfolio` [K] bool
    (True: portfolio margin, False: Reg T)."""
    q = quantity.to(mark.dtype)
    unit = mark * multiplier  # the value of one unit of quantity
    equity = cash + row_dot(q, unit)
    reg_initial, reg_maintenance = reg_t(q, mark, multiplier)
    scan = portfolio_scan(q, mark, multiplier, scan_range)
    initial = scan.where(portfolio, reg_initial)
    maintenance = scan.where(portfolio, reg_maintenance)
    excess = equity - maintenance
    if unit.dim() == 1:  # v' S v = q' (u S u) q: no [K, N] of values
        sigma = dollar_sigma(q, unit[:, None] * covariance * unit[None, :])
    else:
        sigma = dollar_sigma(q * unit, covariance)
    return Figures(
        equity=equity, initial=initial, maintenance=maintenance, excess=excess,
        sigma_usd=sigma, call_probability=call_probability(excess, sigma, horizon_bars),
        time_to_call_s=time_to_call_s(excess, sigma, bar_seconds),
    )
