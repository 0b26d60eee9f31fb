"""The margin engine in the replay graph behind the real portfolio engine (fills and bars in,
positions and snapshots between them, margin states and alerts out), and fed a live
worker's interleaving of its two topics directly.

Expected numbers come from the definitions (processors/margin/__init__.py): Reg T
maintenance of a long is 25% of its value, so a long of q shares with cash c is called when
c + 0.75 q close < 0; sigma is q * close * sqrt(EWMA variance of the bar returns).
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import torch

from processors.margin.engine import MarginEngine
from processors.margin.params import MarginParams
from processors.portfolio import PortfolioEngine, PortfolioParams
from streams.clock import TestClock
from streams.params import apply_overrides
from streams.replay import Source, run_replay
from streams.schema import Alert, Bar, Event, Execution, MarginState
from streams.settings import EngineParams
from tests.factories import MINUTE_NS, T0, columns

CASH, QUANTITY, PRICE = 100_000, 3_500, 100  # 3.5 times the equity: excess 12,500 at the fill
FILL_TS = T0 + 30 * MINUTE_NS + MINUTE_NS // 2
LAMBDA, H = 0.94, 60


def fill(ts: int, quantity: int, price: str, *, account: str = "ACC", symbol: str = "AAPL",
         n: int = 1) -> Execution:
    side = "buy" if quantity > 0 else "sell"
    return Execution(ts_event=ts, ts_init=ts, exec_id=f"x{n}-{account}", order_id=f"o{n}",
                     account=account, symbol=symbol, side=side, price=Decimal(price),
                     quantity=abs(quantity), commission=Decimal(0))


def bar(ts: int, close: str, symbol: str = "AAPL") -> Bar:
    price = Decimal(close)
    return Bar(ts_event=ts, ts_init=ts, bar_id=f"{symbol}@1m@{ts - MINUTE_NS}", symbol=symbol,
               start_ns=ts - MINUTE_NS, open=price, high=price, low=price, close=price,
               volume=1, trade_count=1, vwap=price)


def closes() -> list[str]:
    """Flat with noise for 30 bars, down 0.15% a bar for 60, back up for 60, in cents."""
    rng = np.random.default_rng(5)
    trend = np.r_[np.full(30, 100.0), 100 * (1 - 0.0015 * np.arange(1, 61)),
                  100 * (1 - 0.0015 * 60) + 0.2 * np.arange(1, 61)]
    return [f"{p:.2f}" for p in trend * (1 + rng.normal(0, 0.002, len(trend)))]


def replay(fills: list[Execution], bars: list[Bar], *overrides: str) -> dict[str, list[Event]]:
    params = apply_overrides(EngineParams(), [f"portfolio.cash={CASH}", *overrides])
    sources = [Source("market.executions", columns("Execution", fills)),
               Source("market.bars.1m", columns("Bar", bars))]
    result = run_replay(sources, [PortfolioEngine, MarginEngine], params)
    return {topic: [e.value for e in emits] for topic, emits in result.outputs.items()}


@pytest.fixture(scope="module")
def falling() -> tuple[list[str], dict[str, list[Event]]]:
    prices = closes()
    bars = [bar(T0 + (i + 1) * MINUTE_NS, c) for i, c in enumerate(prices)]
    return prices, replay([fill(FILL_TS, QUANTITY, str(PRICE))], bars)


def expected_probabilities(prices: list[str]) -> dict[int, float]:
    """Per bar after the fill, the call probability by the definition: EWMA variance of the
    returns of the bars complete before it (a period is folded when the next one starts)."""
    closes_ = [float(c) for c in prices]
    variance, out = 0.0, {}
    for i in range(1, len(closes_)):
        if i >= 2:
            r = closes_[i - 1] / closes_[i - 2] - 1
            variance = LAMBDA * variance + (1 - LAMBDA) * r * r
        ts = T0 + (i + 1) * MINUTE_NS
        if ts > FILL_TS:
            value = QUANTITY * closes_[i]
            excess = CASH - QUANTITY * PRICE + value - 0.25 * value
            sigma = value * math.sqrt(variance / (1 - LAMBDA**i))  # i periods folded
            out[ts] = 1.0 if excess <= 0 else min(
                1.0, math.erfc(excess / (sigma * math.sqrt(H)) / math.sqrt(2)))
    return out


def test_falling_bars_raise_margin_call_predicted_before_margin_call_then_both_clear(
        falling: tuple[list[str], dict[str, list[Event]]]) -> None:
    prices, out = falling
    alerts = [a for a in out["logic.risk.alerts"] if isinstance(a, Alert)]
    # the call is due at the first close below -(cash - q * 100) / (0.75 q) = 95.238...
    threshold = (QUANTITY * PRICE - CASH) / (0.75 * QUANTITY)
    called = next(i for i, c in enumerate(prices) if float(c) < threshold)
    recovered = next(i for i, c in enumerate(prices) if i > called and float(c) >= threshold)

    assert [(a.kind, a.state) for a in alerts] == [
        ("margin_call_predicted", "raised"), ("margin_call", "raised"),
        ("margin_call", "cleared"), ("margin_call_predicted", "cleared")]
    predicted, call, call_cleared, predicted_cleared = alerts
    assert predicted.ts_event < call.ts_event
    assert call.ts_event == T0 + (called + 1) * MINUTE_NS
    assert call_cleared.ts_event == T0 + (recovered + 1) * MINUTE_NS
    assert call.alert_id == call_cleared.alert_id == f"margin_call:ACC:{call.ts_event}"
    assert predicted.alert_id == predicted_cleared.alert_id == \
        f"margin_call_predicted:ACC:{predicted.ts_event}"
    assert all(a.symbol is None for a in alerts)
    assert (call.severity, predicted.severity, call_cleared.severity) == \
        ("critical", "warning", "info")


def test_the_call_probability_is_the_definitions_and_alerts_follow_it_with_hysteresis(
        falling: tuple[list[str], dict[str, list[Event]]]) -> None:
    prices, out = falling
    states = [s for s in out["logic.margin"] if isinstance(s, MarginState)]
    expected = expected_probabilities(prices)
    raised, transitions = False, []
    for state in states[1:]:  # the first is the fill's, marked at the fill price
        assert state.call_probability == pytest.approx(expected[state.ts_event], abs=1e-9)
        if not raised and state.call_probability >= 0.5:
            raised = True
            transitions.append(("raised", state.ts_event))
        elif raised and state.call_probability < 0.3:
            raised = False
            transitions.append(("cleared", state.ts_event))
    # between 0.3 and 0.5 nothing changes: one episode although the probability swings
    swings = [s for s in states if 0.3 <= s.call_probability < 0.5]

    assert len(swings) > 2
    assert transitions == [(a.state, a.ts_event) for a in out["logic.risk.alerts"]
                           if isinstance(a, Alert) and a.kind == "margin_call_predicted"]


def test_one_state_per_snapshot_equal_to_its_equity_with_reg_t_by_hand(
        falling: tuple[list[str], dict[str, list[Event]]]) -> None:
    _, out = falling
    snapshots, states = out["logic.portfolio"], out["logic.margin"]

    assert [(s.ts_event, s.equity) for s in states] == [(s.ts_event, s.equity)  # type: ignore[attr-defined]
                                                        for s in snapshots]
    first = states[0]
    assert isinstance(first, MarginState)
    assert (first.equity, first.initial_margin, first.maintenance_margin,
            first.excess_liquidity, first.method) == (
        Decimal("100000.00"), Decimal("175000.00"), Decimal("87500.00"),
        Decimal("12500.00"), "reg_t")
    assert first.time_to_call_s is not None and first.horizon_bars == H


def test_each_account_takes_its_own_method() -> None:
    fills = [fill(FILL_TS, 100, "50", account="A1", n=1),
             fill(FILL_TS, 100, "50", account="A2", n=2)]

    out = replay(fills, [], "margin.method.A2=portfolio")

    by_account = {s.account: s for s in out["logic.margin"]}  # type: ignore[attr-defined]
    assert (by_account["A1"].method, by_account["A1"].maintenance_margin) == (
        "reg_t", Decimal("1250.00"))
    assert (by_account["A2"].method, by_account["A2"].initial_margin,
            by_account["A2"].maintenance_margin) == ("portfolio", Decimal("750.00"),
                                                     Decimal("750.00"))


# ---- a live worker's interleaving of logic.portfolio and logic.positions --------------------

def portfolio_outputs(*fills: Execution) -> tuple[list[Event], list[Event]]:
    """The portfolio engine's positions and snapshots of `fills`, in its emission order."""
    engine = PortfolioEngine(PortfolioParams(cash=Decimal(CASH)), TestClock(0),
                             torch.device("cpu"))
    emits = engine.process("market.executions", columns("Execution", list(fills)))
    return ([e.value for e in emits if e.topic == "logic.positions"],
            [e.value for e in emits if e.topic == "logic.portfolio"])


