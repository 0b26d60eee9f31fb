"""The database goes away for a minute under load and comes back: the sink holds its offsets,
reports itself degraded with its lag, and catches up with nothing lost or doubled; the API
answers 503 with a clear body meanwhile."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from api.deps import app_settings
from api.main import app
from streams import kafka
from streams.embedded import EmbeddedPostgres
from streams.schema import EngineHealth
from streams.settings import Settings
from streams.sink.runner import Sink
from streams.storage import migrate as migrations
from streams.storage import tokens
from tests.factories import T0, trade
from tests.streams.sink.conftest import SinkTopics, count, running, wait_for


def _reports(topics: SinkTopics) -> list[EngineHealth]:
    return [EngineHealth.model_validate_json(v)
            for _, _, _, v in kafka.read_all(topics.brokers, topics.health)]


def _statuses(topics: SinkTopics) -> list[str]:
    return [h.status for h in _reports(topics)]


OUTAGE_S = 60.0  # issue 16: PostgreSQL down 60 s under load


@pytest.mark.slow
def test_a_minute_long_database_outage_under_load_loses_nothing_and_the_api_says_503(
    sink_topics: SinkTopics, traversable_tmp_path: Path
) -> None:
    # Arrange: the sink and the API on a database of their own, with trades in it
    database = EmbeddedPostgres(traversable_tmp_path / "data")
    url = database.start()
    produced = 0

    def produce(count: int) -> None:
        nonlocal produced
        sink_topics.produce(*(trade(symbol="OUTAGE60", ts_event=T0 + i, ts_init=T0 + i,
                                    trade_id=f"o-{i}") for i in range(produced, produced + count)))
        produced += count

    try:
        migrations.migrate(url)
        token, _ = tokens.create_token(url, "read", "outage")
        settings = Settings.model_validate({"KAFKA_BROKERS": sink_topics.brokers,
                                            "DATABASE_URL": url, "api_rate_per_s": 0})
        app.dependency_overrides[app_settings] = lambda: settings
        sink = Sink(sink_topics.config(url, batch_rows=500), sink_topics.routes)
        with running(sink), TestClient(app) as api:
            def trades_page() -> Response:
                return api.get("/api/v1/trades", params={"symbol": "OUTAGE60", "limit": 1},
                               headers={"Authorization": f"Bearer {token}"})

            produce(2_000)
            wait_for(lambda: count(url, "trades") == 2_000, "the first 2000 trades")
            before = trades_page()

            # Act: the database away for OUTAGE_S while trades keep coming, 500 a second
            database.stop()
            during = []
            down_since = time.monotonic()
            while time.monotonic() - down_since < OUTAGE_S:
                produce(500)
                during.append(trades_page())
                time.sleep(1.0)
            degraded = [h for h in _reports(sink_topics) if h.status == "degraded"]
            consumed_while_down = sink.health.counters.events_in
            assert database.start() == url
            wait_for(lambda: count(url, "trades") == produced, "the catch-up")
            after = trades_page()

        # Assert: the API said 503 with a clear body throughout, the sink held its offsets
        # (it consumed no more than the batch it was writing) and wrote every trade once
        assert before.status_code == 200 and after.status_code == 200, (before.text, after.text)
        assert {r.status_code for r in during} == {503}, {r.status_code for r in during}
        assert {r.text for r in during} == {'{"detail":"the database is unavailable"}'}
        # ... its health showed it behind: the trades waiting on the log, without reading them
        assert degraded and consumed_while_down <= 2_000 + 500
        assert degraded[-1].lag is not None and degraded[-1].lag > 0, degraded[-1]
        assert _statuses(sink_topics)[-2:] == ["running", "stopped"]
        assert produced == 2_000 + 500 * len(during)
        assert count(url, "trades") == count(url, "trades", "trade_id LIKE 'o-%%'") == produced
        assert count(url, "(SELECT DISTINCT trade_id FROM trades) AS t") == produced
    finally:
        app.dependency_overrides.clear()
        database.stop()
