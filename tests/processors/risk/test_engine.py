"""The risk engine through the replay graph (streams/graph.py): bars and fills -> portfolio
-> positions and snapshots -> risk, against the definitions in processors/risk/__init__.py.

Expected figures are computed here from the published definitions with numpy and pandas
(returns close / previous close - 1, P&L = v . r, the empirical quantile, RiskMetrics'
EWMA as pandas' ewm, z x sigma), never read back from the engine.
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from processors.portfolio import PortfolioEngine
from processors.risk.engine import RiskEngine
from processors.risk.params import RiskParams
from streams.codec import encode
from streams.replay import ReplayResult, Source, run_replay
from streams.schema import Bar, Execution
from streams.settings import EngineParams
from tests.factories import T0, columns
from tests.processors.test_portfolio import MIN, bar, fill

PERIODS = 25  # bars of each symbol, ending T0 + 1..25 minutes
SYMBOLS = ("AAPL", "MSFT")
QUANTITY = {"AAPL": 10, "MSFT": -20}  # bought and sold short during the second minute
FILL_TS = T0 + MIN + 10_000_000_000
SCENARIOS = """\
groups: {tech: [AAPL]}
scenarios:
  crash: {default: -0.1, groups: {tech: -0.2}, symbols: {MSFT: -0.3}}
"""
Z95, Z99 = 1.6448536269514722, 2.3263478740408408


def close(symbol: str, k: int) -> Decimal:
    """The close of `symbol`'s bar ending T0 + k minutes: a wave on a cent grid."""
    if symbol == "AAPL":
        return Decimal(str(round(100 + 3 * math.sin(1.3 * k), 2)))
    return Decimal(str(round(50 + 2 * math.cos(0.7 * k), 2)))


def bars(periods: int = PERIODS) -> list[Bar]:
    return [bar(T0 + k * MIN, str(close(s, k)), symbol=s)
            for k in range(1, periods + 1) for s in SYMBOLS]


def fills() -> list[Execution]:
    return [fill(1, "buy", 10, str(close("AAPL", 1)), symbol="AAPL", ts=FILL_TS),
            fill(2, "sell", 20, str(close("MSFT", 1)), symbol="MSFT", ts=FILL_TS)]


def replay(params: RiskParams, *, periods: int = PERIODS, batch_rows: int = 65_536,
           extra: list[Execution] | None = None) -> ReplayResult:
    sources = [Source("market.bars.1m", columns("Bar", bars(periods))),
               Source("market.executions", columns("Execution", fills() + (extra or [])))]
    return run_replay(sources, [PortfolioEngine, RiskEngine], EngineParams(risk=params),
                      batch_rows=batch_rows)


@pytest.fixture
def scenarios(tmp_path: Path) -> str:
    path = tmp_path / "crash.yaml"
    path.write_text(SCENARIOS)
    return str(path)


def returns(periods: int = PERIODS) -> np.ndarray:
    """[periods, 2] bar returns; the first period has no earlier close: 0."""
    prices = np.array([[float(close(s, k)) for s in SYMBOLS] for k in range(1, periods + 1)])
    return np.vstack([np.zeros(len(SYMBOLS)), prices[1:] / prices[:-1] - 1])


def value(k: int) -> np.ndarray:
    return np.array([QUANTITY[s] * float(close(s, k)) for s in SYMBOLS])