def margin_engine() -> MarginEngine:
    return MarginEngine(MarginParams(), TestClock(0), torch.device("cpu"))


def feed(engine: MarginEngine, topic: str, events: list[Event]) -> list[MarginState]:
    model = "Position" if topic == "logic.positions" else "PortfolioSnapshot"
    return [e.value for e in engine.process(topic, columns(model, events))
            if isinstance(e.value, MarginState)]


@pytest.mark.parametrize("one_at_a_time", [False, True])
def test_a_snapshot_ahead_of_its_positions_waits_for_them(one_at_a_time: bool) -> None:
    # two fills of one instant: the second snapshot reflects both positions
    positions, snapshots = portfolio_outputs(fill(FILL_TS, 100, "50", symbol="AAPL", n=1),
                                             fill(FILL_TS, -200, "4", symbol="PENNY", n=2))
    engine = margin_engine()
    batches = ([[p] for p in positions] if one_at_a_time else [positions])

    published = feed(engine, "logic.portfolio", snapshots)
    for batch in batches[:-1]:
        published += feed(engine, "logic.positions", batch)
    assert published == []
    published = feed(engine, "logic.positions", batches[-1])

    (state,) = published
    assert state.equity == snapshots[-1].equity  # type: ignore[attr-defined]
    # long 5,000: 25%; short 200 at 4: max(800, 2.50 x 200)
    assert (state.maintenance_margin, state.initial_margin) == (Decimal("2050.00"),
                                                                Decimal("2900.00"))


