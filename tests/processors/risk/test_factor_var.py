"""Factor-model VaR of the risk engine (processors/risk/factor.py) against its definition:
z_a x sqrt(x'B C B'x + sum_i x_i^2 s_i) x sqrt(factor_horizon_days), x the dollar positions,
B the exposures (market 1, sector dummy, styles), C the daily factor covariance, s_i the
specific variances. The expected figures build B as a matrix with numpy, which the engine
never does (it sums the factor dollar exposures directly)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from processors.base import Emit
from processors.portfolio import PortfolioEngine
from processors.risk.engine import RiskEngine
from processors.risk.params import RiskParams
from streams.clock import TestClock
from streams.replay import Source, run_replay
from streams.schema import Event, FactorExposure, FactorReturns, Position
from streams.settings import EngineParams
from tests.factories import T0, columns, event
from tests.processors.risk.test_engine import bars, fills
from tests.processors.test_portfolio import MIN

Z95, Z99 = 1.6448536269514722, 2.3263478740408408
DAY_END = T0 + 10 * MIN  # the factor records' ts_event: before the positions
FACTORS = ("market", "Energy", "Tech", "momentum")
COVARIANCE = np.array([[1.0e-4, 2.0e-5, 1.0e-5, 5.0e-6],
                       [2.0e-5, 9.0e-5, -3.0e-5, 0.0],
                       [1.0e-5, -3.0e-5, 6.0e-5, 4.0e-6],
                       [5.0e-6, 0.0, 4.0e-6, 2.5e-5]])
BOOK = {  # symbol: (quantity, mark, sector, momentum, specific variance)
    "AAPL": (10, 100.0, "Tech", 0.5, 2.0e-4),
    "MSFT": (-40, 50.0, "Tech", -1.0, 1.5e-4),
    "XOM": (5, 100.0, "Energy", 0.2, 3.0e-4),
}


def factor_returns(covariance: np.ndarray = COVARIANCE, factors: tuple[str, ...] = FACTORS,
                   *, ts: int = DAY_END, model: str = "style") -> FactorReturns:
    return event("FactorReturns", ts_event=ts, ts_init=ts, model=model,
                 returns=dict.fromkeys(factors, 0.0),
                 covariance={f: {g: float(covariance[i, j]) for j, g in enumerate(factors)}
                             for i, f in enumerate(factors)})


def exposure(symbol: str, *, ts: int = DAY_END, model: str = "style",
             sector: str | None = None) -> FactorExposure:
    _, _, own_sector, momentum, specific = BOOK[symbol]
    return event("FactorExposure", ts_event=ts, ts_init=ts, model=model, symbol=symbol,
                 sector=sector or own_sector, exposures={"momentum": momentum},
                 specific_variance=specific)


def position(symbol: str, ts: int) -> Position:
    quantity, mark, *_ = BOOK[symbol]
    return event("Position", ts_event=ts, ts_init=ts, account="ACC1", symbol=symbol,
                 quantity=quantity, avg_price=str(mark), mark=str(mark))


def run(records: list[Event], params: RiskParams | None = None) -> list[Emit]:
    """The engine's outputs over `records`, one batch per record, in the order given."""
    engine = RiskEngine(params or RiskParams(), TestClock(0), torch.device("cpu"))
    emits = []
    for record in records:
        topic = {FactorReturns: "logic.factor.returns", FactorExposure: "logic.factor.exposures",
                 Position: "logic.positions"}[type(record)]
        emits += engine.process(topic, columns(type(record).__name__, [record]))
    return emits + engine.flush()


def reports(records: list[Event], params: RiskParams | None = None) -> list[dict]:
    return [e.value.model_dump() for e in run(records, params) if e.topic == "logic.risk"]


def expected_variance(symbols: tuple[str, ...]) -> float:
    """x'B C B'x + sum x_i^2 s_i with B [symbols x factors] built as a matrix."""
    x = np.array([BOOK[s][0] * BOOK[s][1] for s in symbols])
    b = np.zeros((len(symbols), len(FACTORS)))
    for i, s in enumerate(symbols):
        b[i, FACTORS.index("market")] = 1.0
        b[i, FACTORS.index(BOOK[s][2])] = 1.0
        b[i, FACTORS.index("momentum")] = BOOK[s][3]
    specific = np.array([BOOK[s][4] for s in symbols])
    return float(x @ b @ COVARIANCE @ b.T @ x + (x ** 2 * specific).sum())


def test_one_position_by_hand() -> None:
    # x = 1000 USD of AAPL: B'x = (market 1000, Energy 0, Tech 1000, momentum 500), so
    # x'BCB'x = 1e6 (1e-4 + 6e-5 + 2 x 1e-5) + 2 x 1000 x 500 (5e-6 + 4e-6) + 500^2 x 2.5e-5
    #         = 180 + 9 + 6.25 = 195.25; specific 1e6 x 2e-4 = 200; variance 395.25
    report = reports([factor_returns(), exposure("AAPL"), position("AAPL", DAY_END + MIN)])[-1]

    assert report["var_factor_99"] == pytest.approx(Z99 * math.sqrt(395.25), rel=1e-12)
    assert report["var_factor_95"] == pytest.approx(Z95 * math.sqrt(395.25), rel=1e-12)
    assert report["factor_horizon_days"] == 1


def test_a_three_symbol_book_against_the_exposure_matrix() -> None:
    symbols = ("AAPL", "MSFT", "XOM")
    records = [factor_returns(), *(exposure(s) for s in symbols),
               *(position(s, DAY_END + MIN) for s in symbols)]

    report = reports(records)[-1]

    sigma = math.sqrt(expected_variance(symbols))
    assert report["var_factor_95"] == pytest.approx(Z95 * sigma, rel=1e-12)
    assert report["var_factor_99"] == pytest.approx(Z99 * sigma, rel=1e-12)
    # the other figures need bars: none came
    assert report["var_param_99"] is None


