"""The analytics engine over PortfolioSnapshots spanning several UTC days: the period equity
series it builds (the last snapshot of each day, days without one skipped, the first return
against the starting cash) and the figures it publishes, equal to empyrical's on that series.
"""

from __future__ import annotations

import empyrical
import numpy as np
import pytest
import torch

from processors import ENGINES, Emit
from processors.analytics import AnalyticsEngine, AnalyticsParams
from streams.clock import TestClock
from tests.factories import columns, event
from tests.processors.analytics.test_metrics import assert_equal_to_empyrical, returns_of

HOUR_NS = 3_600_000_000_000
DAY_NS = 24 * HOUR_NS
D0 = 1_704_067_200 * 1_000_000_000  # 2024-01-01T00:00:00Z
START = 1000.0  # equity - realized - unrealized of every snapshot below


def snapshot(ts: int, equity: float, gross: float = 500.0, account: str = "ACC1"):
    unrealized = 2.5
    return event("PortfolioSnapshot", ts_event=ts, ts_init=ts, account=account,
                 equity=str(equity), gross_exposure=str(gross),
                 unrealized_pnl=str(unrealized), realized_pnl=str(equity - START - unrealized))


def fill(ts: int, n: int, price: str, quantity: int, fee: str, account: str = "ACC1"):
    return event("Execution", ts_event=ts, ts_init=ts, exec_id=f"o-{n}-1", order_id=f"o-{n}",
                 account=account, price=price, quantity=quantity, commission=fee)


def engine(**params: int) -> AnalyticsEngine:
    return AnalyticsEngine(AnalyticsParams(**params), TestClock(0), torch.device("cpu"))


def feed(engine: AnalyticsEngine, executions: list, snapshots: list) -> list[Emit]:
    out = engine.process("market.executions", columns("Execution", executions))
    return out + engine.process("logic.portfolio", columns("PortfolioSnapshot", snapshots))


# Day 1: two snapshots, the later one counts. Day 2: none (skipped). Day 3: its last snapshot
# is exactly at its end (a period is (end - 1 day, end]). Day 4: flat. Day 5: a late
# snapshot, older than the one before it, changes nothing. Day 6: open at the end of input.
SNAPSHOTS = [
    snapshot(D0 + 3 * HOUR_NS, 1010, gross=400), snapshot(D0 + 20 * HOUR_NS, 1005, gross=800),
    snapshot(2 * DAY_NS + D0 + HOUR_NS, 990, gross=100),
    snapshot(3 * DAY_NS + D0, 1020, gross=510),
    snapshot(3 * DAY_NS + D0 + 1, 1020, gross=0),
    snapshot(4 * DAY_NS + D0 + 12 * HOUR_NS, 1001.5, gross=1001.5),
    snapshot(4 * DAY_NS + D0 + 6 * HOUR_NS, 999, gross=999),
    snapshot(5 * DAY_NS + D0 + 2 * HOUR_NS, 1030, gross=206),
]
PERIOD_EQUITIES = [1005, 1020, 1020, 1001.5]  # the closed days 1, 3, 4, 5
EXPOSURES = [800 / 1005, 510 / 1020, 0, 1]
FILLS = [fill(D0 + HOUR_NS, 1, "100.5", 10, "0.10"), fill(DAY_NS + D0, 2, "99", 4, "0.04"),
         fill(2 * DAY_NS + D0 + 5, 3, "101", 1, "0.01"),
         fill(5 * DAY_NS + D0 + HOUR_NS, 4, "102", 3, "0.03")]


def test_the_engine_is_registered_and_runs_by_default() -> None:
    assert ENGINES["analytics"] is AnalyticsEngine
    assert "analytics" in ENGINES.defaults()
    assert AnalyticsEngine.inputs == ("logic.portfolio", "market.executions")
    assert AnalyticsEngine.key_field == "account"


def test_period_ends_publish_empyricals_figures_of_the_period_equities() -> None:
    analytics = engine(rolling_periods=3)

    out = feed(analytics, FILLS, SNAPSHOTS) + analytics.flush()

    performance = [e.value for e in out if e.value.name == "performance"]
    assert [(r.ts_event, r.periods, r.final) for r in performance] == [
        (D0 + DAY_NS, 1, False), (D0 + 3 * DAY_NS, 2, False), (D0 + 4 * DAY_NS, 3, False),
        (D0 + 5 * DAY_NS, 4, False), (D0 + 5 * DAY_NS + 2 * HOUR_NS, 5, True)]
    for n, result in enumerate(performance, 1):
        returns = returns_of([START, *[*PERIOD_EQUITIES, 1030][:n]])
        assert result.values == pytest.approx(
            {**assert_equal_to_empyrical(returns), "fills": result.values["fills"],
             "fees": result.values["fees"], "turnover": result.values["turnover"],
             "exposure": result.values["exposure"]})
        assert result.values["total_return"] == pytest.approx(
            [*PERIOD_EQUITIES, 1030][n - 1] / START - 1)
        assert result.values["exposure"] == pytest.approx(np.mean([*EXPOSURES, 206 / 1030][:n]))
        assert result.account == "ACC1" and result.period_seconds == 86_400


