"""`/api/v1/portfolio/{account}`: an account's newest valuation and its positions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from api.auth import AUTH_RESPONSES, RequireRead
from api.deps import ConnectionDep
from api.models import PortfolioPublic, ok, record_model
from api.params import AccountParam, examples
from api.queries import portfolio
from streams.schema import PortfolioSnapshot, Position

router = APIRouter(prefix="/api/v1", dependencies=[RequireRead], responses=AUTH_RESPONSES,
                   tags=["portfolio"])
UNKNOWN_ACCOUNT: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"description": "no snapshot or position of this account is stored"},
}


@router.get("/portfolio/{account}", response_model=PortfolioPublic,
            responses={**ok(PortfolioPublic), **UNKNOWN_ACCOUNT})
async def account_portfolio(
    conn: ConnectionDep, account: AccountParam,
    flat: Annotated[bool, Query(description="also the positions closed to quantity 0",
                                openapi_examples=examples(open=False, all=True))] = False,
) -> Any:
    """The account's newest PortfolioSnapshot by event time and the newest record of each
    of its positions (open ones; `flat=true` adds those closed to zero), by symbol. 404 when
    nothing of the account is stored."""
    snapshot = await portfolio.latest_snapshot(
        conn, account, list(record_model(PortfolioSnapshot).model_fields))
    positions = await portfolio.latest_positions(
        conn, account, list(record_model(Position).model_fields), flat)
    if snapshot is None and not positions:
        known = await portfolio.latest_positions(conn, account, ["symbol"], flat=True)
        if not known:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown account {account!r}")
    return PortfolioPublic(account=account, snapshot=snapshot, positions=positions)
