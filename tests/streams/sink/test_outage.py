"""The database goes away mid-stream and comes back: the sink holds its offsets, reports
itself degraded, and catches up with nothing lost or doubled."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams import kafka
from streams.embedded import EmbeddedPostgres
from streams.schema import EngineHealth
from streams.sink.runner import Sink
from streams.storage import migrate as migrations
from tests.factories import T0, trade
from tests.streams.sink.conftest import SinkTopics, count, running, wait_for


def _statuses(topics: SinkTopics) -> list[str]:
    return [EngineHealth.model_validate_json(v).status
            for _, _, _, v in kafka.read_all(topics.brokers, topics.health)]


@pytest.mark.slow
def test_sink_survives_a_database_outage(
    sink_topics: SinkTopics, traversable_tmp_path: Path
) -> None:
    trades = [trade(symbol="OUTAGE", ts_event=T0 + i, ts_init=T0 + i, trade_id=f"t-{i}")
              for i in range(2_000)]
    database = EmbeddedPostgres(traversable_tmp_path / "data")
    url = database.start()
    try:
        migrations.migrate(url)
        sink = Sink(sink_topics.config(url, batch_rows=100), sink_topics.routes)
        with running(sink):
            sink_topics.produce(*trades[:1_000])
            wait_for(lambda: count(url, "trades") == 1_000, "the first 1000 trades")
            database.stop()
            sink_topics.produce(*trades[1_000:])
            wait_for(lambda: "degraded" in _statuses(sink_topics), "a degraded health record")
            assert sink.health.counters.events_in == 1_000  # nothing skipped or committed
            assert database.start() == url
            wait_for(lambda: count(url, "trades") == 2_000, "the catch-up")
        assert _statuses(sink_topics)[-2:] == ["running", "stopped"]
        assert count(url, "trades") == count(url, "trades", "trade_id LIKE 't-%%'") == 2_000
    finally:
        database.stop()