def test_the_last_report_by_the_definitions(scenarios: str) -> None:
    params = RiskParams(window=20, min_bars=20, horizon_bars=4, seed=3, scenarios=(scenarios,))

    report = replay(params).rows("logic.risk")[-1]

    v, r, scale = value(PERIODS), returns(), 2.0  # sqrt(4 bars)
    assert report["ts_event"] == T0 + PERIODS * MIN
    assert (report["horizon_bars"], report["bar_seconds"], report["scaling"]) == (4, 60,
                                                                                   "sqrt(h)")
    assert report["window_bars"] == 20
    # historical: the 20 newest returns; with 20 losses the 95% VaR is the 2nd worst (19 of
    # 20 at or below it) and its CVaR the worst; at 99% both are the worst
    losses = np.sort(-(r[-20:] @ v))[::-1]
    assert report["var_hist_95"] == pytest.approx(scale * losses[1], rel=1e-12)
    assert report["cvar_hist_95"] == pytest.approx(scale * losses[0], rel=1e-12)
    assert report["var_hist_99"] == pytest.approx(scale * losses[0], rel=1e-12)
    assert report["cvar_hist_99"] == pytest.approx(scale * losses[0], rel=1e-12)
    # parametric: RiskMetrics over all 25 periods, as pandas' ewm of the products
    products = pd.DataFrame({(i, j): r[:, i] * r[:, j] for i in range(2) for j in range(2)})
    ewm = products.ewm(alpha=0.06, adjust=True).mean().iloc[-1]
    cov = np.array([[ewm[(i, j)] for j in range(2)] for i in range(2)])
    sigma = math.sqrt(v @ cov @ v)
    assert report["var_param_95"] == pytest.approx(scale * Z95 * sigma, rel=1e-10)
    assert report["var_param_99"] == pytest.approx(scale * Z99 * sigma, rel=1e-10)
    # Monte Carlo, 10,000 scenarios: within 5% (3 standard errors at 99%)
    assert report["var_mc_95"] == pytest.approx(report["var_param_95"], rel=0.05)
    assert report["var_mc_99"] == pytest.approx(report["var_param_99"], rel=0.05)
    # stress: AAPL by its group (-20%), MSFT by its own entry (-30%); not scaled
    crash = -(v[0] * -0.2 + v[1] * -0.3)
    assert report["stress"] == {"crash": pytest.approx(crash)}
    assert report["worst_stress"] == pytest.approx(crash)
    assert (report["gross_exposure"], report["net_exposure"]) == pytest.approx(
        (abs(v).sum(), v.sum()))
    # drawdown: equity = cash + sum(q x mark), cash unchanged by fills at the first closes
    equity = [1e6 + sum(QUANTITY[s] * float(close(s, k) - close(s, 1)) for s in SYMBOLS)
              for k in range(1, PERIODS + 1)]
    assert report["drawdown"] == pytest.approx((max(equity) - equity[-1]) / max(equity))


def test_one_report_per_instant_that_changed_the_account_with_figures_after_min_bars(
        scenarios: str) -> None:
    params = RiskParams(window=20, min_bars=3, scenarios=(scenarios,))

    reports = replay(params).rows("logic.risk")

    # the fills' instant (positions and snapshot of two fills), then every bar's end from
    # the second on (the marks move)
    assert [r["ts_event"] for r in reports] == [FILL_TS] + [T0 + k * MIN
                                                            for k in range(2, PERIODS + 1)]
    # returns folded: 1 at the fills (the first period's, all 0), k at the k-th bar's end
    assert [r["window_bars"] for r in reports] == [1] + [min(k, 20)
                                                         for k in range(2, PERIODS + 1)]
    assert [r["var_param_95"] is None for r in reports[:3]] == [True, True, False]
    assert {r["account"] for r in reports} == {"ACC"}


def test_a_report_at_a_bars_end_includes_that_bars_return_and_nothing_later(
        scenarios: str) -> None:
    params = RiskParams(window=20, min_bars=1, scenarios=(scenarios,))
    k = 10

    short = replay(params, periods=k).rows("logic.risk")
    longer = replay(params, periods=k + 5).rows("logic.risk")

    # identical up to the k-th bar's end: later bars change nothing dated before them
    assert longer[:len(short)] == short
    # at the k-th bar's end the worst loss is that of returns 1..k, the k-th included
    worst = max(-(returns(k) @ value(k)))
    assert short[-1]["var_hist_99"] == pytest.approx(worst, rel=1e-12)


