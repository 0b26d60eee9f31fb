"""/api/v1/engines: each engine's workers as they are now. A worker that said `stopped` shows
as stopped, one silent for three health intervals without saying so as `stale`, a worker
whose last report is older than the horizon is no longer listed, and `current` marks the
workers the engine runs on now."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.deps import app_settings
from api.main import app
from streams.settings import Settings
from tests.api.data import cleanup, unique_symbol, write
from tests.factories import event

SEC = 1_000_000_000


@pytest.fixture
def engine(api_client: TestClient, api_settings: Settings, database_url: str) -> Iterator[str]:
    """An engine name of this test's own; the API told of a minute between health reports:
    stale after 3 minutes, forgotten after 10 (wide margins, so a slow machine between the
    writes and the request changes nothing)."""
    settings = api_settings.model_copy(update={"health_interval_ms": 60_000,
                                               "api_engine_horizon_ms": 600_000})
    app.dependency_overrides[app_settings] = lambda: settings
    name = unique_symbol("e").lower()
    with cleanup(database_url, [], [name]):
        yield name


def test_engines_show_current_stopped_and_stale_workers_and_age_out_the_rest(
    api_client: TestClient, read_headers: dict, database_url: str, engine: str
) -> None:
    now = time.time_ns()

    def health(worker: str, status: str, ago_s: int) -> object:
        return event("EngineHealth", engine=engine, worker=worker, status=status,
                     ts_event=now - ago_s * SEC, ts_init=now - ago_s * SEC)

    write(database_url,
          health("w-gone", "running", 1_200),  # the run before last: beyond the horizon
          health("w-dead", "running", 300),  # SIGKILLed 5 minutes ago, never said stopped
          health("w-stopped", "running", 100), health("w-stopped", "stopped", 90),
          health("w-live", "starting", 20), health("w-live", "running", 1))

    rows = api_client.get("/api/v1/engines", headers=read_headers).json()["data"]

    mine = [(r["worker"], r["status"], r["current"], r["stale"])
            for r in rows if r["engine"] == engine]
    assert mine == [
        ("w-live", "running", True, False),
        ("w-stopped", "stopped", False, False),
        ("w-dead", "stale", False, True),
    ]


def test_engines_report_the_newest_health_with_its_lag(
    api_client: TestClient, read_headers: dict, database_url: str, engine: str
) -> None:
    now = time.time_ns()
    write(database_url, *(event("EngineHealth", engine=engine, worker="w-1", lag=lag,
                                ts_event=now - (3 - i) * SEC, ts_init=now)
                          for i, lag in enumerate([9, 4, 0])))

    rows = api_client.get("/api/v1/engines", headers=read_headers).json()["data"]

    mine = [r for r in rows if r["engine"] == engine]
    assert [(r["worker"], r["lag"], r["ts_event"]) for r in mine] == [("w-1", 0, now - SEC)]