def test_positions_ahead_of_their_snapshot_publish_it_once_and_an_older_snapshot_nothing(
        ) -> None:
    positions, snapshots = portfolio_outputs(fill(FILL_TS, 100, "50", symbol="AAPL", n=1),
                                             fill(FILL_TS, 10, "20", symbol="MSFT", n=2))
    later_positions, later_snapshots = portfolio_outputs(
        fill(FILL_TS, 100, "50", symbol="AAPL", n=1), fill(FILL_TS, 10, "20", symbol="MSFT", n=2),
        fill(FILL_TS + MINUTE_NS, 100, "51", symbol="AAPL", n=3))
    engine = margin_engine()

    assert feed(engine, "logic.positions", positions) == []
    (state,) = feed(engine, "logic.portfolio", snapshots)  # the first one lacks MSFT
    assert state.equity == snapshots[-1].equity  # type: ignore[attr-defined]
    assert feed(engine, "logic.positions", later_positions[2:]) == []
    (later,) = feed(engine, "logic.portfolio", later_snapshots[2:])
    assert later.ts_event == FILL_TS + MINUTE_NS
    assert feed(engine, "logic.portfolio", snapshots) == []  # older than the one held


def test_a_closed_position_needs_no_margin() -> None:
    bars = [bar(T0 + i * MINUTE_NS, close) for i, close in enumerate(("50", "51", "53"), 29)]

    out = replay([fill(FILL_TS, 100, "50", n=1), fill(FILL_TS + MINUTE_NS, -100, "55", n=2)],
                 bars)

    last = out["logic.margin"][-1]
    assert isinstance(last, MarginState)
    assert (last.equity, last.initial_margin, last.maintenance_margin,
            last.excess_liquidity) == (Decimal("100500.00"), 0, 0, Decimal("100500.00"))


def test_a_future_of_the_instruments_file_counts_its_multiplier_and_scan_range(
        tmp_path: Path) -> None:
    instruments = tmp_path / "instruments.yaml"
    instruments.write_text("- {symbol: ESZ6, asset_class: future, multiplier: 50, "
                           "scan_range: 0.06}\n")

    out = replay([fill(FILL_TS, 2, "5000", symbol="ESZ6")], [],
                 f"margin.instruments={instruments}", "margin.method=portfolio")

    (state,) = out["logic.margin"]
    assert isinstance(state, MarginState)
    # cash 100,000 - 2 x 5,000 (the portfolio engine books no multiplier) + 2 x 5,000 x 50;
    # the scan: 500,000 moved by 6%
    assert (state.equity, state.initial_margin, state.maintenance_margin) == (
        Decimal("590000.00"), Decimal("30000.00"), Decimal("30000.00"))


def test_in_a_replay_an_instant_that_moves_several_positions_gives_one_state() -> None:
    fills = [fill(FILL_TS, 100, "50", symbol="AAPL", n=1),
             fill(FILL_TS, -30, "20", symbol="MSFT", n=2)]
    ends = [T0 + 31 * MINUTE_NS, T0 + 32 * MINUTE_NS]
    bars = [bar(ts, close, symbol) for ts, (a, m) in zip(ends, [("51", "19"), ("49", "21")],
                                                         strict=True)
            for symbol, close in (("AAPL", a), ("MSFT", m))]

    out = replay(fills, bars)

    last_snapshot = {s.ts_event: s.equity for s in out["logic.portfolio"]}  # type: ignore[attr-defined]
    states = [(s.ts_event, s.equity) for s in out["logic.margin"]]  # type: ignore[attr-defined]
    assert len(out["logic.portfolio"]) == 6  # two per instant
    assert states == [(ts, round(equity, 2)) for ts, equity in last_snapshot.items()]
