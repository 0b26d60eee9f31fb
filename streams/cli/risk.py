"""`nautilus-streams risk halt|reduce|resume|status`: the kill switch and the risk desk's view.

`halt`, `reduce` and `resume` put a RiskCommand on logic.risk.commands (streams/risk_commands.py)
and print it once the broker has acknowledged it. `status` prints, per account, the trading
state, the newest MarginState and RiskReport from the database, and the configured limits (the
`pretrade` and `risk` engine parameters of this process's settings).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import socket
import sys
from datetime import datetime
from decimal import Decimal
from typing import Any

from streams import risk_commands
from streams.endpoints import database_url, reachable_kafka_brokers
from streams.schema import Event, MarginState, RiskCommand, RiskReport
from streams.settings import Settings, get_settings

LIMITS: dict[str, tuple[str, ...] | None] = {  # engine -> its limit parameters (None: all)
    "pretrade": None,
    "risk": ("var_measure", "var_limit", "stress_limit", "drawdown_limit", "clear_ratio"),
    "margin": ("method", "predicted_raise", "predicted_clear"),
}
_EFFECT = {
    "halt": "the pretrade engine rejects every new order of {account} and cancels its open "
            "orders within one batch",
    "reduce": "the pretrade engine lets through only orders of {account} that reduce a "
              "position, within one batch",
    "resume": "the pretrade engine checks the orders of {account} as before, within one batch",
}


def register(sub: argparse._SubParsersAction) -> None:
    risk = sub.add_parser(
        "risk", help="halt, reduce or resume an account's trading; show its risk and margin",
        description=(
            "The kill switch and the risk desk's view. Commands go to logic.risk.commands on "
            "the broker (KAFKA_BROKERS, else that of a running `up`); `status` reads the "
            "database (DATABASE_URL, else that of a running `up`)."),
    )
    cmds = risk.add_subparsers(dest="risk_command", metavar="SUBCOMMAND", required=True)
    for action in risk_commands.ACTIONS:
        effect = _EFFECT[action].format(account="the account")
        command = cmds.add_parser(
            action, help=f"{action} an account's trading: {effect}",
            description=(f"Publish a `{action}` RiskCommand for the account to "
                         f"logic.risk.commands and wait for the broker's acknowledgement: "
                         f"{effect}. Prints the command sent."),
        )
        command.add_argument("--account", required=True, type=_account,
                             help="the account, e.g. paper")
        command.add_argument("--reason", default="",
                             help="why, kept with the command (default: none)")
        command.set_defaults(handler=_send, action=action)

    status = cmds.add_parser(
        "status", help="per account: trading state, margin, VaR, stress, drawdown, limits",
        description=(
            "Print per account (every account with a stored position, portfolio snapshot, "
            "margin state, risk report or risk command; or only --account): its trading state "
            "(the action of its newest command as stored by the sink: halt HALTED, reduce "
            "REDUCING, resume ACTIVE; ACTIVE before any), its newest MarginState (equity, "
            "initial, maintenance, excess, call probability, time to call, method) and "
            "RiskReport (VaR, CVaR, stress, drawdown); then the configured limits, the "
            "`pretrade` and `risk` engine parameters of this process's settings "
            "(NAUTILUS_PRETRADE__*, NAUTILUS_RISK__*). Exit 1 when --account is unknown."),
    )
    status.add_argument("--account", type=_account,
                        help="only this account (default: every account)")
    status.add_argument("--json", action="store_true",
                        help="one JSON document on stdout instead of the table")
    status.set_defaults(handler=_status)


def _account(text: str) -> str:
    """An account name as the API takes it: 1 to 200 characters, not blank."""
    if not text.strip() or len(text) > 200:
        raise argparse.ArgumentTypeError(f"an account is 1 to 200 characters, got {text!r}")
    return text


def _issuer() -> str:
    return f"cli {getpass.getuser()}@{socket.gethostname()}"


def _send(args: argparse.Namespace) -> int:
    brokers = reachable_kafka_brokers(get_settings())
    command = risk_commands.new_command(args.account, args.action, reason=args.reason,
                                        issued_by=_issuer())
    sent = risk_commands.send(brokers, command)
    print(f"sent {command.action} of account {command.account}: command_id="
          f"{command.command_id} reason={command.reason!r} issued_by={command.issued_by!r} "
          f"ts_event={command.ts_event} to {sent.topic} partition {sent.partition} offset "
          f"{sent.offset} (broker {brokers})")
    print(_EFFECT[command.action].format(account=command.account))
    return 0


def configured_limits(settings: Settings) -> dict[str, dict[str, Any]]:
    """The limits in `settings`, per engine (LIMITS): every parameter of pre-trade risk (its
    limits and gates), the risk engine's limits and the margin engine's method and the call
    probabilities that raise and clear `margin_call_predicted`."""
    params = settings.engine_params().model_dump(mode="json")
    return {engine: {name: value for name, value in params[engine].items()
                     if names is None or name in names}
            for engine, names in LIMITS.items()}


def _columns(model: type[Event]) -> list[str]:
    return ["time", *(name for name in model.model_fields if name != "schema_version")]


async def _overview(url: str, account: str | None) -> list[dict[str, Any]]:
    """Per account: its name, newest command, margin state and risk report (or None)."""
    import psycopg

    from api.queries import accounts

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        if account is None:
            names = await accounts.known_accounts(conn)
        else:
            names = [account] if await accounts.account_known(conn, account) else []
        tables: list[tuple[accounts.AccountTable, type[Event]]] = [
            ("risk_commands", RiskCommand), ("margin_states", MarginState),
            ("risk_reports", RiskReport)]
        newest = {table: await accounts.newest(conn, table, names, _columns(model))
                  for table, model in tables}
    return [{"account": name, "command": newest["risk_commands"].get(name),
             "margin": newest["margin_states"].get(name),
             "risk": newest["risk_reports"].get(name)} for name in names]


def _status(args: argparse.Namespace) -> int:
    settings = get_settings()
    rows = asyncio.run(_overview(database_url(settings), args.account))
    for row in rows:
        command = row["command"]
        row["trading_state"] = risk_commands.trading_state(command["action"] if command else None)
    limits = configured_limits(settings)
    if args.json:
        print(json.dumps({"accounts": rows, "limits": limits}, default=_json_value, indent=2))
    else:
        print("\n".join(render(rows, limits, args.account)))
    if args.account is not None and not rows:
        print(f"nautilus-streams risk: unknown account {args.account!r}: nothing of it is "
              "stored (positions, portfolio, margin, risk reports, risk commands)",
              file=sys.stderr)
        return 1
    return 0


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def render(rows: list[dict[str, Any]], limits: dict[str, dict[str, Any]],
           account: str | None) -> list[str]:
    """The status as lines of text: a block per account, then the limits."""
    lines: list[str] = []
    if not rows and account is None:
        lines.append("no accounts stored yet (positions, portfolio, margin, risk reports, "
                     "risk commands)")
    for row in rows:
        lines += [f"account {row['account']}",
                  _field("trading state", _state(row["trading_state"], row["command"])),
                  *_margin(row["margin"]), *_risk(row["risk"]), ""]
    lines.append("limits (this process's settings)")
    for engine, params in limits.items():
        lines.append(_field(engine, "" if params else "no parameters"))
        width = max(map(len, params), default=0)
        lines += [f"    {name:<{width}}  {_limit(value)}" for name, value in params.items()]
    return lines


def _field(label: str, value: str, indent: int = 2) -> str:
    return f"{' ' * indent}{label:<{20 - indent}} {value}".rstrip()


def _state(state: str, command: dict[str, Any] | None) -> str:
    if command is None:
        return f"{state} (no command issued)"
    why = f": {command['reason']}" if command["reason"] else ""
    return (f"{state} ({command['action']} at {_when(command['time'])} by "
            f"{command['issued_by'] or 'unknown'}{why})")


def _margin(margin: dict[str, Any] | None) -> list[str]:
    if margin is None:
        return [_field("margin", "none yet")]
    ttc = margin["time_to_call_s"]
    return [
        _field("margin", f"{margin['method']} at {_when(margin['time'])}, {margin['currency']}"),
        _field("equity", _money(margin["equity"]), 4),
        _field("initial", _money(margin["initial_margin"]), 4),
        _field("maintenance", _money(margin["maintenance_margin"]), 4),
        _field("excess", _money(margin["excess_liquidity"]), 4),
        _field("call probability", f"{margin['call_probability']:.2%} within "
                                   f"{margin['horizon_bars']} bars", 4),
        _field("time to call", "none (no volatility)" if ttc is None else _duration(ttc), 4),
        _field("sigma", f"{margin['sigma_usd']:,.2f} per bar", 4),
    ]


def _risk(report: dict[str, Any] | None) -> list[str]:
    if report is None:
        return [_field("risk", "none yet")]
    stress = ", ".join(f"{name} {_usd(loss)}" for name, loss in sorted(report["stress"].items()))
    return [
        _field("risk", f"at {_when(report['time'])}, {report['currency']}, horizon "
                       f"{report['horizon_bars']} x {report['bar_seconds']} s bars scaled by "
                       f"{report['scaling']}, window {report['window_bars']} bars"),
        *(_field(f"VaR {level}%", f"hist {_usd(report[f'var_hist_{level}'])}  param "
                                  f"{_usd(report[f'var_param_{level}'])}  mc "
                                  f"{_usd(report[f'var_mc_{level}'])}" + _factor(report, level),
                 4) for level in (95, 99)),
        _field("CVaR 95% / 99%", f"hist {_usd(report['cvar_hist_95'])} / "
                                 f"{_usd(report['cvar_hist_99'])}", 4),
        _field("worst stress", _usd(report["worst_stress"]) + (f" ({stress})" if stress else ""),
               4),
        _field("drawdown", f"{report['drawdown']:,.4f}".rstrip("0").rstrip("."), 4),
        _field("exposure", f"gross {_usd(report['gross_exposure'])}  net "
                           f"{_usd(report['net_exposure'])}", 4),
    ]


def _factor(report: dict[str, Any], level: int) -> str:
    """The factor VaR after the others, with its horizon in days; nothing while it is null."""
    var = report.get(f"var_factor_{level}")
    return "" if var is None else f"  factor {_usd(var)} ({report['factor_horizon_days']} d)"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def _money(value: Decimal) -> str:
    return f"{value:,f}"  # exact: every digit stored


def _usd(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _limit(value: object) -> str:
    return "off" if value is None else json.dumps(value) if isinstance(value, dict | list) \
        else str(value)


def _duration(seconds: float) -> str:
    """`2d 3h`, `5h 12m`, `12m 30s`, `45s`: the two largest units."""
    whole = round(seconds)
    parts = [(whole // 86_400, "d"), (whole % 86_400 // 3_600, "h"), (whole % 3_600 // 60, "m"),
             (whole % 60, "s")]
    first = next((i for i, (n, _) in enumerate(parts) if n), len(parts) - 1)
    return " ".join(f"{n}{unit}" for n, unit in parts[first:first + 2])
