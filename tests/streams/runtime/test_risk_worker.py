"""The risk engine in `nautilus-streams worker`, on the real broker, behind the portfolio:
fills re-keyed by account -> positions and snapshots on the log -> risk (positions and
snapshots read by account, bars read whole as a broadcast input) -> logic.risk.

A worker catching up on a backlog has read every bar before the first position (a broadcast
input is read to its end first), so it cannot report the past instants without the returns
of later bars: it reports each account once it is caught up, dated at the account's newest
event. Known answers from the produced events alone: the final positions' exposures and
stress losses (quantity x last close, the shipped equity_crash shocks unknown symbols by its
default -12%), and VaR figures once enough returns are in.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import pytest

from streams import codec
from streams.schema import Bar, Execution
from tests.streams.runtime.workers import produce, read_topic, start_group_at_end, wait_for, worker

pytestmark = pytest.mark.slow
# after every other test's bars on the shared market.bars.1m (the risk engine reads it whole:
# bars of an earlier period arriving after ours would be late and dropped)
T0 = 1_701_000_000 * 1_000_000_000
SEC, MIN = 1_000_000_000, 60 * 1_000_000_000
CRASH_DEFAULT = -0.12  # processors/risk/scenarios/equity_crash.yaml, for symbols it names not
CONSUMED = ("market.executions", "logic.positions", "logic.portfolio")


def make_events(seed: int) -> tuple[list[Execution], list[Bar]]:
    """Fills of two accounts in two symbols during the first 10 minutes, a bar per symbol
    every minute for 15 minutes (closes on a cent grid)."""
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:6].upper()
    accounts, symbols = [f"RK{tag}{i}" for i in range(2)], [f"R{tag}{i}" for i in range(2)]
    bars = []
    for k in range(1, 16):
        for symbol in symbols:
            close = Decimal(rng.randint(9_000, 11_000)) / 100
            bars.append(Bar(ts_event=T0 + k * MIN, ts_init=T0 + k * MIN,
                            bar_id=f"{symbol}@1m@{T0 + (k - 1) * MIN}", symbol=symbol,
                            start_ns=T0 + (k - 1) * MIN, open=close, high=close, low=close,
                            close=close, volume=1, trade_count=1, vwap=close))
    fills = [
        Execution(ts_event=T0 + i * 7 * SEC, ts_init=T0 + i * 7 * SEC, exec_id=f"{tag}-{i}",
                  order_id=f"{tag}-o{i}", account=accounts[i % 2], symbol=rng.choice(symbols),
                  side=rng.choice(["buy", "sell"]), price=Decimal(rng.randint(9_000, 11_000))
                  / 100, quantity=rng.randint(1, 50), commission=Decimal("0.10"))
        for i in range(80)
    ]
    return fills, bars


def expected_values(fills: list[Execution], bars: list[Bar]) -> dict[str, dict[str, float]]:
    """Each account's final dollar positions: signed quantity x the last close."""
    last_close = {b.symbol: b.close for b in bars}
    quantity: dict[str, dict[str, int]] = {}
    for f in fills:
        held = quantity.setdefault(f.account, {})
        held[f.symbol] = held.get(f.symbol, 0) + (f.quantity if f.side == "buy" else -f.quantity)
    return {account: {s: float(q * last_close[s]) for s, q in held.items() if q}
            for account, held in quantity.items()}


def final_risk_reports(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path, accounts: Iterable[str],
    inputs: dict[str, list[tuple[str, bytes]]], **settings: str,
) -> dict[str, dict]:
    """Produce `inputs` (topic -> keyed records), run a portfolio + risk worker until every
    account has a report of its newest snapshot, and return each account's newest report."""
    accounts = set(accounts)
    app_id = f"test-risk-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id, CONSUMED)
    for topic, records in inputs.items():
        produce(kafka_brokers, records, topic)

    def newest(topic: str) -> dict[str, dict]:
        """Each of the accounts' newest record on `topic` (its records are in log order)."""
        rows = read_topic(kafka_brokers, topic, lambda r: r["account"] in accounts)
        return {r["account"]: r for r in rows}

    def reported() -> bool:
        snapshots, reports = newest("logic.portfolio"), newest("logic.risk")
        return len(snapshots) == len(accounts) and all(
            reports.get(a, {}).get("ts_event") == s["ts_event"] for a, s in snapshots.items())

    with worker(services_env, app_id, tmp_path / "worker.log", engines="portfolio,risk",
                risk__min_bars="2", **settings):
        wait_for(reported, 240, "a report of every account's newest snapshot")
    return newest("logic.risk")


def test_a_worker_reports_each_account_with_its_final_positions(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: bars and fills on the log before the worker starts
    fills, bars = make_events(seed=9)
    expected = expected_values(fills, bars)

    # Act
    final_reports = final_risk_reports(
        kafka_brokers, services_env, tmp_path, expected.keys(), {
            "market.bars.1m": [(b.symbol, codec.encode(b)) for b in bars],
            "market.executions": [(f.symbol, codec.encode(f)) for f in fills]},
        risk__mc_scenarios="2000")

    # Assert
    assert set(final_reports) == set(expected)
    for account, report in final_reports.items():
        values = expected[account]
        assert report["gross_exposure"] == pytest.approx(sum(abs(v) for v in values.values()))
        assert report["net_exposure"] == pytest.approx(sum(values.values()))
        crash = -sum(v * CRASH_DEFAULT for v in values.values())
        assert report["stress"] == {"equity_crash": pytest.approx(crash),
                                    "sector_rotation": 0.0}
        assert report["var_param_99"] > report["var_param_95"] > 0
        assert report["var_mc_95"] > 0 and report["var_hist_99"] is not None
    assert "Traceback" not in (tmp_path / "worker.log").read_text()
