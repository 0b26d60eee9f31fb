"""The risk and margin routes on the real database and broker: `/api/v1/risk/{account}`,
`/api/v1/margin/{account}` and `/api/v1/accounts` on rows written through the sink's writer,
and the kill switch (`POST /api/v1/risk/{account}/halt|reduce|resume`) putting its command on
logic.risk.commands, read back from the broker; scopes, 404 and 503."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.deps import app_settings
from api.main import app
from streams import codec, kafka
from streams.schema import RiskCommand
from streams.settings import Settings
from tests.api.data import write
from tests.factories import T0, event

SEC = 1_000_000_000
ACCOUNT_TABLES = ("positions", "portfolio_snapshots", "margin_states", "risk_reports",
                  "risk_commands")


def unique_account() -> str:
    return f"RK{uuid.uuid4().hex[:8].upper()}"


@pytest.fixture
def accounts(database_url: str) -> Iterator[list[str]]:
    """Three account names of the test's own; their rows are deleted afterwards."""
    names = [unique_account() for _ in range(3)]
    yield names
    with psycopg.connect(database_url) as conn:
        for table in ACCOUNT_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE account = ANY(%s)", (names,))


def command(account: str, second: int, action: str, command_id: str | None = None) -> object:
    return event("RiskCommand", account=account, action=action, ts_event=T0 + second * SEC,
                 ts_init=T0 + second * SEC, command_id=command_id or f"c-{account}-{second}")


def margin(account: str, second: int, **fields: object) -> object:
    return event("MarginState", account=account, ts_event=T0 + second * SEC, **fields)


def report(account: str, second: int, **fields: object) -> object:
    return event("RiskReport", account=account, ts_event=T0 + second * SEC, **fields)


def read_command(kafka_brokers: str, account: str) -> tuple[RiskCommand, int]:
    """The first command keyed by `account` on logic.risk.commands, and its partition."""
    for key, value, partition, _ in kafka.tail(
            kafka_brokers, "logic.risk.commands", count=1, from_beginning=True,
            key=account, timeout_s=60):
        assert key == account.encode()
        found = codec.decode("RiskCommand", value)
        assert isinstance(found, RiskCommand)
        return found, partition
    raise AssertionError(f"no command of {account} on logic.risk.commands")


def test_risk_is_the_newest_report_and_the_newest_commands_state(
    api_client: TestClient, read_headers: dict, database_url: str, accounts: list[str]
) -> None:
    halted, fresh, _ = accounts
    write(database_url,
          report(halted, 1, var_hist_95=100.0), report(halted, 3, var_hist_95=130.5,
                                                        stress={"crash": 900.0}),
          report(halted, 2, var_hist_95=120.0),
          command(halted, 1, "reduce"), command(halted, 4, "halt"), command(halted, 2, "resume"),
          report(fresh, 1))

    body = api_client.get(f"/api/v1/risk/{halted}", headers=read_headers).json()
    untouched = api_client.get(f"/api/v1/risk/{fresh}", headers=read_headers).json()

    assert body["account"] == halted
    assert (body["report"]["ts_event"], body["report"]["var_hist_95"]) == (T0 + 3 * SEC, 130.5)
    assert body["report"]["stress"] == {"crash": 900.0}
    assert body["report"]["scaling"] == "sqrt(h)"
    assert body["trading_state"]["state"] == "HALTED"
    assert body["trading_state"]["command"]["command_id"] == f"c-{halted}-4"
    assert untouched["trading_state"] == {"state": "ACTIVE", "command": None}


def test_each_action_sets_its_trading_state(
    api_client: TestClient, read_headers: dict, database_url: str, accounts: list[str]
) -> None:
    account = accounts[0]
    seen = []
    for second, action in enumerate(("halt", "reduce", "resume"), start=1):
        write(database_url, command(account, second, action))
        body = api_client.get(f"/api/v1/risk/{account}", headers=read_headers).json()
        seen.append(body["trading_state"]["state"])

    assert seen == ["HALTED", "REDUCING", "ACTIVE"]


