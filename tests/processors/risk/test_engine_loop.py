"""The risk engine behind the trading loop, in the replay graph: a strategy's orders, paper
fills on bars, the portfolio, then risk; and risk inside the cycle, when the strategy reads
its alerts (streams/graph.py runs a cycle instant by instant, and an output dated before the
instant that caused it stops the replay)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from processors import ENGINES, Emit, Engine
from processors.base import State, handles
from processors.execution.params import ExecutionParams
from processors.risk.params import RiskParams
from processors.strategies.sma_cross import SmaCrossParams
from streams.codec import encode
from streams.replay import ReplayResult, Source, run_replay
from streams.schema import Bar, Order
from streams.settings import EngineParams
from tests.factories import T0, columns
from tests.processors.test_portfolio import MIN, bar

SYMBOLS = ("AAPL", "MSFT")


def random_walk(periods: int = 60, seed: int = 4) -> list[Bar]:
    """Bars of two symbols on a cent grid, ending T0 + 1..periods minutes."""
    rng = np.random.default_rng(seed)
    cents = {s: 10_000 + np.cumsum(rng.integers(-60, 61, size=periods)) for s in SYMBOLS}
    return [bar(T0 + (k + 1) * MIN, str(Decimal(int(cents[s][k])) / 100), symbol=s)
            for k in range(periods) for s in SYMBOLS]


PARAMS = EngineParams(
    sma_cross=SmaCrossParams(fast=2, slow=5, quantity=50, allow_short=True),
    execution=ExecutionParams(fill_model="bar", fee_bps="1"),
    risk=RiskParams(window=30, min_bars=5, mc_scenarios=2_000, scenarios=("equity_crash",)),
)


def sma_cross_loop(batch_rows: int) -> ReplayResult:
    engines = [ENGINES[name]
               for name in ("sma_cross", "pretrade", "execution", "portfolio", "risk")]
    return run_replay([Source("market.bars.1m", columns("Bar", random_walk()))], engines,
                      PARAMS, batch_rows=batch_rows)


def encoded(result: ReplayResult, topic: str) -> list[bytes]:
    return [encode(e.value) for e in result.outputs.get(topic, [])]


@pytest.mark.parametrize("batch_rows", [1, 5])
def test_a_report_per_instant_at_which_the_portfolio_moved(batch_rows: int) -> None:
    whole = sma_cross_loop(65_536)
    cut = sma_cross_loop(batch_rows)

    reports = whole.rows("logic.risk")
    snapshots = whole.rows("logic.portfolio")
    assert len(reports) > 20
    assert [(r["account"], r["ts_event"]) for r in reports] == sorted(
        {(s["account"], s["ts_event"]) for s in snapshots})
    # the report of an instant carries the equity of its last snapshot
    last_equity = {s["ts_event"]: float(s["equity"]) for s in snapshots}
    peak = 0.0
    for report in reports:
        peak = max(peak, last_equity[report["ts_event"]])
        drawdown = (peak - last_equity[report["ts_event"]]) / peak
        assert report["drawdown"] == pytest.approx(drawdown, abs=1e-15)
    assert reports[-1]["var_param_99"] is not None
    assert encoded(cut, "logic.risk") == encoded(whole, "logic.risk")


class _NoParams(BaseModel):
    model_config = ConfigDict(frozen=True)


class BuyUntilVarLimit(Engine):
    """A toy strategy: buys 20 AAPL at every AAPL bar until its account's var_limit alert is
    raised; reading logic.risk.alerts puts the risk engine into its cycle."""

    name = "buy_until_var_limit"
    outputs = ("logic.orders",)
    params_model = _NoParams

    def __init__(self, params, clock, device) -> None:  # type: ignore[no-untyped-def]
        super().__init__(params, clock, device)
        self.sent = 0
        self.stopped_at: int | None = None

    @handles("market.bars.1m")
    def on_bars(self, columns: dict[str, np.ndarray]) -> list[Emit]:
        out = []
        for ts, symbol in zip(columns["ts_event"].tolist(), columns["symbol"].tolist(),
                              strict=True):
            if symbol != "AAPL" or self.stopped_at is not None:
                continue
            self.sent += 1
            out.append(Emit("logic.orders", "AAPL", Order(
                ts_event=ts, ts_init=ts, order_id=f"toy:AAPL:{self.sent}", strategy="toy",
                account="paper", symbol="AAPL", side="buy", quantity=20, order_type="market")))
        return out

    @handles("logic.risk.alerts")
    def on_alerts(self, columns: dict[str, np.ndarray]) -> list[Emit]:
        for ts, kind, state in zip(columns["ts_event"].tolist(), columns["kind"].tolist(),
                                   columns["state"].tolist(), strict=True):
            if kind == "var_limit" and state == "raised" and self.stopped_at is None:
                self.stopped_at = ts
        return []

    def keys(self) -> list[str]:
        return []

    def snapshot(self, key: str) -> State:
        return {}

    def restore(self, key: str, state: State) -> None:
        pass

    def forget(self, key: str) -> None:
        pass


@pytest.mark.parametrize("batch_rows", [1, 65_536])
def test_inside_a_cycle_an_alert_reaches_the_strategy_at_its_instant(batch_rows: int) -> None:
    params = PARAMS.model_copy(update={"risk": RiskParams(
        window=30, min_bars=5, mc_scenarios=2_000, scenarios=(), var_measure="var_param_95",
        var_limit=150.0)})
    engines = [BuyUntilVarLimit,
               *(ENGINES[n] for n in ("pretrade", "execution", "portfolio", "risk"))]

    result = run_replay([Source("market.bars.1m", columns("Bar", random_walk()))], engines,
                        params, batch_rows=batch_rows)

    (alert,) = result.rows("logic.risk.alerts")
    raised_at = alert["ts_event"]
    orders = [o["ts_event"] for o in result.rows("logic.orders")]
    # the bars of the raising instant come before the alert (sources first): one more order
    # there, none after
    assert orders and max(orders) == raised_at
    report = next(r for r in result.rows("logic.risk") if r["ts_event"] == raised_at)
    assert report["var_param_95"] > 150.0
    assert alert["alert_id"] == f"var_limit:paper:{raised_at}"
    reports = [(r["account"], r["ts_event"]) for r in result.rows("logic.risk")]
    assert len(reports) == len(set(reports))