@pytest.mark.parametrize("batch_rows", [1, 7])
def test_reports_do_not_depend_on_the_batch_size(scenarios: str, batch_rows: int) -> None:
    params = RiskParams(window=20, min_bars=2, scenarios=(scenarios,), drawdown_limit=5e-5)
    # another account trading the same symbols later, so instants carry several accounts
    extra = [fill(3, "buy", 7, str(close("MSFT", 6)), account="ACC2", symbol="MSFT",
                  ts=T0 + 6 * MIN), fill(4, "sell", 3, str(close("AAPL", 9)), account="ACC2",
                                         symbol="AAPL", ts=T0 + 9 * MIN)]

    whole = replay(params, extra=extra)
    cut = replay(params, extra=extra, batch_rows=batch_rows)

    for topic in ("logic.risk", "logic.risk.alerts"):
        assert [encode(e.value) for e in cut.outputs[topic]] == [
            encode(e.value) for e in whole.outputs[topic]], topic
    keys = [(r["account"], r["ts_event"]) for r in whole.rows("logic.risk")]
    assert len(keys) == len(set(keys))


def test_the_horizon_scales_every_var_by_its_square_root(scenarios: str) -> None:
    one = replay(RiskParams(min_bars=5, scenarios=(scenarios,))).rows("logic.risk")[-1]
    nine = replay(RiskParams(min_bars=5, horizon_bars=9,
                             scenarios=(scenarios,))).rows("logic.risk")[-1]

    for name in ("var_hist_95", "cvar_hist_95", "var_hist_99", "cvar_hist_99",
                 "var_param_95", "var_param_99", "var_mc_95", "var_mc_99"):
        assert nine[name] == pytest.approx(3 * one[name], rel=1e-12), name
    assert (one["stress"], one["horizon_bars"], nine["horizon_bars"]) == (nine["stress"], 1, 9)


def test_monte_carlo_repeats_with_its_seed_and_changes_with_another(scenarios: str) -> None:
    def mc(seed: int) -> tuple[float, float]:
        report = replay(RiskParams(min_bars=5, seed=seed,
                                   scenarios=(scenarios,))).rows("logic.risk")[-1]
        return report["var_mc_95"], report["var_mc_99"]

    assert mc(1) == mc(1)
    assert mc(1) != mc(2)


def test_drawdown_and_var_limits_raise_and_clear_with_hysteresis(scenarios: str) -> None:
    # equity swings by about 1e-4 of itself and VaR_99 grows to 60-80 USD over the bars
    params = RiskParams(window=20, min_bars=2, scenarios=(scenarios,), drawdown_limit=0.0001,
                        var_limit={"ACC": 60.0, "default": 1.0}, var_measure="var_param_99",
                        clear_ratio=0.5)
    result = replay(params)
    reports = {r["ts_event"]: r for r in result.rows("logic.risk")}

    alerts = result.rows("logic.risk.alerts")

    # replayed by hand from the reports: raise over the limit, clear below half of it
    expected = []
    raised: dict[str, int] = {}
    for ts, report in sorted(reports.items()):
        for kind, figure, limit in (("var_limit", report["var_param_99"], 60.0),
                                    ("drawdown_limit", report["drawdown"], 0.0001)):
            if figure is None:
                continue
            if kind not in raised and figure > limit:
                raised[kind] = ts
                expected.append((f"{kind}:ACC:{ts}", "raised", ts))
            elif kind in raised and figure < 0.5 * limit:
                expected.append((f"{kind}:ACC:{raised.pop(kind)}", "cleared", ts))
    assert [(a["alert_id"], a["state"], a["ts_event"]) for a in alerts] == expected
    assert [(a["kind"], a["state"]) for a in alerts] == [
        ("var_limit", "raised"), ("drawdown_limit", "raised"), ("drawdown_limit", "cleared"),
        ("drawdown_limit", "raised"), ("drawdown_limit", "cleared")]
    assert all(a["symbol"] is None for a in alerts)
    assert {e.key for e in result.outputs["logic.risk.alerts"]} == {"ACC"}
    var = alerts[0]
    assert var["values"] == {"var_param_99": reports[var["ts_event"]]["var_param_99"],
                             "limit": 60.0, "clear_below": 30.0}
    assert (var["severity"], alerts[2]["severity"]) == ("critical", "info")
    assert var["message"].startswith("ACC: var_param_99 ") and "over the limit 60.00 USD" in (
        var["message"])
