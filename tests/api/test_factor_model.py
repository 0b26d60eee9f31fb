"""The factor model's stored records served by the generic list routes: a day's factor
returns (with the covariance) by model, and a symbol's exposures and residuals by model and
symbol, as the wire records were."""

from __future__ import annotations

import uuid

import psycopg
from fastapi.testclient import TestClient

from tests.api.data import write
from tests.factories import event

DAY_NS = 86_400 * 10**9
FIRST_END = 1_704_326_400 * 10**9  # 2024-01-04T00:00:00Z, the end of 2024-01-03


def test_factor_returns_and_exposures_are_served_by_model_and_symbol(
    api_client: TestClient, read_headers: dict, database_url: str
) -> None:
    model = f"m{uuid.uuid4().hex[:8]}"
    days = [event("FactorReturns", model=model, day=f"2024-01-0{3 + i}",
                  ts_event=FIRST_END + i * DAY_NS, ts_init=FIRST_END + i * DAY_NS,
                  returns={"market": 0.001 * (i + 1), "size": -0.002})
            for i in range(2)]
    exposures = [event("FactorExposure", model=model, symbol=symbol, day="2024-01-03",
                       ts_event=FIRST_END, ts_init=FIRST_END, residual=residual)
                 for symbol, residual in (("AAA", 0.01), ("BBB", -0.01))]
    try:
        write(database_url, *days, *exposures)
        returns = api_client.get("/api/v1/factor-returns", params={"model": model},
                                 headers=read_headers).json()["data"]
        mine = api_client.get("/api/v1/factor-exposures",
                              params={"model": model, "symbol": "BBB"},
                              headers=read_headers).json()["data"]
    finally:
        with psycopg.connect(database_url) as conn:
            conn.execute("DELETE FROM factor_returns WHERE model = %s", (model,))
            conn.execute("DELETE FROM factor_exposures WHERE model = %s", (model,))
    assert [(r["day"], r["returns"]["market"], r["time"]) for r in returns] == [
        ("2024-01-03", 0.001, "2024-01-04T00:00:00Z"), ("2024-01-04", 0.002,
                                                        "2024-01-05T00:00:00Z")]
    assert returns[0]["covariance"] == days[0].covariance
    assert [(r["symbol"], r["residual"], r["exposures"]) for r in mine] == [
        ("BBB", -0.01, exposures[1].exposures)]
