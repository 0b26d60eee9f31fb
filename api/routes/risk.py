"""`/api/v1/risk/{account}`: an account's trading state and newest RiskReport (read scope);
and the kill switch, `POST /api/v1/risk/{account}/halt`, `/reduce` and `/resume` (admin
scope), which put a RiskCommand on logic.risk.commands (streams/risk_commands.py).

The commands do not look at the database: an account can be halted before it ever traded,
and while the database is down or behind. The trading state shown by the GET is the action of
the newest command the sink has stored.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Body, HTTPException, status

from api.auth import AUTH_RESPONSES, IssuerDep, RequireAdmin, RequireRead
from api.body_limit import BODY_TOO_LARGE
from api.deps import ConnectionDep, SettingsDep
from api.models import (
    ErrorBody,
    RiskCommandRequest,
    RiskCommandSent,
    RiskPublic,
    TradingStatePublic,
    ok,
    record_model,
)
from api.params import UNKNOWN_ACCOUNT, AccountParam, examples, from_micros, require_account
from api.queries import accounts
from streams import endpoints, risk_commands
from streams.exceptions import BrokerError, ConfigError
from streams.risk_commands import Action
from streams.schema import RiskCommand, RiskReport
from streams.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["risk"])

REPORT_COLUMNS = list(record_model(RiskReport).model_fields)
COMMAND_COLUMNS = list(record_model(RiskCommand).model_fields)
BROKER_DOWN: dict[int | str, dict[str, Any]] = {status.HTTP_503_SERVICE_UNAVAILABLE: {
    "description": "the broker is unreachable or did not acknowledge: the command is not "
                   "confirmed, send it again"}}
# FastAPI's answer to a body it cannot decode, given before any dependency (the token's check)
UNREADABLE_BODY: dict[int | str, dict[str, Any]] = {status.HTTP_400_BAD_REQUEST: {
    "model": ErrorBody, "description": "the body is not UTF-8 text"}}
_WHAT = {
    "halt": "Halt the account: the pretrade engine rejects every new order of it and "
            "cancels its open orders, within one batch.",
    "reduce": "Let through only the account's orders that reduce a position.",
    "resume": "Trade again: the account's orders go through the pre-trade checks as before.",
}


@router.get("/risk/{account}", response_model=RiskPublic, dependencies=[RequireRead],
            responses={**ok(RiskPublic), **UNKNOWN_ACCOUNT, **AUTH_RESPONSES})
async def account_risk(conn: ConnectionDep, account: AccountParam) -> Any:
    """The account's trading state (the action of its newest risk command; ACTIVE before
    any) and its newest RiskReport by event time (null before the first). 404 for an
    account of which nothing is stored."""
    await require_account(conn, account)
    report = await accounts.newest(conn, "risk_reports", [account], REPORT_COLUMNS)
    return RiskPublic(account=account, report=report.get(account),
                      trading_state=await trading_state(conn, account))


async def trading_state(conn: psycopg.AsyncConnection, account: str) -> Any:
    """The account's trading state and the newest command that set it."""
    command = (await accounts.newest(conn, "risk_commands", [account],
                                     COMMAND_COLUMNS)).get(account)
    return TradingStatePublic(
        state=risk_commands.trading_state(command["action"] if command else None),
        command=command)


CommandBody = Annotated[RiskCommandRequest | None, Body(openapi_examples=examples(
    with_a_reason={"reason": "desk limit breached"}, without={}))]


def _command_route(action: Action) -> None:
    async def command(account: AccountParam, settings: SettingsDep, issuer: IssuerDep,
                      body: CommandBody = None) -> Any:
        reason = body.reason if body is not None else ""
        return await send(settings, risk_commands.new_command(
            account, action, reason=reason, issued_by=issuer))

    command.__doc__ = (f"{_WHAT[action]} Puts a RiskCommand (`{action}`) on "
                       "logic.risk.commands, keyed by the account, and answers 202 once the "
                       "broker has acknowledged it; 503 when the broker is unreachable (the "
                       "command is then not confirmed). The body's `reason` is optional.")
    router.add_api_route(
        f"/risk/{{account}}/{action}", command, methods=["POST"], name=f"risk_{action}",
        summary=f"{action.capitalize()} an account's trading", dependencies=[RequireAdmin],
        status_code=status.HTTP_202_ACCEPTED, response_model=RiskCommandSent,
        responses={**ok(RiskCommandSent, status.HTTP_202_ACCEPTED), **BROKER_DOWN,
                   **UNREADABLE_BODY, **BODY_TOO_LARGE, **AUTH_RESPONSES})


async def send(settings: Settings, command: RiskCommand) -> Any:
    """Send `command` and wait for the broker's acknowledgement; 503 without one."""
    try:
        brokers = endpoints.kafka_brokers(settings)
        sent = await asyncio.to_thread(risk_commands.send, brokers, command)
    except (BrokerError, ConfigError) as exc:
        log.warning("risk command not confirmed command_id=%s account=%s action=%s error=%s",
                    command.command_id, command.account, command.action, exc)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"the broker is unreachable or did not acknowledge: the {command.action} of "
            f"account {command.account!r} is not confirmed; send it again") from None
    record = {"time": from_micros(command.ts_event // 1000),
              **command.model_dump(exclude={"schema_version"})}
    return RiskCommandSent(command=record, topic=sent.topic, partition=sent.partition,
                           offset=sent.offset)


for _action in risk_commands.ACTIONS:
    _command_route(_action)
