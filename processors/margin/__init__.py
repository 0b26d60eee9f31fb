"""Margin per account and the predictive margin call (logic.margin, logic.risk.alerts).

Inputs: logic.positions (the portfolio engine's Position per fill and per bar that moves a
mark; joined, so a replay delivers an instant's positions before the snapshot of that
instant), logic.portfolio (its PortfolioSnapshot: cash, net and gross exposure) and
market.bars.1m (broadcast: bar returns for the EWMA covariance, processors/kit/returns.py).

Definition, with the parameters of `MarginParams`:

1. The book (book.py): per account the newest Position of each symbol (quantity, mark) and
   the newest snapshot. A state is published when the snapshot reflects the positions (it is
   at least as new as each, and its net and gross exposure equal sum(quantity * mark) and
   sum(|quantity * mark|) over them), at most once per snapshot. In a replay that is once
   per instant that moved the account: the instant's positions come first, and only its
   last snapshot reflects them all (the portfolio engine publishes one per position it
   moves). In a live worker, where the two topics arrive independently, a snapshot that
   comes before its positions waits for them. Nothing inconsistent is published.
2. Per instrument (instruments.py, `instruments`): a multiplier (default 1), asset class and
   scan range (equities 0.15; futures their own). Market value = quantity * mark *
   multiplier; equity = cash + sum(market value).
3. Method per account (`method`, key `default` plus per-account entries), methods.py:
   `reg_t` (Reg T / FINRA 4210): initial = 50% of |market value|; maintenance = 25% of a
   long's value; a short's max(30% of |value|, 5 USD per share) at prices >= 5 USD,
   max(100% of |value|, 2.50 USD per share) below. `portfolio` (FINRA portfolio margin,
   TIMS-style): all positions move together by -100, -80, ..., +100% of their scan range
   (equities -15 ... +15%); the requirement is the largest loss over the ten points (0 if
   none loses), both initial and maintenance. excess_liquidity = equity - maintenance.
4. sigma_usd = sqrt(v' S v), v the dollar positions (market values), S the EWMA covariance
   (lambda `ewma_lambda`, RiskMetrics 0.94) of the bars' per-period returns, up to the bars
   read so far, its weights normalised to sum to 1 (processors/kit/returns.py; the risk
   engine's parametric VaR reads the same estimate);
   call_probability = min(1, 2 Phi(-excess / (sigma_usd sqrt(H)))), H =
   `horizon_bars` (1 when excess <= 0, 0 without volatility); time_to_call_s = bar seconds *
   (excess / (0.6745 sigma_usd))^2, the horizon at which that probability is 0.5 (0 when
   excess <= 0, None without volatility).
5. Alerts (alerts.py): `margin_call` raised when excess < 0, cleared at >= 0;
   `margin_call_predicted` raised when call_probability >= `predicted_raise`, cleared below
   `predicted_clear`; symbol None, keyed by account, ids `<kind>:<account>:<ts_event>` of the
   raising state.

Outputs are dated at the snapshot's ts_event. Money fields (equity, initial and maintenance
margin, excess liquidity) are computed in the device's float (float64 but on MPS) and
published as Decimal rounded to the cent; sigma_usd, call_probability and time_to_call_s to
12 significant digits (their last bits depend on the order of the sums, which the shape of
a batch may change). reference.py computes the same figures one account at a time (numpy),
the reference of the tests and of benchmarks/margin_throughput.py.
"""
