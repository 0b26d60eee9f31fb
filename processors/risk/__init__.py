"""Portfolio risk per account: VaR, CVaR, stress losses and drawdown (logic.risk).

Inputs, keyed by account: logic.positions (each symbol's newest record: quantity and mark;
joined, so a replay hands an instant's positions over before its other inputs) and
logic.portfolio (equity, for the drawdown); market.bars.1m as a broadcast input, folded into
per-period return vectors of every symbol and their EWMA covariance (processors/kit/returns.py;
broadcast-derived, rebuilt by re-reading the bars, never snapshotted); logic.factor.returns
and logic.factor.exposures (the daily factor model's records, `nautilus-streams factors model
--publish`) as broadcast inputs too, of which the model named `factor_model` keeps its newest
covariance and each symbol's newest exposures (processors/risk/factor.py; broadcast-derived
as well).

Figures, from the dollar values v = quantity x mark of the account's open positions (a
position without a mark is valued at its average price), as losses in USD (positive = a loss),
each one-bar figure scaled to `horizon_bars` by sqrt(horizon_bars) (the report says so:
`scaling`, `horizon_bars`, `bar_seconds`):
- historical VaR and CVaR at 95% and 99% over the last `window` return vectors r_k, P&L_k =
  v . r_k, read as an empirical tail (processors/risk/measures.py: VaR the empirical quantile
  of the losses, CVaR the mean of the worst 1 - a of them, Acerbi and Tasche);
  `window_bars` is the number of vectors used;
- parametric VaR, RiskMetrics: z_a x sqrt(v' S v), zero mean, S the EWMA covariance (lambda
  0.94) with its weights over the periods seen normalised to sum to 1 (processors/kit/
  returns.py: pandas' `ewm(alpha=0.06, adjust=True)` of the products r_i r_j; the recursion
  from zero alone would give them 1 - 0.94^n, understating a short history: by 46% of the
  variance after 10 bars; the margin engine's sigma_usd reads the same estimate);
- Monte Carlo VaR: `mc_scenarios` return vectors from N(0, S), drawn on the engine's device
  with a generator seeded by (`seed`, account, ts_event) (the same report draws the same
  scenarios however the input was batched; another device's generator draws others), S
  factored by eigendecomposition, so a singular S is fine;
- factor VaR: z_a x sqrt(x'B C B'x + sum_i x_i^2 s_i) x sqrt(`factor_horizon_days`), x = v,
  B the positions' exposures (market 1, sector dummy, styles), C the model's newest daily
  factor covariance, s_i the specific variances (processors/risk/factor.py): a loss over
  `factor_horizon_days` days (the report's `factor_horizon_days`), not over bars, since its
  inputs are daily. None while the model has published no covariance, when a position's
  symbol has no exposures of the model, or when its exposures name a factor the newest
  covariance does not have; it needs no bars (`min_bars` does not apply);
- stress: each scenario's loss -sum(v x shock) (processors/risk/stress.py), not scaled;
  `worst_stress` the largest;
- drawdown: (peak - equity) / peak, the fall of the newest equity (logic.portfolio) from the
  highest equity the account had at the end of an instant (its last snapshot of that
  ts_event: the ones in between, one symbol re-marked and another not yet, are no equity
  the account had), so it does not depend on when reports went out.
VaR figures are None until `min_bars` return vectors are in (the window for the historical
ones, the EWMA for the others): with fewer, a 99% quantile is a guess. A symbol's return is 0
in the periods before its second bar (no earlier close), so a position in a symbol new to the
bars carries little VaR until it has a history; stress losses do not depend on history.

When: a report per account when its positions or equity changed, once event time has passed
the instant that changed them (every input dated at or before it has arrived; in a replay:
one report per account and instant), dated at the newest ts_event applied. It sees the returns
of every bar dated at or before its time (the bar period that ends then included) and none
later: a bar dated after a pending report's time sends the report out before it is applied;
so do factor records (dated at the end of their day), so a report sees the factor model as of
the newest day that ended at or before its time. A new factor covariance alone sends no
report: the next change of the account's positions or equity does.
A worker sends a pending report out when its clock passes the instant (NAUTILUS_CLOCK_TICK_MS);
there a record that arrives after later bars (its topic lagging the bars) is reported with
the returns known by then, and a record of an instant already reported reports it again
(the sink keeps the newer).

Limits (`var_limit` on `var_measure`, `stress_limit` on worst_stress, `drawdown_limit`; per
account or a default; off when unset) raise an Alert on logic.risk.alerts (kind `var_limit`,
`stress_limit` or `drawdown_limit`, symbol None, keyed by account) when a report's figure is
over the limit, and clear it once the figure is below `clear_ratio` x the limit
(processors/risk/limits.py; id `<kind>:<account>:<ts_event of the raising report>`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from processors.risk.params import RiskParams

if TYPE_CHECKING:
    from processors.risk.engine import RiskEngine


def __getattr__(attr: str) -> type[RiskEngine]:
    """`RiskEngine` is imported on first use: it needs torch, its parameters do not."""
    if attr == "RiskEngine":
        from processors.risk.engine import RiskEngine

        return RiskEngine
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = ["RiskEngine", "RiskParams"]
