"""What the report draws, from hand-made outputs: period returns by month or day (against the
starting cash first), drawdown from the running peak, prices from bars made and bars read,
fills per side, VPIN, and the analytics engine's results as they are published."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import pytest

from processors import Emit
from streams.backtest import AccountSummary
from streams.report.data import period_returns, report_data
from tests.factories import event


def _ns(text: str) -> int:
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000_000


def _snapshot(when: str, equity: str) -> Emit:
    return Emit("logic.portfolio", "paper", event("PortfolioSnapshot", ts_event=_ns(when),
                                                  account="paper", equity=equity))


def _summary(cash: str = "1000") -> AccountSummary:
    return AccountSummary("paper", Decimal(cash), Decimal(cash))


def test_returns_by_month_take_each_month_s_last_equity_the_first_against_the_cash() -> None:
    outputs = {"logic.portfolio": [
        _snapshot("2024-01-10T10:00", "1010"), _snapshot("2024-01-31T23:59", "1100"),
        _snapshot("2024-02-01T00:00", "990"), _snapshot("2024-03-15T12:00", "1089")]}

    data = report_data(outputs, {}, [_summary()])
    returns = period_returns(data.accounts["paper"])

    assert returns.by == "month" and returns.rows == ["2024"]
    assert returns.cells == {("2024", "01"): pytest.approx(0.1),   # 1100 / 1000 - 1
                             ("2024", "02"): pytest.approx(-0.1),  # 990 / 1100 - 1
                             ("2024", "03"): pytest.approx(0.1)}   # 1089 / 990 - 1


def test_returns_of_a_run_within_one_month_are_by_day() -> None:
    outputs = {"logic.portfolio": [_snapshot("2024-05-02T15:00", "1020"),
                                   _snapshot("2024-05-06T15:00", "1000.2")]}

    returns = period_returns(report_data(outputs, {}, [_summary()]).accounts["paper"])

    assert returns.by == "day" and returns.rows == ["2024-05"]
    assert returns.cells == {("2024-05", "02"): pytest.approx(0.02),
                             ("2024-05", "06"): pytest.approx(-0.0194117647)}


def test_drawdown_is_the_fall_from_the_running_peak_the_cash_the_first_peak() -> None:
    outputs = {"logic.portfolio": [_snapshot(f"2024-01-0{d}T00:00", e) for d, e in
                                   enumerate(["950", "1100", "880", "1210"], 1)]}

    drawdown = report_data(outputs, {}, [_summary()]).accounts["paper"].drawdown

    assert drawdown.values == pytest.approx([-0.05, 0.0, -0.2, 0.0])


def test_prices_are_the_bars_made_and_the_bars_read_and_fills_are_split_by_side() -> None:
    made = event("Bar", symbol="AAA", ts_event=_ns("2024-01-02T00:01"), close="10.5")
    read = {"ts_event": np.array([_ns("2024-01-02T00:00")]),
            "symbol": np.array(["AAA"], dtype=object), "close": np.array([10.25])}
    fills = [event("Execution", symbol="AAA", side=side, price=price, account="paper",
                   exec_id=f"e{i}", ts_event=_ns("2024-01-02T00:02"))
             for i, (side, price) in enumerate([("buy", "10.5"), ("sell", "10.75")])]
    outputs = {"market.bars.1m": [Emit("market.bars.1m", "AAA", made)],
               "market.executions": [Emit("market.executions", "AAA", f) for f in fills]}

    data = report_data(outputs, {"market.bars.1m": read}, [_summary()])
    aaa = data.symbols["AAA"]

    assert aaa.closes.values.tolist() == [10.25, 10.5]  # in time order
    assert aaa.buys.values.tolist() == [10.5] and aaa.sells.values.tolist() == [10.75]
    assert aaa.vpin is None and not data.has_vpin_engine_output


def test_vpin_readings_with_a_value_are_drawn_beneath_the_symbol_s_prices() -> None:
    bar = event("Bar", symbol="AAA", ts_event=_ns("2024-01-02T00:01"), close="10.5")
    readings = [event("VpinReading", symbol="AAA", bucket=b, vpin=v, ts_event=_ns(t))
                for b, (v, t) in enumerate([(None, "2024-01-02T00:00"),
                                            (0.4, "2024-01-02T00:05")])]
    outputs = {"market.bars.1m": [Emit("market.bars.1m", "AAA", bar)],
               "logic.vpin": [Emit("logic.vpin", "AAA", r) for r in readings]}

    data = report_data(outputs, {}, [_summary()])

    assert data.has_vpin_engine_output
    vpin = data.symbols["AAA"].vpin
    assert vpin is not None and vpin.values.tolist() == [0.4]
    assert vpin.ts_ns.tolist() == [_ns("2024-01-02T00:05")]


def test_rolling_sharpe_and_the_final_performance_come_from_the_analytics_results() -> None:
    def result(name: str, when: str, final: bool, **values: float | None) -> Emit:
        return Emit("logic.analytics", "paper", event(
            "AnalyticsResult", account="paper", name=name, ts_event=_ns(when), final=final,
            periods=3, values=values))

    outputs = {"logic.analytics": [
        result("performance", "2024-01-03T00:00", False, sharpe=0.5),
        result("rolling", "2024-01-03T00:00", False, sharpe=1.5, max_drawdown=-0.1),
        result("rolling", "2024-01-04T00:00", False, sharpe=None, max_drawdown=0.0),
        result("performance", "2024-01-04T12:00", True, sharpe=0.75, sortino=None)]}

    account = report_data(outputs, {}, [_summary()]).accounts["paper"]

    assert account.performance == {"sharpe": 0.75, "sortino": None}
    assert account.rolling_sharpe.ts_ns.tolist() == [_ns("2024-01-03T00:00"),
                                                     _ns("2024-01-04T00:00")]
    assert account.rolling_sharpe.values[0] == 1.5 and np.isnan(account.rolling_sharpe.values[1])
