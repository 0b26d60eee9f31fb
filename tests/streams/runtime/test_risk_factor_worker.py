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
    T0,
    expected_values,
    final_risk_reports,
    make_events,
)

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

    # Act
    final_reports = final_risk_reports(
        kafka_brokers, services_env, tmp_path, expected.keys(), {
            "logic.factor.returns": [(model, codec.encode(returns))],
            "logic.factor.exposures": [(e.symbol, codec.encode(e)) for e in exposures],
            "market.bars.1m": [(b.symbol, codec.encode(b)) for b in bars],
            "market.executions": [(f.symbol, codec.encode(f)) for f in fills]},
        risk__mc_scenarios="200", risk__factor_model=model)

    # Assert: z x sqrt(x'B C B'x + sum x_i^2 s_i), B = (1, 1, momentum) per symbol
    assert set(final_reports) == set(expected)
    for account, report in final_reports.items():
        x = np.array([expected[account].get(s, 0.0) for s in symbols])
        b = np.array([[1.0, 1.0, momentum[s]] for s in symbols])
        variance = x @ b @ COVARIANCE @ b.T @ x + (x ** 2 * 2e-4).sum()
        assert report["var_factor_99"] == pytest.approx(Z99 * math.sqrt(variance), rel=1e-9)
    assert "Traceback" not in (tmp_path / "worker.log").read_text()
