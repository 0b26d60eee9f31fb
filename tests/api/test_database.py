"""The API while its database goes away and comes back (api/database.py): 503 without waiting
on a pool while it is away, and served again by the first request once it is back."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.deps import app_settings
from api.main import app
from streams.embedded import EmbeddedPostgres
from streams.settings import Settings
from streams.storage import migrate as migrations
from streams.storage import tokens


def test_while_the_database_is_away_requests_are_503_without_a_pool_and_served_once_back(
    traversable_tmp_path: Path,
) -> None:
    # Arrange: the API on a database of its own, tokens looked up on every request
    database = EmbeddedPostgres(traversable_tmp_path / "data")
    url = database.start()
    try:
        migrations.migrate(url)
        token, _ = tokens.create_token(url, "read", "database-away")
        settings = Settings.model_validate({"DATABASE_URL": url, "api_token_cache_ms": 0,
                                            "state_dir": traversable_tmp_path})
        app.dependency_overrides[app_settings] = lambda: settings
        with TestClient(app) as api:
            def symbols() -> int:
                return api.get("/api/v1/symbols",
                               headers={"Authorization": f"Bearer {token}"}).status_code

            up = symbols()
            pool_while_up = app.state.databases[url].pool

            # Act: the database stops; the first request finds its pooled connection broken
            database.stop()
            found_away = symbols()
            closed_when_found_away = pool_while_up is not None and pool_while_up.closed
            while_away = [symbols() for _ in range(3)]
            pool_while_away = app.state.databases[url].pool
            assert database.start() == url
            back = symbols()
            pool_once_back = app.state.databases[url].pool
            open_once_back = pool_once_back is not None and not pool_once_back.closed
    finally:
        app.dependency_overrides.clear()
        database.stop()

    # Assert: the pool was closed when the database was found away, so the requests after
    # had none to wait on; the first request once it was back made a new one and was served
    assert (up, found_away, while_away, back) == (200, 503, [503, 503, 503], 200)
    assert closed_when_found_away
    assert pool_while_away is None
    assert open_once_back
