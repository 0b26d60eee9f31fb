"""Daily cross-sectional factor model, as toraniko 1.1.1 defines it (`nautilus-streams factors
model`).

Inputs: daily closes per symbol (rolled up from bar files: streams/feeds/daily_bars.py) and
reference data per symbol (sector, market cap, optionally book, sales and cash flow to
price: streams/feeds/reference.py). A symbol's daily return is close / its previous day's
close - 1 (NaN when it has no bar on either day). A day's cross-section is the symbols with a
bar that day and reference data.

Exposures, per day (processors/factor_model/styles.py; "standardized" is (x - mean) / sample
standard deviation over the day's cross-section):
- momentum: the returns r lagged by `momentum_lag` (20) days, compounded with exponential
  weights over `momentum_days` (504) days, prod(1 + w_k r_k) - 1, w_k = 2^(-age_k /
  `momentum_half_life` (126)) with age 0 for the newest return; only where all 504 exist;
  winsorized per day at `momentum_winsor` (1%, linear percentiles), then standardized;
- size: -log(market cap), standardized, then set to 0 strictly between the day's 20% and 80%
  quantiles (nearest rank; toraniko's small-minus-big tails);
- value (when the reference data has any of book/sales/cash flow to price): the mean of
  standardized log(book/price), log(sales/price) and cash-flow/price over those a symbol has,
  standardized;
- the market (1 for every symbol) and one dummy per sector (the sectors of the reference data
  of the symbols with bars, sorted by name).

Factor returns, per day with at least one symbol having a return and every style
(processors/factor_model/regression.py): returns winsorized at `returns_winsor` (5%) per day;
r = market + sector + u by weighted least squares with weights sqrt(market cap) and the
sector returns constrained to sum to zero; the styles regressed on u with the same weights
(styles residualized on market and sectors); residual return = u - styles x style returns.
Exposures and returns are of the same day, as in toraniko's `estimate_factor_returns`.

Factor covariance: EWMA of the daily factor return vectors, zero mean, weights halving every
`covariance_half_life` (90) days back from the last day and normalised to sum to 1.
"""

from processors.factor_model.model import (
    MARKET,
    STYLES,
    VALUE_DESCRIPTORS,
    DailyCloses,
    FactorModelResult,
    estimate,
    ewma_covariance,
    ewma_covariances,
)
from processors.factor_model.params import FactorModelParams

__all__ = ["MARKET", "STYLES", "VALUE_DESCRIPTORS", "DailyCloses", "FactorModelParams",
           "FactorModelResult", "estimate", "ewma_covariance", "ewma_covariances"]
