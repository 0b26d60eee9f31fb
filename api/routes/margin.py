"""`/api/v1/margin/{account}`: an account's newest MarginState (logic.margin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.auth import AUTH_RESPONSES, RequireRead
from api.deps import ConnectionDep
from api.models import MarginPublic, ok, record_model
from api.params import UNKNOWN_ACCOUNT, AccountParam, require_account
from api.queries import accounts
from streams.schema import MarginState

router = APIRouter(prefix="/api/v1", dependencies=[RequireRead], responses=AUTH_RESPONSES,
                   tags=["margin"])
MARGIN_COLUMNS = list(record_model(MarginState).model_fields)


@router.get("/margin/{account}", response_model=MarginPublic,
            responses={**ok(MarginPublic), **UNKNOWN_ACCOUNT})
async def account_margin(conn: ConnectionDep, account: AccountParam) -> Any:
    """The account's newest MarginState by event time: equity, initial and maintenance
    margin, excess liquidity (exact decimal strings), the method, and the predictive margin
    call (dollar volatility per bar, call probability within the horizon, time to call);
    null before the first. 404 for an account of which nothing is stored."""
    await require_account(conn, account)
    margin = await accounts.newest(conn, "margin_states", [account], MARGIN_COLUMNS)
    return MarginPublic(account=account, margin=margin.get(account))
