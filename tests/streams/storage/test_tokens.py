"""API tokens on the real database: only hashes stored, scopes, revocation, expiry, the CLI."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta

import psycopg
import pytest

from streams.exceptions import ConfigError
from streams.storage import tokens


def test_create_stores_only_the_hash_and_returns_the_token_once(database_url: str) -> None:
    token, info = tokens.create_token(database_url, "read", "notebook")

    with psycopg.connect(database_url) as conn:
        stored = conn.execute(
            "SELECT * FROM api_tokens WHERE token_id = %s", (info.token_id,)
        ).fetchone()
    assert token.startswith(f"nst_{info.token_id}_") and len(token) > 50
    assert stored is not None and token not in [str(v) for v in stored]
    assert tokens.token_sha256(token) in stored
    tokens.revoke_token(database_url, info.token_id)


async def test_revoked_and_unknown_tokens_have_no_scope(database_url: str) -> None:
    token, info = tokens.create_token(database_url, "admin", "ops")
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        assert await tokens.active_scope(conn, token) == "admin"
        assert tokens.revoke_token(database_url, info.token_id)
        assert await tokens.active_scope(conn, token) is None
        assert await tokens.active_scope(conn, token[:-1] + "x") is None
    assert not tokens.revoke_token(database_url, info.token_id)  # already revoked


def test_admin_implies_read_not_the_reverse() -> None:
    assert tokens.scope_allows("admin", "read") and tokens.scope_allows("read", "read")
    assert not tokens.scope_allows("read", "admin")


@pytest.mark.parametrize(("scope", "name"), [("write", "x"), ("read", "  ")])
def test_bad_scope_or_empty_name_is_refused(database_url: str, scope: str, name: str) -> None:
    with pytest.raises(ConfigError):
        tokens.create_token(database_url, scope, name)


def test_cli_create_list_revoke(services_env: dict[str, str]) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "streams", "token", *args],
                              env=services_env, capture_output=True, text=True, timeout=60)

    created = cli("create", "--scope", "admin", "--name", "cli-test")
    token = created.stdout.strip()
    token_id = token.split("_")[1]
    listed = cli("list")
    revoked = cli("revoke", token_id)
    again = cli("revoke", token_id)

    assert created.returncode == 0 and token.startswith("nst_"), created.stderr
    assert "not shown again" in created.stderr
    assert token_id in listed.stdout and "cli-test" in listed.stdout
    assert token not in listed.stdout
    assert revoked.returncode == 0 and again.returncode == 1


async def test_a_token_past_its_expiry_has_no_scope(database_url: str) -> None:
    token, info = tokens.create_token(database_url, "read", "expiring", timedelta(hours=1))
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        active = await tokens.active_scope(conn, token)
        # an hour later, as the database sees it: its expiry moved into the past
        await conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 second'"
                           " WHERE token_id = %s", (info.token_id,))
        await conn.commit()
        expired = await tokens.active_scope(conn, token)

    assert info.expires_at is not None and info.expires_at - info.created_at == timedelta(hours=1)
    assert active == "read" and expired is None


def test_a_lifetime_must_be_positive(database_url: str) -> None:
    with pytest.raises(ConfigError, match="lifetime must be positive"):
        tokens.create_token(database_url, "read", "never-valid", timedelta(0))


def test_cli_creates_an_expiring_token_and_lists_its_expiry(
    services_env: dict[str, str],
) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "streams", "token", *args],
                              env=services_env, capture_output=True, text=True, timeout=60)

    created = cli("create", "--name", "cli-expiring", "--expires-in", "90d")
    token_id = created.stdout.strip().split("_")[1]
    (row,) = [line for line in cli("list").stdout.splitlines() if token_id in line]
    bad = [cli("create", "--expires-in", text) for text in ("5x", "-5d", "0h")]
    cli("revoke", token_id)

    assert created.returncode == 0 and "expires=" in created.stderr, created.stderr
    created_at, revoked, expires = row.split()[2:5]
    assert revoked == "-"
    assert (datetime.fromisoformat(expires) - datetime.fromisoformat(created_at)).days == 90
    assert [b.returncode for b in bad] == [2, 2, 2]
    assert "expected a number and s, m, h or d" in bad[0].stderr
