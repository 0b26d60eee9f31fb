"""Risk reports in the database: a later report of the same account and instant (a worker
reports an instant again when a position or snapshot of it arrives late) replaces the row,
on both databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from streams.schema import RiskReport
from tests.api.data import write
from tests.factories import T0, event


@pytest.fixture
def account(any_database_url: str) -> Iterator[str]:
    name = f"R{uuid.uuid4().hex[:8].upper()}"
    yield name
    with psycopg.connect(any_database_url) as conn:
        conn.execute("DELETE FROM risk_reports WHERE account = %s", (name,))


def test_a_later_report_of_an_instant_replaces_the_earlier(
    any_database_url: str, account: str
) -> None:
    first: RiskReport = event("RiskReport", account=account, ts_event=T0, ts_init=T0 + 1,
                              var_param_99=100.0, stress={"crash": 50.0}, worst_stress=50.0)
    again = first.model_copy(update={"ts_init": T0 + 2, "var_param_99": 120.0,
                                     "stress": {"crash": 75.0}, "worst_stress": 75.0})

    write(any_database_url, first)
    write(any_database_url, again)

    with psycopg.connect(any_database_url) as conn:
        rows = conn.execute("SELECT ts_init, var_param_99, stress FROM risk_reports"
                            " WHERE account = %s", (account,)).fetchall()
    assert rows == [(T0 + 2, 120.0, {"crash": 75.0})]
