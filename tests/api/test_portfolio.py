"""`/api/v1/portfolio/{account}` on the real database, rows written through the sink's writer:
the newest snapshot, the newest record of each position, 401 without a token, 404 for an
account with nothing stored."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.data import write
from tests.factories import T0, event

SEC = 1_000_000_000


@pytest.fixture
def account(database_url: str) -> Iterator[str]:
    name = f"PF{uuid.uuid4().hex[:8].upper()}"
    yield name
    with psycopg.connect(database_url) as conn:
        for table in ("positions", "portfolio_snapshots"):
            conn.execute(f"DELETE FROM {table} WHERE account = %s", (name,))


def _position(account: str, symbol: str, second: int, quantity: int) -> object:
    return event("Position", account=account, symbol=symbol, ts_event=T0 + second * SEC,
                 quantity=quantity, avg_price="0" if quantity == 0 else "100.5")


def test_the_portfolio_is_the_newest_snapshot_and_each_positions_newest_record(
    api_client: TestClient, read_headers: dict, database_url: str, account: str
) -> None:
    write(database_url,
          _position(account, "AAPL", 1, 10), _position(account, "AAPL", 2, 0),
          _position(account, "MSFT", 1, -5), _position(account, "MSFT", 3, -3),
          event("PortfolioSnapshot", account=account, ts_event=T0 + 1 * SEC, equity="1"),
          event("PortfolioSnapshot", account=account, ts_event=T0 + 3 * SEC, equity="2.50"),
          _position("OTHER" + account, "AAPL", 4, 7))

    body = api_client.get(f"/api/v1/portfolio/{account}", headers=read_headers).json()
    with_flat = api_client.get(f"/api/v1/portfolio/{account}", params={"flat": "true"},
                               headers=read_headers).json()

    assert body["account"] == account
    assert (body["snapshot"]["equity"], body["snapshot"]["ts_event"]) == ("2.50", T0 + 3 * SEC)
    assert [(p["symbol"], p["quantity"], p["ts_event"]) for p in body["positions"]] == [
        ("MSFT", -3, T0 + 3 * SEC)]
    assert body["positions"][0]["avg_price"] == "100.5"
    assert set(body["positions"][0]) >= {"mark", "unrealized_pnl", "realized_pnl", "time"}
    assert [(p["symbol"], p["quantity"]) for p in with_flat["positions"]] == [
        ("AAPL", 0), ("MSFT", -3)]


def test_an_unknown_account_is_404_and_a_missing_token_401(
    api_client: TestClient, read_headers: dict, account: str
) -> None:
    unknown = api_client.get(f"/api/v1/portfolio/{account}", headers=read_headers)
    anonymous = api_client.get(f"/api/v1/portfolio/{account}")

    assert (unknown.status_code, unknown.json()["detail"]) == (
        404, f"unknown account {account!r}")
    assert anonymous.status_code == 401
