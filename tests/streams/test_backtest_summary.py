"""The backtest summary from a run's executions and portfolio snapshots, computed by hand."""

from __future__ import annotations

from decimal import Decimal

from processors import Emit
from streams.backtest import summarize, summary_lines
from tests.factories import MINUTE_NS, T0, event


def _fill(n: int, price: str, quantity: int, fee: str, account: str = "paper") -> Emit:
    value = event("Execution", ts_event=T0 + n * MINUTE_NS, exec_id=f"o-{n}-1",
                  order_id=f"o-{n}", account=account, price=price, quantity=quantity,
                  commission=fee)
    return Emit("market.executions", value.symbol, value)


def _equity(n: int, equity: str, account: str = "paper") -> Emit:
    value = event("PortfolioSnapshot", ts_event=T0 + n * MINUTE_NS, account=account,
                  equity=equity)
    return Emit("logic.portfolio", account, value)


def test_summary_counts_fills_fees_turnover_and_the_deepest_fall_from_a_peak() -> None:
    outputs = {
        "market.executions": [_fill(1, "100.50", 10, "0.10"), _fill(3, "99.00", 4, "0.04")],
        # equity 1000 (start) -> 1100 -> 990 -> 1050 -> 880 -> 1000: peak 1100, trough 880
        "logic.portfolio": [_equity(n, e) for n, e in
                            enumerate(["1100", "990", "1050", "880", "1000.5"], 1)],
    }

    (summary,) = summarize(outputs, Decimal(1000))

    assert summary.fills == 2
    assert summary.fees == Decimal("0.14")
    assert summary.turnover == Decimal("1005.00") + Decimal("396.00")
    assert summary.final_equity == Decimal("1000.5")
    assert summary.total_return == 0.0005
    assert summary.max_drawdown == 0.2  # (1100 - 880) / 1100


def test_an_account_that_never_traded_keeps_its_cash_and_is_still_reported() -> None:
    (summary,) = summarize({}, Decimal(1_000_000), accounts=("paper",))

    assert (summary.final_equity, summary.total_return, summary.fills) == (1_000_000, 0.0, 0)
    assert summary.max_drawdown == 0.0
    assert summary_lines([summary])[0].startswith("paper: equity 1,000,000.00 -> 1,000,000.00")


def test_accounts_are_summarised_apart_and_in_name_order() -> None:
    outputs = {"market.executions": [_fill(1, "10", 1, "0", "zeta"), _fill(2, "10", 2, "0")],
               "logic.portfolio": [_equity(1, "900", "zeta"), _equity(2, "1200")]}

    summaries = summarize(outputs, Decimal(1000))

    assert [(s.account, s.fills, s.final_equity, s.max_drawdown) for s in summaries] == [
        ("paper", 1, Decimal(1200), 0.0), ("zeta", 1, Decimal(900), 0.1)]


def _analytics(ts: int, values: dict, final: bool, periods: int = 3) -> Emit:
    value = event("AnalyticsResult", ts_event=ts, account="paper", name="performance",
                  periods=periods, final=final, values=values)
    return Emit("logic.analytics", "paper", value)


def test_the_final_performance_result_is_the_accounts_performance() -> None:
    outputs = {"logic.portfolio": [_equity(1, "1100")],
               "logic.analytics": [
                   _analytics(T0, {"sharpe": 0.5, "max_drawdown": -0.01}, final=False),
                   _analytics(T0 + MINUTE_NS, {"sharpe": 1.25, "max_drawdown": -0.0123,
                                               "sortino": None}, final=True, periods=4)]}

    (summary,) = summarize(outputs, Decimal(1000))

    assert summary.as_json()["performance"] == {"sharpe": 1.25, "max_drawdown": -0.0123,
                                                "sortino": None}
    assert summary.as_json()["performance_periods"] == 4
    assert summary_lines([summary])[0].endswith(
        "; over 4 period returns: sharpe 1.2500, max drawdown -1.2300%")


def test_without_analytics_the_performance_is_null_and_not_printed() -> None:
    (summary,) = summarize({}, Decimal(1000), accounts=("paper",))

    assert summary.as_json()["performance"] is None
    assert summary_lines([summary])[0].endswith("max drawdown 0.0000%")
