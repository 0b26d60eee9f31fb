"""API bearer tokens: create, list, revoke, look up (table `api_tokens`, migration 0003).

A token is `nst_<token_id>_<secret>`: `token_id` names it in listings and revocation, the
secret is 32 random bytes. Only the SHA-256 of the whole token is stored, so the database
never holds a usable credential; the token itself is returned once, by `create_token`.
Scopes: `read` and `admin`; admin implies read (`scope_allows`). A token may expire
(`expires_at`, migration 0015; none by default): past it, it is refused like a revoked one.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

import psycopg

from streams.exceptions import ConfigError
from streams.storage import connect

Scope = Literal["read", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
TOKEN_PREFIX = "nst_"
_INFO_COLUMNS = "token_id, name, scope, created_at, revoked_at, expires_at"


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What is stored about a token (never the token itself)."""

    token_id: str
    name: str
    scope: Scope
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None


def token_sha256(token: str) -> str:
    """Hex SHA-256 of a token: how tokens are stored and looked up."""
    return hashlib.sha256(token.encode()).hexdigest()


def scope_allows(granted: str, required: str) -> bool:
    """Whether a token with scope `granted` may use a route that needs `required`."""
    return granted == required or granted == "admin"


def create_token(database_url: str, scope: str, name: str,
                 expires_in: timedelta | None = None) -> tuple[str, TokenInfo]:
    """A new token and what is stored about it; the token is not retrievable later. With
    `expires_in`, it stops working that long after now (the database's clock)."""
    if expires_in is not None and expires_in <= timedelta(0):
        raise ConfigError(f"a token's lifetime must be positive, got {expires_in}")
    if scope not in SCOPES:
        raise ConfigError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    if not name.strip():
        raise ConfigError("a token needs a non-empty name")
    token_id = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    with connect(database_url) as conn:
        row = conn.execute(
            "INSERT INTO api_tokens (token_id, token_sha256, name, scope, expires_at)"
            " VALUES (%s, %s, %s, %s, now() + %s) RETURNING " + _INFO_COLUMNS,
            (token_id, token_sha256(token), name.strip(), scope, expires_in),
        ).fetchone()
    assert row is not None
    return token, TokenInfo(*row)


def list_tokens(database_url: str) -> list[TokenInfo]:
    """Every token, revoked ones included, oldest first."""
    with connect(database_url) as conn:
        rows = conn.execute(
            "SELECT " + _INFO_COLUMNS + " FROM api_tokens ORDER BY created_at, token_id"
        ).fetchall()
    return [TokenInfo(*row) for row in rows]


def revoke_token(database_url: str, token_id: str) -> bool:
    """Revoke a token by id; False when no active token has that id."""
    with connect(database_url) as conn:
        cur = conn.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE token_id = %s AND revoked_at IS NULL",
            (token_id.removeprefix(TOKEN_PREFIX),),
        )
        return cur.rowcount == 1


async def active_scope(conn: psycopg.AsyncConnection, token: str) -> Scope | None:
    """The scope of an active token (not revoked, not expired), None for an unknown, revoked
    or expired one."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    cur = await conn.execute(
        "SELECT scope FROM api_tokens WHERE token_sha256 = %s AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > now())",
        (token_sha256(token),),
    )
    row = await cur.fetchone()
    return row[0] if row else None