def test_an_account_known_only_by_a_command_has_no_report(
    api_client: TestClient, read_headers: dict, database_url: str, accounts: list[str]
) -> None:
    account = accounts[0]
    write(database_url, command(account, 1, "halt"))

    body = api_client.get(f"/api/v1/risk/{account}", headers=read_headers).json()

    assert (body["report"], body["trading_state"]["state"]) == (None, "HALTED")


def test_margin_is_the_newest_margin_state(
    api_client: TestClient, read_headers: dict, database_url: str, accounts: list[str]
) -> None:
    account = accounts[0]
    write(database_url,
          margin(account, 1, equity="100.00"),
          margin(account, 2, method="portfolio", equity="100000.25",
                 initial_margin="15000.00", maintenance_margin="15000.00",
                 excess_liquidity="85000.25", sigma_usd=1250.5, call_probability=0.0125,
                 time_to_call_s=27_000.0, horizon_bars=60))

    body = api_client.get(f"/api/v1/margin/{account}", headers=read_headers).json()

    state = body["margin"]
    assert body["account"] == account
    assert (state["ts_event"], state["method"], state["equity"]) == (
        T0 + 2 * SEC, "portfolio", "100000.25")
    assert (state["initial_margin"], state["maintenance_margin"],
            state["excess_liquidity"]) == ("15000.00", "15000.00", "85000.25")
    assert (state["sigma_usd"], state["call_probability"], state["time_to_call_s"],
            state["horizon_bars"]) == (1250.5, 0.0125, 27_000.0, 60)


def test_an_account_without_margin_states_has_none(
    api_client: TestClient, read_headers: dict, database_url: str, accounts: list[str]
) -> None:
    account = accounts[0]
    write(database_url, event("Position", account=account))

    body = api_client.get(f"/api/v1/margin/{account}", headers=read_headers).json()

    assert body == {"account": account, "margin": None}


def test_accounts_lists_each_with_its_newest_equity_margin_and_state(
    api_client: TestClient, read_headers: dict, database_url: str, accounts: list[str]
) -> None:
    with_margin, with_snapshot, halted_only = accounts
    write(database_url,
          margin(with_margin, 1, equity="90.00", excess_liquidity="10.00"),
          margin(with_margin, 3, equity="95.50", excess_liquidity="-4.50",
                 call_probability=1.0),
          event("PortfolioSnapshot", account=with_margin, ts_event=T0 + 5 * SEC,
                equity="96.00"),
          event("PortfolioSnapshot", account=with_snapshot, ts_event=T0 + 1 * SEC,
                equity="1000.00"),
          event("PortfolioSnapshot", account=with_snapshot, ts_event=T0 + 2 * SEC,
                equity="1001.25"),
          event("Position", account=with_snapshot, ts_event=T0 + 2 * SEC),
          command(with_margin, 2, "reduce"), command(halted_only, 1, "halt"))

    body = api_client.get("/api/v1/accounts", headers=read_headers).json()

    mine = {a["account"]: a for a in body["data"] if a["account"] in accounts}
    names = [a["account"] for a in body["data"]]
    assert names == sorted(names) and body["count"] == len(names)
    assert mine[with_margin] | {"time": None} == {
        "account": with_margin, "trading_state": "REDUCING", "equity": "95.50",
        "equity_from": "margin", "time": None, "ts_event": T0 + 3 * SEC,
        "excess_liquidity": "-4.50", "call_probability": 1.0}
    assert (mine[with_snapshot]["equity"], mine[with_snapshot]["equity_from"],
            mine[with_snapshot]["excess_liquidity"], mine[with_snapshot]["trading_state"]) == (
        "1001.25", "portfolio", None, "ACTIVE")
    assert mine[halted_only] | {"time": None} == {
        "account": halted_only, "trading_state": "HALTED", "equity": None,
        "equity_from": None, "time": None, "ts_event": None, "excess_liquidity": None,
        "call_probability": None}


