"""Factor catalog engine: named expressions over closed 1-minute bars, per symbol, per bar.

The catalog (factors.yaml at the repository root, or the `factors.catalog` parameter) names
each factor and gives its expression in Qlib's notation (processors/factors/expressions.py);
it ships Qlib's Alpha158. On every bar of market.bars.1m the engine evaluates every factor
at that bar and publishes one FactorVector on logic.factors, dated at the bar's end, with
`values` named as in the catalog. A factor is absent from the record (not NaN, not 0) until
the symbol has every bar it reads, and where its arithmetic gives no finite value.

Operators (N: a window of bars, the current one included, oldest first; every window
statistic needs N values):

- `Ref(x, N)`: x N bars ago. `Delta(x, N)`: x - Ref(x, N).
- `Mean`, `Sum`, `Max`, `Min`, `Med` (median) of x over N bars; `Std`, `Var`: sample
  (ddof 1); `Mad`: mean absolute deviation from the mean.
- `Quantile(x, N, q)`: linear interpolation at q * (N - 1) between the sorted values.
- `Rank(x, N)`: the current value's average rank among the window's (ties share the mean of
  their ranks) over N, in (0, 1]: pandas' rank(pct=True), Qlib's percentile.
- `IdxMax(x, N)`, `IdxMin(x, N)`: 1-based position of the first maximum / minimum, 1 the
  oldest bar.
- `Slope(x, N)`, `Rsquare(x, N)`, `Resi(x, N)`: least squares of x on 1..N: the slope, R²,
  and the current value less the line's value at N.
- `Corr(x, y, N)`: Pearson correlation; `Cov(x, y, N)`: sample covariance.
- `Corr` and `Rsquare` have no value where a series' sample std over the window is at most
  2e-5 (Qlib's guard against a flat window).
- Elementwise: `Abs`, `Log`, `Sign`, `Power(x, y)`, `Greater(x, y)` / `Less(x, y)` (the
  larger / smaller), `If(c, x, y)` (x where c is not 0); + - * /, a unary minus; the
  comparisons > < >= <= == != give 1.0 or 0.0.
- No value in, no value out: an operator of a missing value (before a symbol's first bars,
  `$vwap` of a bar read from an OHLCV file) has none, a comparison included.

State per symbol: the last `history` bars (the most any factor reads, the current one
included: 61 for Alpha158, whose CORD60 correlates 60 one-bar changes). Each value is
computed from its window alone, no running totals, so a value does not depend on what came
before its window or on how the stream was batched. Bars are applied one at a time in
arrival order per symbol; the n-th bars of a batch's symbols are evaluated together.
"""
