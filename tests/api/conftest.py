"""Fixtures for API tests: an app bound to the session's services, and tokens per scope.

`api_client` is a TestClient (lifespan run, so the connection pools exist) whose settings
name the session's broker and database. `read_token` / `admin_token` are real tokens created
through `streams.storage.tokens` and revoked after the test; `read_headers` / `admin_headers`
carry them as `Authorization: Bearer ...`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.deps import app_settings
from api.main import app
from streams.settings import Settings
from streams.storage import tokens


@pytest.fixture
def api_settings(kafka_brokers: str, database_url: str, tmp_path: Path) -> Settings:
    return Settings.model_validate(
        {"KAFKA_BROKERS": kafka_brokers, "DATABASE_URL": database_url, "state_dir": tmp_path,
         "api_token_cache_ms": 0, "api_latest_cache_ms": 0, "api_broker_cache_ms": 0}
    )


@pytest.fixture
def api_client(api_settings: Settings) -> Iterator[TestClient]:
    app.dependency_overrides[app_settings] = lambda: api_settings
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.dependency_overrides.clear()


def _token(database_url: str, scope: str) -> Iterator[str]:
    token, info = tokens.create_token(database_url, scope, f"test-{scope}")
    yield token
    tokens.revoke_token(database_url, info.token_id)


@pytest.fixture
def read_token(database_url: str) -> Iterator[str]:
    yield from _token(database_url, "read")


@pytest.fixture
def admin_token(database_url: str) -> Iterator[str]:
    yield from _token(database_url, "admin")


@pytest.fixture
def read_headers(read_token: str) -> dict[str, str]:
    """`Authorization` header with a read-scope token."""
    return {"Authorization": f"Bearer {read_token}"}


@pytest.fixture
def admin_headers(admin_token: str) -> dict[str, str]:
    """`Authorization` header with an admin-scope token."""
    return {"Authorization": f"Bearer {admin_token}"}
