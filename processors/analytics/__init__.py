"""Performance analytics per account: returns of periods of equity (logic.analytics).

Inputs, keyed by account: logic.portfolio (the account's equity and gross exposure) and
market.executions (its fills, re-keyed by account as the portfolio engine's are).

Returns: periods of `period_seconds` on the UTC epoch grid, each covering (end - P, end]; a
period's equity is the equity of its last snapshot (the newest by ts_event); a period without
a snapshot is skipped (no return; the next return spans it); the first return is against the
starting cash, equity - realized P&L - unrealized P&L of the account's first snapshot (exact:
the portfolio engine keeps equity - starting cash = realized + unrealized).

Results (AnalyticsResult, keyed by account): at each period end (once time passes it, or a
snapshot of a later period arrives), dated at the period end, `performance` over every
closed period's return and, once there are `rolling_periods` returns, `rolling` (Sharpe
ratio and max drawdown of the newest `rolling_periods` returns); at the end of input
(`flush`), `performance` with the open period counted, `final`, dated at the account's last
snapshot. The figures (processors/analytics/metrics.py) are empyrical's and quantstats',
annualized with `periods_per_year`, plus `fills`, `fees` (their commissions), `turnover`
(sum of price x quantity) of the fills dated at or before the result's period end (all of
them in the final result), and `exposure`, the mean over the periods of gross exposure /
equity at the period's end.

A snapshot of a period already closed (a live worker's late arrival, after time passed the
period's end) is logged and ignored; a late fill counts in the next result. A fill
delivered twice counts once (processors/kit/applied.py).
"""

from processors.analytics.engine import AnalyticsEngine
from processors.analytics.params import AnalyticsParams

__all__ = ["AnalyticsEngine", "AnalyticsParams"]