def test_fills_fees_and_turnover_count_the_fills_up_to_the_period_end() -> None:
    analytics = engine()

    out = feed(analytics, FILLS, SNAPSHOTS) + analytics.flush()

    counted = [(r.values["fills"], r.values["fees"], r.values["turnover"])
               for r in (e.value for e in out) if r.name == "performance"]
    # the fill at the end of day 1 belongs to day 1; sums are exact (decimal), then floats
    assert counted == [(2, 0.14, 1401), (3, 0.15, 1502), (3, 0.15, 1502), (3, 0.15, 1502),
                       (4, 0.18, 1808)]


def test_rolling_figures_cover_the_newest_window_once_it_is_full() -> None:
    analytics = engine(rolling_periods=3)

    out = feed(analytics, FILLS, SNAPSHOTS) + analytics.flush()

    rolled = [e.value for e in out if e.value.name == "rolling"]
    returns = returns_of([START, *PERIOD_EQUITIES])
    assert [(r.ts_event, r.periods) for r in rolled] == [(D0 + 4 * DAY_NS, 3),
                                                        (D0 + 5 * DAY_NS, 3)]
    for result, window in zip(rolled, (returns[:3], returns[1:4]), strict=True):
        assert result.values["sharpe"] == pytest.approx(
            empyrical.sharpe_ratio(window, annualization=252))
        assert result.values["max_drawdown"] == pytest.approx(empyrical.max_drawdown(window))


def test_time_passing_the_period_end_closes_it_and_not_before() -> None:
    analytics = engine()
    feed(analytics, [], SNAPSHOTS[:2])

    assert analytics.on_time(D0 + DAY_NS - 1) == []
    (closed,) = analytics.on_time(D0 + DAY_NS)

    assert (closed.value.ts_event, closed.value.periods) == (D0 + DAY_NS, 1)
    assert closed.value.values["total_return"] == pytest.approx(0.005)
    assert analytics.on_time(D0 + 2 * DAY_NS) == []  # day 2 has no snapshot: skipped


def test_closing_by_time_or_by_the_next_snapshot_publishes_the_same() -> None:
    by_time, by_snapshot = engine(), engine()
    out_by_time = []
    for ev in SNAPSHOTS:
        out_by_time += by_time.on_time(ev.ts_event - 1)
        out_by_time += feed(by_time, [], [ev])

    out_by_snapshot = feed(by_snapshot, [], SNAPSHOTS)

    assert [e.value for e in out_by_time] == [e.value for e in out_by_snapshot]


def test_the_starting_cash_is_taken_from_the_first_snapshot_exactly() -> None:
    analytics = engine()
    # equity 0.3 = 0.1 + 0.2 in decimal; in binary floats 0.1 + 0.2 != 0.3
    first = event("PortfolioSnapshot", ts_event=D0 + 1, account="ACC9", equity="0.4",
                  unrealized_pnl="0.1", realized_pnl="0.2", gross_exposure="0")

    (result,) = feed(analytics, [], [first]) + analytics.flush()

    assert result.value.values["total_return"] == pytest.approx(0.4 / 0.1 - 1, rel=1e-15)


def test_a_fill_delivered_twice_counts_once() -> None:
    analytics = engine()

    feed(analytics, FILLS[:2], [])
    out = feed(analytics, FILLS[:2], SNAPSHOTS[:1]) + analytics.flush()

    assert out[-1].value.values["fills"] == 2


def test_accounts_are_apart() -> None:
    analytics = engine()

    out = feed(analytics, [fill(D0 + 1, 7, "10", 1, "0", account="ACC2")],
               [snapshot(D0 + 5, 1100, account="ACC2"), snapshot(D0 + 6, 900)])
    out += analytics.flush()

    assert sorted((e.key, e.value.account, e.value.values["total_return"],
                   e.value.values["fills"]) for e in out) == [
        ("ACC1", "ACC1", pytest.approx(-0.1), 0), ("ACC2", "ACC2", pytest.approx(0.1), 1)]