def test_accounts_are_found_in_every_account_table(
    api_client: TestClient, read_headers: dict, database_url: str
) -> None:
    made = {table: unique_account() for table in ACCOUNT_TABLES}
    rows = {"positions": "Position", "portfolio_snapshots": "PortfolioSnapshot",
            "margin_states": "MarginState", "risk_reports": "RiskReport",
            "risk_commands": "RiskCommand"}
    try:
        write(database_url, *(event(rows[table], account=name) for table, name in made.items()))

        listed = {a["account"] for a in api_client.get(
            "/api/v1/accounts", headers=read_headers).json()["data"]}
        each = {name: api_client.get(f"/api/v1/risk/{name}", headers=read_headers).status_code
                for name in made.values()}
    finally:
        with psycopg.connect(database_url) as conn:
            for table, name in made.items():
                conn.execute(f"DELETE FROM {table} WHERE account = %s", (name,))

    assert set(made.values()) <= listed
    assert set(each.values()) == {200}


@pytest.mark.parametrize("path", ["/api/v1/risk/{}", "/api/v1/margin/{}"])
def test_an_unknown_account_is_404(
    api_client: TestClient, read_headers: dict, path: str
) -> None:
    account = unique_account()

    response = api_client.get(path.format(account), headers=read_headers)

    assert (response.status_code, response.json()["detail"]) == (
        404, f"unknown account {account!r}")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/risk/A1"), ("GET", "/api/v1/margin/A1"), ("GET", "/api/v1/accounts"),
    ("POST", "/api/v1/risk/A1/halt"), ("POST", "/api/v1/risk/A1/reduce"),
    ("POST", "/api/v1/risk/A1/resume"),
])
def test_every_risk_route_needs_a_token(api_client: TestClient, method: str, path: str) -> None:
    assert api_client.request(method, path).status_code == 401


@pytest.mark.parametrize("action", ["halt", "reduce", "resume"])
def test_a_read_token_cannot_send_commands(
    api_client: TestClient, read_headers: dict, action: str
) -> None:
    response = api_client.post(f"/api/v1/risk/{unique_account()}/{action}",
                               headers=read_headers, json={"reason": "no"})

    assert (response.status_code, response.json()["detail"]) == (
        403, "this needs the 'admin' scope")


def test_halt_puts_the_command_on_the_log(
    api_client: TestClient, admin_headers: dict, admin_token: str, kafka_brokers: str
) -> None:
    account = unique_account()  # never stored: a halt does not need the database

    response = api_client.post(f"/api/v1/risk/{account}/halt", headers=admin_headers,
                               json={"reason": "desk limit breached"})

    assert response.status_code == 202
    body = response.json()
    sent, partition = read_command(kafka_brokers, account)
    token_id = admin_token.removeprefix("nst_").partition("_")[0]
    assert (sent.account, sent.action, sent.reason, sent.issued_by) == (
        account, "halt", "desk limit breached", f"api token {token_id}")
    assert sent.ts_event == sent.ts_init and uuid.UUID(sent.command_id)
    assert body["command"] | {"time": None} == {
        "time": None, **sent.model_dump(mode="json", exclude={"schema_version"})}
    assert (body["topic"], body["partition"]) == ("logic.risk.commands", partition)


@pytest.mark.parametrize("action", ["reduce", "resume"])
def test_reduce_and_resume_need_no_body(
    api_client: TestClient, admin_headers: dict, kafka_brokers: str, action: str
) -> None:
    account = unique_account()

    response = api_client.post(f"/api/v1/risk/{account}/{action}", headers=admin_headers)

    sent, _ = read_command(kafka_brokers, account)
    assert response.status_code == 202
    assert (sent.action, sent.reason, response.json()["command"]["command_id"]) == (
        action, "", sent.command_id)


