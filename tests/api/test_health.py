"""`/health` and `/ready` against the session's real broker and database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from psycopg import conninfo

from api.deps import app_settings
from api.main import app
from streams.embedded import free_port
from streams.settings import Settings

PASSWORD = "s3cret-Pw-not-for-eyes"


@pytest.fixture
def client_for(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """A TestClient whose settings name exactly these services (None: not configured)."""

    def make(kafka_brokers: str | None, database_url: str | None) -> TestClient:
        settings = Settings.model_validate(
            {"KAFKA_BROKERS": kafka_brokers, "DATABASE_URL": database_url, "state_dir": tmp_path}
        )
        app.dependency_overrides[app_settings] = lambda: settings
        return TestClient(app)

    yield make
    app.dependency_overrides.clear()


def _with_password(database_url: str) -> str:
    # The embedded server trusts local connections, so any password is accepted.
    return conninfo.make_conninfo(database_url, password=PASSWORD)


def test_health_is_always_ok(client_for: Callable[..., TestClient]) -> None:
    response = client_for(None, None).get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_when_broker_and_database_answer(
    client_for: Callable[..., TestClient], kafka_brokers: str, database_url: str
) -> None:
    response = client_for(kafka_brokers, database_url).get("/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"broker": "ok", "database": "ok"}}


def test_not_ready_when_the_broker_is_unreachable(
    client_for: Callable[..., TestClient], database_url: str
) -> None:
    wrong_broker = f"127.0.0.1:{free_port()}"

    response = client_for(wrong_broker, _with_password(database_url)).get("/ready")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable", "checks": {"broker": "unreachable", "database": "ok"},
    }
    assert PASSWORD not in response.text and wrong_broker not in response.text


def test_not_ready_when_the_database_is_unreachable(
    client_for: Callable[..., TestClient], kafka_brokers: str, tmp_path: Path
) -> None:
    wrong_database = f"postgresql://postgres:{PASSWORD}@/postgres?host={tmp_path}"

    response = client_for(kafka_brokers, wrong_database).get("/ready")

    assert response.status_code == 503
    assert response.json()["checks"] == {"broker": "ok", "database": "unreachable"}
    assert PASSWORD not in response.text and str(tmp_path) not in response.text


def test_not_ready_when_nothing_is_configured(client_for: Callable[..., TestClient]) -> None:
    response = client_for(None, None).get("/ready")

    assert response.status_code == 503
    assert response.json()["checks"] == {
        "broker": "not configured", "database": "not configured",
    }


def test_a_data_route_with_the_database_down_is_503_with_a_clear_body(
    client_for: Callable[..., TestClient], kafka_brokers: str, tmp_path: Path
) -> None:
    wrong_database = f"postgresql://postgres:{PASSWORD}@/postgres?host={tmp_path}"

    with client_for(kafka_brokers, wrong_database) as client:  # with its lifespan
        response = client.get("/api/v1/symbols", headers={"Authorization": "Bearer nst_0_x"})

    assert response.status_code == 503
    assert response.json() == {"detail": "the database is unavailable"}
    assert PASSWORD not in response.text and str(tmp_path) not in response.text