def test_the_horizon_in_days_scales_by_its_square_root() -> None:
    records = [factor_returns(), exposure("AAPL"), position("AAPL", DAY_END + MIN)]

    one = reports(records)[-1]
    four = reports(records, RiskParams(factor_horizon_days=4))[-1]

    assert four["var_factor_99"] == pytest.approx(2 * one["var_factor_99"], rel=1e-12)
    assert (four["factor_horizon_days"], four["horizon_bars"]) == (4, 1)


def test_none_without_a_covariance_or_with_a_symbol_that_has_no_exposures() -> None:
    later = DAY_END + MIN

    no_covariance = reports([exposure("AAPL"), position("AAPL", later)])[-1]
    no_exposures = reports([factor_returns(), exposure("AAPL"), position("AAPL", later),
                            position("XOM", later)])[-1]
    other_model = reports([factor_returns(model="us_style"), exposure("AAPL"),
                           position("AAPL", later)])[-1]
    unknown_sector = reports([factor_returns(), exposure("AAPL", sector="Utilities"),
                              position("AAPL", later)])[-1]

    for report in (no_covariance, no_exposures, other_model, unknown_sector):
        assert (report["var_factor_95"], report["var_factor_99"]) == (None, None)


def test_the_model_parameter_picks_the_records_and_the_newest_day_wins() -> None:
    later = DAY_END + MIN
    doubled = factor_returns(4 * COVARIANCE, ts=DAY_END, model="us_style")
    older = factor_returns(100 * COVARIANCE, ts=DAY_END - 1440 * MIN, model="us_style")
    records = [doubled, older, factor_returns(), exposure("AAPL", model="us_style"),
               exposure("AAPL", model="us_style", ts=DAY_END - 1440 * MIN, sector="Energy"),
               exposure("AAPL", sector="Energy"), position("AAPL", later)]

    us = reports(records, RiskParams(factor_model="us_style"))[-1]
    style = reports(records)[-1]

    # us_style: the factor part x 4, the specific part as before: 4 x 195.25 + 200
    assert us["var_factor_99"] == pytest.approx(Z99 * math.sqrt(981.0), rel=1e-12)
    # style: AAPL in Energy, B'x = (market 1000, Energy 1000, momentum 500):
    # 1e6 (1e-4 + 9e-5 + 2 x 2e-5) + 2 x 1000 x 500 x 5e-6 + 6.25 + 200 = 441.25
    assert style["var_factor_99"] == pytest.approx(Z99 * math.sqrt(441.25), rel=1e-12)


def test_a_report_sees_the_factor_model_as_of_its_time_and_none_later() -> None:
    # a position before the day's end, then the day's covariance: the position's report
    # goes out first, without it; the next position sees it
    records = [exposure("AAPL", ts=DAY_END - MIN), position("AAPL", DAY_END - 1),
               factor_returns(), position("AAPL", DAY_END + MIN)]

    first, second = reports(records)

    assert (first["ts_event"], first["var_factor_99"]) == (DAY_END - 1, None)
    assert second["var_factor_99"] == pytest.approx(Z99 * math.sqrt(395.25), rel=1e-12)


def test_the_replayed_graph_reports_the_factor_var_of_its_positions() -> None:
    # fills of AAPL (+10) and MSFT (-20) at T0 + 1 minute 10 s, bars to T0 + 5 minutes; the
    # factor model's day ends at T0, before all of it
    day_end = T0
    aapl = event("FactorExposure", ts_event=day_end, ts_init=day_end, model="style",
                 symbol="AAPL", sector="Tech", exposures={"momentum": 0.5},
                 specific_variance=2e-4)
    msft = aapl.model_copy(update={"symbol": "MSFT", "exposures": {"momentum": -1.0},
                                   "specific_variance": 1.5e-4})
    sources = [Source("market.bars.1m", columns("Bar", bars(5))),
               Source("market.executions", columns("Execution", fills())),
               Source("logic.factor.returns", columns("FactorReturns", [
                   factor_returns(ts=day_end)])),
               Source("logic.factor.exposures", columns("FactorExposure", [aapl, msft]))]

    result = run_replay(sources, [PortfolioEngine, RiskEngine],
                        EngineParams(risk=RiskParams(min_bars=1)))

    report = result.rows("logic.risk")[-1]
    marks = {p["symbol"]: float(p["mark"]) for p in result.rows("logic.positions")}
    x = np.array([10 * marks["AAPL"], -20 * marks["MSFT"]])
    b = np.array([[1.0, 0.0, 1.0, 0.5], [1.0, 0.0, 1.0, -1.0]])
    variance = x @ b @ COVARIANCE @ b.T @ x + (x ** 2 * np.array([2e-4, 1.5e-4])).sum()
    assert report["var_factor_99"] == pytest.approx(Z99 * math.sqrt(variance), rel=1e-12)


def test_a_var_limit_on_the_factor_var_raises_an_alert() -> None:
    # AAPL alone: var_factor_99 = 2.3263 x sqrt(395.25) = 46.25 USD
    records = [factor_returns(), exposure("AAPL"), position("AAPL", DAY_END + MIN)]

    emits = run(records, RiskParams(var_measure="var_factor_99", var_limit=40.0))

    alerts = [e.value for e in emits if e.topic == "logic.risk.alerts"]
    assert [(a.kind, a.state) for a in alerts] == [("var_limit", "raised")]
    assert alerts[0].values["var_factor_99"] == pytest.approx(Z99 * math.sqrt(395.25))