def test_a_reason_longer_than_500_characters_is_422(
    api_client: TestClient, admin_headers: dict
) -> None:
    response = api_client.post(f"/api/v1/risk/{unique_account()}/halt",
                               headers=admin_headers, json={"reason": "x" * 501})

    assert response.status_code == 422


def test_a_reason_with_a_nul_character_is_422_and_no_command_is_sent(
    api_client: TestClient, admin_headers: dict, kafka_brokers: str
) -> None:
    # PostgreSQL text cannot hold NUL: the command would take effect and its row be refused
    account = unique_account()

    response = api_client.post(f"/api/v1/risk/{account}/halt", headers=admin_headers,
                               json={"reason": "desk\u0000limit"})

    assert response.status_code == 422
    assert "reason" in response.text
    assert not [k for _, _, k, _ in kafka.read_all(kafka_brokers, "logic.risk.commands")
                if k == account.encode()]


def test_a_body_that_is_not_utf8_is_400_as_documented(
    api_client: TestClient, admin_headers: dict
) -> None:
    # FastAPI reads the body before any dependency runs: the token's scope is not yet known
    documented = api_client.get("/openapi.json").json()[
        "paths"]["/api/v1/risk/{account}/halt"]["post"]["responses"]

    response = api_client.post(f"/api/v1/risk/{unique_account()}/halt",
                               content=b'{"reason": "\xff"}',
                               headers={**admin_headers, "Content-Type": "application/json"})

    assert response.status_code == 400
    assert set(response.json()) == {"detail"}  # ErrorBody
    assert documented["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_halt_with_the_broker_unreachable_is_503_and_says_it_is_not_confirmed(
    api_settings: Settings, admin_headers: dict
) -> None:
    down = api_settings.model_copy(update={"kafka_brokers": f"127.0.0.1:{free_port()}"})
    app.dependency_overrides[app_settings] = lambda: down
    account = unique_account()
    try:
        with TestClient(app) as client:
            response = client.post(f"/api/v1/risk/{account}/halt", headers=admin_headers)
    finally:
        app.dependency_overrides.clear()

    assert response.status_code == 503
    assert response.json()["detail"] == (
        f"the broker is unreachable or did not acknowledge: the halt of account {account!r} "
        "is not confirmed; send it again")
    assert "127.0.0.1" not in response.text


def test_money_is_exact(
    api_client: TestClient, read_headers: dict, database_url: str, accounts: list[str]
) -> None:
    account = accounts[0]
    write(database_url, margin(account, 1, equity="1234567890123.123456789"))

    body = api_client.get(f"/api/v1/margin/{account}", headers=read_headers).json()

    assert Decimal(body["margin"]["equity"]) == Decimal("1234567890123.123456789")


async def test_the_account_queries_answer_alike_on_postgresql_and_timescaledb(
    any_database_url: str
) -> None:
    from api.queries import accounts as queries

    names = sorted(unique_account() for _ in range(3))
    write(any_database_url,
          event("Position", account=names[0]), event("RiskReport", account=names[1]),
          command(names[2], 1, "halt"), command(names[2], 2, "resume"),
          margin(names[0], 1, equity="5.00"), margin(names[0], 2, equity="6.00"))
    try:
        async with await psycopg.AsyncConnection.connect(any_database_url,
                                                         autocommit=True) as conn:
            known = await queries.known_accounts(conn)
            newest_margin = await queries.newest(conn, "margin_states", names, ["equity"])
            newest_command = await queries.newest(conn, "risk_commands", names, ["action"])
            unknown = await queries.account_known(conn, unique_account())
    finally:
        with psycopg.connect(any_database_url) as conn:
            for table in ACCOUNT_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE account = ANY(%s)", (names,))

    assert set(names) <= set(known) and known == sorted(known)
    assert newest_margin == {names[0]: {"equity": Decimal("6.00")}}
    assert newest_command == {names[2]: {"action": "resume"}}
    assert unknown is False
