"""The risk engine's factor VaR in `nautilus-streams worker`, on the real broker: the factor
model's records (logic.factor.returns, logic.factor.exposures) read whole as broadcast inputs
beside the bars, under a model name of this test's own (the topics are shared)."""

from __future__ import annotations

import math
import uuid
from pathlib import Path

import numpy as np
import pytest

from streams import codec
from tests.factories import event
from tests.streams.runtime.test_risk_worker import (
    CONSUMED,
    T0,
    expected_values,
    make_events,
)
from tests.streams.runtime.workers import produce, read_topic, start_group_at_end, wait_for, worker

pytestmark = pytest.mark.slow
Z99 = 2.3263478740408408
FACTORS = ("market", "Tech", "momentum")
COVARIANCE = np.array([[1.0e-4, 1.0e-5, 5.0e-6], [1.0e-5, 6.0e-5, 4.0e-6],
                       [5.0e-6, 4.0e-6, 2.5e-5]])


def test_a_worker_reports_the_factor_var_of_the_final_positions(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: the factor model's day ended before the fills; bars and fills as the risk
    # worker test has them
    fills, bars = make_events(seed=5)
    expected = expected_values(fills, bars)
    symbols = sorted({b.symbol for b in bars})
    momentum = {s: 0.5 - i for i, s in enumerate(symbols)}
    model = f"fv{uuid.uuid4().hex[:8]}"
    day_end = T0 - 1
    returns = event("FactorReturns", ts_event=day_end, ts_init=day_end, model=model,
                    returns=dict.fromkeys(FACTORS, 0.0),
                    covariance={f: {g: float(COVARIANCE[i, j]) for j, g in enumerate(FACTORS)}
                                for i, f in enumerate(FACTORS)})
    exposures = [event("FactorExposure", ts_event=day_end, ts_init=day_end, model=model,
                       symbol=s, sector="Tech", exposures={"momentum": momentum[s]},
                       specific_variance=2e-4) for s in symbols]
    app_id = f"test-risk-factor-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id, CONSUMED)
    produce(kafka_brokers, [(model, codec.encode(returns))], "logic.factor.returns")
    produce(kafka_brokers, [(e.symbol, codec.encode(e)) for e in exposures],
            "logic.factor.exposures")
    produce(kafka_brokers, [(b.symbol, codec.encode(b)) for b in bars], "market.bars.1m")
    produce(kafka_brokers, [(f.symbol, codec.encode(f)) for f in fills], "market.executions")

    def newest(topic: str) -> dict[str, dict]:
        rows = read_topic(kafka_brokers, topic, lambda r: r["account"] in expected)
        return {r["account"]: r for r in rows}

    def reported() -> bool:
        snapshots, reports = newest("logic.portfolio"), newest("logic.risk")
        return len(snapshots) == len(expected) and all(
            reports.get(a, {}).get("ts_event") == s["ts_event"] for a, s in snapshots.items())

    # Act
    with worker(services_env, app_id, tmp_path / "worker.log", engines="portfolio,risk",
                risk__min_bars="2", risk__mc_scenarios="200", risk__factor_model=model):
        wait_for(reported, 240, "a report of every account's newest snapshot")
    final_reports = newest("logic.risk")

    # Assert: z x sqrt(x'B C B'x + sum x_i^2 s_i), B = (1, 1, momentum) per symbol
    assert set(final_reports) == set(expected)
    for account, report in final_reports.items():
        x = np.array([expected[account].get(s, 0.0) for s in symbols])
        b = np.array([[1.0, 1.0, momentum[s]] for s in symbols])
        variance = x @ b @ COVARIANCE @ b.T @ x + (x ** 2 * 2e-4).sum()
        assert report["var_factor_99"] == pytest.approx(Z99 * math.sqrt(variance), rel=1e-9)
    assert "Traceback" not in (tmp_path / "worker.log").read_text()
