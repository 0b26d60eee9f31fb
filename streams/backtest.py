"""A backtest is a replay of the whole trading graph, and a summary of what it did.

`backtest_engines` is the graph: the market engines (bars, vpin and microstructure run when
the input carries trades or depth; a bar file feeds features directly), features, the `ml`
engine when the strategy reads predictions (and the factor catalog's engine, `factors`,
when the model it serves reads logic.factors), the strategy, pre-trade risk (its orders pass
`pretrade` on their way to the venue), paper execution, the portfolio, margin and analytics.
`summarize` reads the outputs of the run (market.executions, logic.portfolio,
logic.analytics) into one summary per account, the same numbers in the same order for the
same input:

- `starting_cash` (the portfolio engine's `cash`), `final_equity` (the account's last
  snapshot, or its starting cash when it never traded), `total_return` = final equity /
  starting cash - 1;
- `fills` (executions), `fees` (their commissions), `turnover` (sum of price * quantity);
- `max_drawdown`: the largest fall of equity from its running peak, as a fraction of that peak
  (0 when equity never falls; the starting cash is the first peak), over the snapshots the
  portfolio engine publishes (every fill and every bar close);
- `performance`: the values of the analytics engine's final `performance` result (empyrical's
  figures over the account's period returns, processors/analytics; its `max_drawdown` is over
  period equities and negative, as empyrical states it), and `performance_periods`, how many
  period returns they cover; null when the account has no portfolio snapshot.
Money stays exact (Decimal text); the ratios are floats.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streams.schema import AnalyticsResult, Execution, PortfolioSnapshot

if TYPE_CHECKING:
    from processors import Emit, Engine
    from processors.ml.params import MlParams

MARKET_ENGINES = ("bars", "vpin", "microstructure", "features")
ACCOUNTING_ENGINES = ("pretrade", "execution", "portfolio", "margin", "analytics")
EXECUTIONS_TOPIC = "market.executions"
PORTFOLIO_TOPIC = "logic.portfolio"
ANALYTICS_TOPIC = "logic.analytics"
PREDICTIONS_TOPIC = "logic.predictions"
FACTORS_TOPIC = "logic.factors"


def backtest_engines(strategy: type[Engine],
                     model_topics: Collection[str] = ()) -> list[type[Engine]]:
    """The engines of a backtest of `strategy`, upstream first; the `ml` engine too when the
    strategy reads its predictions (`ml_signal`), and `factors` when the served model's
    inputs come from logic.factors (`model_topics`: `served_model_topics`)."""
    from processors import ENGINES

    market = list(MARKET_ENGINES)
    if PREDICTIONS_TOPIC in strategy.inputs:
        market += [*(("factors",) if FACTORS_TOPIC in model_topics else ()), "ml"]
    return [*ENGINES.select(market), strategy, *ENGINES.select(list(ACCOUNTING_ENGINES))]


def served_model_topics(ml: MlParams) -> frozenset[str]:
    """The topics the inputs of the version of `ml.model` promoted in `ml.registry` come from
    (none without a model)."""
    if not ml.model:
        return frozenset()
    from processors.ml.registry import Registry

    return Registry(Path(ml.registry)).promoted_topics(ml.model)


@dataclass(slots=True)
class AccountSummary:
    """What one account did over a backtest (see the module docstring)."""

    account: str
    starting_cash: Decimal
    final_equity: Decimal
    fills: int = 0
    fees: Decimal = Decimal(0)
    turnover: Decimal = Decimal(0)
    max_drawdown: float = 0.0
    performance: dict[str, float | None] | None = None
    performance_periods: int = 0

    @property
    def total_return(self) -> float:
        return float(self.final_equity / self.starting_cash - 1)

    def as_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "starting_cash": format(self.starting_cash, "f"),
            "final_equity": format(self.final_equity, "f"),
            "total_return": self.total_return,
            "fills": self.fills,
            "fees": format(self.fees, "f"),
            "turnover": format(self.turnover, "f"),
            "max_drawdown": self.max_drawdown,
            "performance": self.performance,
            "performance_periods": self.performance_periods,
        }


def summarize(
    outputs: Mapping[str, list[Emit]], starting_cash: Decimal, accounts: tuple[str, ...] = (),
) -> list[AccountSummary]:
    """One summary per account that traded, or is named in `accounts`, sorted by account."""
    summaries = {a: AccountSummary(a, starting_cash, starting_cash) for a in accounts}

    def of(account: str) -> AccountSummary:
        return summaries.setdefault(account,
                                    AccountSummary(account, starting_cash, starting_cash))

    for emit in outputs.get(EXECUTIONS_TOPIC, []):
        fill = emit.value
        assert isinstance(fill, Execution)
        summary = of(fill.account)
        summary.fills += 1
        summary.fees += fill.commission
        summary.turnover += fill.price * fill.quantity
    peaks: dict[str, Decimal] = {}
    snapshots = sorted(outputs.get(PORTFOLIO_TOPIC, []), key=lambda e: e.value.ts_event)
    for emit in snapshots:  # stable: snapshots of one instant stay in emission order
        snapshot = emit.value
        assert isinstance(snapshot, PortfolioSnapshot)
        summary = of(snapshot.account)
        peak = max(peaks.get(snapshot.account, starting_cash), snapshot.equity)
        peaks[snapshot.account] = peak
        summary.final_equity = snapshot.equity
        if peak > 0:
            summary.max_drawdown = max(summary.max_drawdown, float(1 - snapshot.equity / peak))
    for emit in outputs.get(ANALYTICS_TOPIC, []):
        result = emit.value
        assert isinstance(result, AnalyticsResult)
        if result.final and result.name == "performance":
            summary = of(result.account)
            summary.performance, summary.performance_periods = result.values, result.periods
    return [summaries[a] for a in sorted(summaries)]


def summary_document(summaries: list[AccountSummary], run: Mapping[str, Any]) -> dict[str, Any]:
    """summary.json: what ran (strategy, inputs, parameters) and each account's summary."""
    return {**run, "accounts": [s.as_json() for s in summaries]}


def summary_lines(summaries: list[AccountSummary]) -> list[str]:
    """The short summary `backtest` prints, one line per account."""
    if not summaries:
        return ["no orders were filled: no account traded"]
    return [
        f"{s.account}: equity {s.starting_cash:,.2f} -> {s.final_equity:,.2f} "
        f"({s.total_return:+.4%}), {s.fills} fills, fees {s.fees:,.2f}, "
        f"turnover {s.turnover:,.2f}, max drawdown {s.max_drawdown:.4%}{_period_figures(s)}"
        for s in summaries
    ]


def _period_figures(summary: AccountSummary) -> str:
    """The Sharpe ratio and max drawdown of the period returns, as empyrical states them."""
    if summary.performance is None:
        return ""
    sharpe, drawdown = (summary.performance.get(k) for k in ("sharpe", "max_drawdown"))
    n = summary.performance_periods
    return (f"; {n} period{'' if n == 1 else 's'}: sharpe "
            f"{'n/a' if sharpe is None else f'{sharpe:.4f}'}, max drawdown "
            f"{'n/a' if drawdown is None else f'{drawdown:.4%}'}")
