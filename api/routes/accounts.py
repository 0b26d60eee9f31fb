"""`/api/v1/accounts`: every account the database knows, with its newest equity, excess
liquidity, call probability and trading state."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import AUTH_RESPONSES, RequireRead
from api.deps import ConnectionDep
from api.models import AccountPublic, AccountsPublic, ok
from api.queries import accounts
from streams.risk_commands import trading_state

router = APIRouter(prefix="/api/v1", dependencies=[RequireRead], responses=AUTH_RESPONSES,
                   tags=["accounts"])
VALUED = ["equity", "time", "ts_event"]


@router.get("/accounts", response_model=AccountsPublic, responses=ok(AccountsPublic))
async def list_accounts(conn: ConnectionDep) -> AccountsPublic:
    """Every account with a stored position, portfolio snapshot, margin state, risk report or
    risk command, by name: its trading state (the action of its newest risk command; ACTIVE
    before any), its equity from its newest margin state (else its newest portfolio
    snapshot, `equity_from` says which), and that margin state's excess liquidity and call
    probability."""
    names = await accounts.known_accounts(conn)
    margins = await accounts.newest(conn, "margin_states", names,
                                    [*VALUED, "excess_liquidity", "call_probability"])
    snapshots = await accounts.newest(conn, "portfolio_snapshots", names, VALUED)
    commands = await accounts.newest(conn, "risk_commands", names, ["action"])
    data = []
    for name in names:
        margin, snapshot = margins.get(name), snapshots.get(name)
        valued = margin or snapshot or {}
        command = commands.get(name)
        data.append(AccountPublic(
            account=name, trading_state=trading_state(command["action"] if command else None),
            equity=valued.get("equity"), time=valued.get("time"), ts_event=valued.get("ts_event"),
            equity_from="margin" if margin else "portfolio" if snapshot else None,
            excess_liquidity=margin["excess_liquidity"] if margin else None,
            call_probability=margin["call_probability"] if margin else None))
    return AccountsPublic(data=data, count=len(data))
