"""`nautilus-streams risk`, run as a user runs it (a subprocess) against the session's broker
and database: halt/reduce/resume put their command on logic.risk.commands (read back from the
broker), also through a running `up` found without KAFKA_BROKERS; an unreachable broker is one
line naming it; `status` prints the trading state, the newest margin state and risk report of
each account, and the limits, as a table and as JSON, with rows and with none."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from processors.pretrade.params import PretradeParams
from streams import codec, kafka
from streams.endpoints import Endpoints
from streams.schema import RiskCommand
from streams.storage import migrate as migrations
from tests.api.data import write
from tests.factories import T0, event

SEC = 1_000_000_000
ACCOUNT_TABLES = ("positions", "portfolio_snapshots", "margin_states", "risk_reports",
                  "risk_commands")


def risk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams", "risk", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def unique_account() -> str:
    return f"CL{uuid.uuid4().hex[:8].upper()}"


def read_command(kafka_brokers: str, account: str) -> RiskCommand:
    for _, value, _, _ in kafka.tail(kafka_brokers, "logic.risk.commands", count=1,
                                     from_beginning=True, key=account, timeout_s=60):
        found = codec.decode("RiskCommand", value)
        assert isinstance(found, RiskCommand)
        return found
    raise AssertionError(f"no command of {account} on logic.risk.commands")


@pytest.fixture
def account(database_url: str) -> Iterator[str]:
    name = unique_account()
    yield name
    with psycopg.connect(database_url) as conn:
        for table in ACCOUNT_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE account = %s", (name,))


@pytest.mark.parametrize("action", ["halt", "reduce", "resume"])
def test_a_command_goes_to_the_log_and_is_printed(
    services_env: dict[str, str], kafka_brokers: str, action: str
) -> None:
    account = unique_account()

    result = risk(services_env, action, "--account", account, "--reason", "desk limit")

    assert result.returncode == 0, result.stderr
    sent = read_command(kafka_brokers, account)
    assert (sent.account, sent.action, sent.reason) == (account, action, "desk limit")
    assert sent.issued_by.startswith("cli ") and sent.ts_event == sent.ts_init
    first, effect = result.stdout.splitlines()
    assert first.startswith(f"sent {action} of account {account}: command_id={sent.command_id} "
                            f"reason='desk limit' issued_by={sent.issued_by!r} "
                            f"ts_event={sent.ts_event} to logic.risk.commands partition ")
    assert "within one batch" in effect


def test_halt_finds_the_broker_of_a_running_up(
    base_env: dict[str, str], kafka_brokers: str, database_url: str, tmp_path: Path
) -> None:
    state_dir = tmp_path / ".nautilus"
    Endpoints(kafka_brokers, database_url, "http://127.0.0.1:1", os.getpid()).write(state_dir)
    account = unique_account()

    result = risk({**base_env, "NAUTILUS_STATE_DIR": str(state_dir)}, "halt",
                  "--account", account)

    assert result.returncode == 0, result.stderr
    assert read_command(kafka_brokers, account).action == "halt"


def test_an_unreachable_broker_is_one_line_naming_it(base_env: dict[str, str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    result = risk({**base_env, "KAFKA_BROKERS": f"127.0.0.1:{port}"}, "halt",
                  "--account", "A1")

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"nautilus-streams risk: error: broker 127.0.0.1:{port} (KAFKA_BROKERS) unreachable: "
        f"127.0.0.1:{port}: connection refused"]
    assert result.stdout == ""


def test_help_says_a_halt_cancels_open_orders_within_one_batch(
    base_env: dict[str, str]
) -> None:
    result = risk(base_env, "halt", "--help")

    assert "cancels its open orders within one batch" in " ".join(result.stdout.split())


def write_account(database_url: str, account: str) -> None:
    write(database_url,
          event("RiskCommand", account=account, action="reduce", ts_event=T0 + 1 * SEC,
                command_id=f"{account}-1", reason="", issued_by="cli a@b"),
          event("RiskCommand", account=account, action="halt", ts_event=T0 + 2 * SEC,
                command_id=f"{account}-2", reason="desk limit", issued_by="cli ops@desk"),
          event("MarginState", account=account, ts_event=T0 + 1 * SEC, equity="1.00"),
          event("MarginState", account=account, ts_event=T0 + 3 * SEC, method="portfolio",
                equity="1234567.891", initial_margin="150000.00",
                maintenance_margin="150000.00", excess_liquidity="1084567.891",
                sigma_usd=2500.0, call_probability=0.0125, time_to_call_s=27_000.0),
          event("RiskReport", account=account, ts_event=T0 + 3 * SEC, horizon_bars=10,
                bar_seconds=60, window_bars=250, var_hist_95=1500.25, cvar_hist_95=1900.5,
                var_hist_99=2100.0, cvar_hist_99=2600.0, var_param_95=1400.0,
                var_param_99=1980.0, var_mc_95=1410.0, var_mc_99=1990.0,
                stress={"crash": 12000.0, "rates_up": 3000.0}, worst_stress=12000.0,
                drawdown=0.035))


def test_status_prints_state_margin_risk_and_limits(
    services_env: dict[str, str], database_url: str, account: str
) -> None:
    write_account(database_url, account)

    result = risk(services_env, "status", "--account", account)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:19] == [
        f"account {account}",
        "  trading state      HALTED (halt at 2023-11-14 22:13:02Z by cli ops@desk: desk limit)",
        "  margin             portfolio at 2023-11-14 22:13:03Z, USD",
        "    equity           1,234,567.891",
        "    initial          150,000.00",
        "    maintenance      150,000.00",
        "    excess           1,084,567.891",
        "    call probability 1.25% within 60 bars",
        "    time to call     7h 30m",
        "    sigma            2,500.00 per bar",
        "  risk               at 2023-11-14 22:13:03Z, USD, horizon 10 x 60 s bars scaled by "
        "sqrt(h), window 250 bars",
        "    VaR 95%          hist 1,500.25  param 1,400.00  mc 1,410.00",
        "    VaR 99%          hist 2,100.00  param 1,980.00  mc 1,990.00",
        "    CVaR 95% / 99%   hist 1,900.50 / 2,600.00",
        "    worst stress     12,000.00 (crash 12,000.00, rates_up 3,000.00)",
        "    drawdown         0.035",
        "    exposure         gross 10,101.00  net -10,101.00",
        "",
        "limits (this process's settings)",
    ]
    engines = [line.split()[0] for line in lines[19:] if not line.startswith("    ")]
    assert engines == ["pretrade", "risk", "margin"]
    risk_limits = lines[19 + len(PretradeParams.model_fields) + 1:][1:6]
    assert [line.split()[0] for line in risk_limits] == [
        "var_measure", "var_limit", "stress_limit", "drawdown_limit", "clear_ratio"]


def test_status_json_has_every_field_and_the_configured_limits(
    services_env: dict[str, str], database_url: str, account: str
) -> None:
    from streams.settings import Settings

    write_account(database_url, account)
    params = Settings().engine_params().model_dump(mode="json")

    result = risk(services_env, "status", "--json")

    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    (mine,) = [a for a in doc["accounts"] if a["account"] == account]
    assert mine["trading_state"] == "HALTED"
    assert (mine["command"]["command_id"], mine["command"]["time"]) == (
        f"{account}-2", "2023-11-14T22:13:02+00:00")
    assert (mine["margin"]["equity"], mine["margin"]["excess_liquidity"],
            mine["margin"]["method"], mine["margin"]["time_to_call_s"]) == (
        "1234567.891", "1084567.891", "portfolio", 27_000.0)
    assert (mine["risk"]["var_hist_99"], mine["risk"]["stress"]) == (
        2100.0, {"crash": 12000.0, "rates_up": 3000.0})
    assert doc["limits"]["pretrade"] == params["pretrade"]
    assert doc["limits"]["risk"] == {name: params["risk"][name] for name in (
        "var_measure", "var_limit", "stress_limit", "drawdown_limit", "clear_ratio")}
    assert doc["limits"]["margin"] == {name: params["margin"][name] for name in (
        "method", "predicted_raise", "predicted_clear")}


@pytest.fixture
def empty_database(scratch_database: str) -> str:
    migrations.migrate(scratch_database)
    return scratch_database


def test_status_without_rows_says_so(services_env: dict[str, str], empty_database: str) -> None:
    env = {**services_env, "DATABASE_URL": empty_database}

    table = risk(env, "status")
    as_json = risk(env, "status", "--json")

    assert table.returncode == as_json.returncode == 0, table.stderr + as_json.stderr
    assert table.stdout.splitlines()[:3] == [
        "no accounts stored yet (positions, portfolio, margin, risk reports, risk commands)",
        "limits (this process's settings)", table.stdout.splitlines()[2]]
    assert json.loads(as_json.stdout)["accounts"] == []


def test_status_of_an_account_with_only_a_position(
    services_env: dict[str, str], database_url: str, account: str
) -> None:
    write(database_url, event("Position", account=account))

    result = risk(services_env, "status", "--account", account)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:4] == [
        f"account {account}", "  trading state      ACTIVE (no command issued)",
        "  margin             none yet", "  risk               none yet"]


def test_status_of_an_unknown_account_exits_1(services_env: dict[str, str]) -> None:
    account = unique_account()

    result = risk(services_env, "status", "--account", account)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"nautilus-streams risk: unknown account {account!r}: nothing of it is stored "
        "(positions, portfolio, margin, risk reports, risk commands)")


def test_limits_are_the_engines_limit_parameters_from_the_settings(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from streams.cli.risk import configured_limits
    from streams.settings import Settings

    monkeypatch.setenv("NAUTILUS_PRETRADE__MAX_NOTIONAL_PER_ORDER", "250000")
    monkeypatch.setenv("NAUTILUS_RISK__DRAWDOWN_LIMIT", '{"ACC1": 0.05}')
    monkeypatch.setenv("NAUTILUS_MARGIN__METHOD", "portfolio")

    limits = configured_limits(Settings())

    assert limits["pretrade"]["max_notional_per_order"] == {"default": "250000"}
    assert limits["pretrade"]["toxicity_gate"] is True
    assert limits["risk"]["drawdown_limit"] == {"ACC1": 0.05}
    assert set(limits["risk"]) == {"var_measure", "var_limit", "stress_limit",
                                   "drawdown_limit", "clear_ratio"}
    assert limits["margin"]["method"]["default"] == "portfolio"
    assert set(limits["margin"]) == {"method", "predicted_raise", "predicted_clear"}


def test_limits_print_one_parameter_a_line_unset_ones_off() -> None:
    from streams.cli.risk import render

    lines = render([], {"pretrade": {"max_notional_per_order": 50000.0, "toxicity_gate": True,
                                     "max_position": {"default": None, "AAPL": 500},
                                     "max_quantity_per_order": None},
                        "margin": {}}, None)

    assert lines[1:] == [
        "limits (this process's settings)",
        "  pretrade",
        "    max_notional_per_order  50000.0",
        "    toxicity_gate           True",
        '    max_position            {"default": null, "AAPL": 500}',
        "    max_quantity_per_order  off",
        "  margin             no parameters"]


def test_the_factor_var_follows_the_others_with_its_horizon_in_days() -> None:
    from streams.cli.risk import render

    report = event("RiskReport", horizon_bars=10, var_hist_95=1500.25, var_param_95=1400.0,
                   var_mc_95=1410.0, factor_horizon_days=5, var_factor_95=2222.5,
                   var_factor_99=3141.0).model_dump()
    row = {"account": "ACC1", "trading_state": "ACTIVE", "command": None, "margin": None,
           "risk": report | {"time": datetime(2023, 11, 14, 22, 13, 3, tzinfo=UTC)}}

    lines = render([row], {}, "ACC1")

    assert lines[4:6] == [
        "    VaR 95%          hist 1,500.25  param 1,400.00  mc 1,410.00  factor 2,222.50 (5 d)",
        "    VaR 99%          hist -  param -  mc -  factor 3,141.00 (5 d)"]
