"""A sink whose database is slow while records keep coming (its table locked by another
session): it holds no more than two batches (one being written, one waiting for it), its
health reports show it falling behind meanwhile, and once the database is free it writes
every record exactly once."""

from __future__ import annotations

import uuid

import psycopg

from streams import kafka
from streams.sink.runner import Sink
from tests.factories import T0, trade
from tests.streams.sink.conftest import SinkTopics, count, running, wait_for

BATCH_ROWS = 100
WARM = 100  # written before the slowdown
BEHIND = 3_000  # produced during it


def _blocked_on_trades(conn: psycopg.Connection) -> bool:
    """Whether a session waits for a lock on the trades table."""
    row = conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted"
                       " AND relation = 'trades'::regclass").fetchone()
    return row is not None and row[0] > 0


def test_a_sink_on_a_slow_database_holds_two_batches_shows_its_lag_and_loses_nothing(
    sink_topics: SinkTopics, sink_database: str
) -> None:
    # Arrange: a sink that wrote its first trades
    symbol = f"SLOW{uuid.uuid4().hex[:6].upper()}"
    trades = [trade(symbol=symbol, trade_id=f"s-{i}", ts_event=T0 + i, ts_init=T0 + i)
              for i in range(WARM + BEHIND)]
    config = sink_topics.config(sink_database, batch_rows=BATCH_ROWS, health_interval_ms=200)
    topic = sink_topics.by_model["Trade"]
    sink_topics.produce(*trades[:WARM])
    with running(Sink(config, sink_topics.routes)) as sink, \
            psycopg.connect(sink_database) as locker, \
            psycopg.connect(sink_database, autocommit=True) as watcher:
        wait_for(lambda: sink.health.counters.events_in == WARM, "the first trades")

        # Act: another session holds the trades table (its writes wait) while trades come
        locker.execute("LOCK TABLE trades IN SHARE MODE")
        sink_topics.produce(*trades[WARM:])
        wait_for(lambda: _blocked_on_trades(watcher), "the sink's write waiting on the lock")
        wait_for(lambda: (sink.health.last is not None and sink.health.last.lag is not None
                          and sink.health.last.lag >= BEHIND - 2 * BATCH_ROWS),
                 "a health report showing the sink behind")
        behind = sink.health.last
        committed = kafka.committed_offsets(sink_topics.brokers, config.group, [(topic, 0)])
        written_while_slow = sink.health.counters.events_in
        locker.rollback()  # the slowdown ends
        wait_for(lambda: count(sink_database, "trades") == WARM + BEHIND, "the catch-up")
        wait_for(lambda: sink.health.last is not None and sink.health.last.lag == 0,
                 "a report of no lag")

    # Assert: meanwhile it committed nothing and held at most two batches (the log's records
    # minus those committed minus its lag: what it consumed and had not written)
    assert behind is not None and behind.lag is not None and behind.status == "running"
    assert committed[(topic, 0)] == WARM and written_while_slow == WARM
    assert 0 < (WARM + BEHIND) - WARM - behind.lag <= 2 * BATCH_ROWS
    # ... and then wrote every trade once, dead-lettering nothing
    assert count(sink_database, "(SELECT DISTINCT trade_id FROM trades) AS t") == WARM + BEHIND
    assert sink.health.counters.dead_letters == 0
    assert list(kafka.read_all(sink_topics.brokers, sink_topics.dead_letters)) == []
