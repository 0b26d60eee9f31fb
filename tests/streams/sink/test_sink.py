"""The sink against the session's broker and a migrated scratch database: values land in
their tables, a re-delivered batch changes nothing, bad records are dead-lettered."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal

import orjson
import psycopg

from streams import kafka
from streams.schema import DeadLetter
from streams.sink.runner import Sink
from streams.sink.tables import ns_to_time
from tests.factories import T0, event, trade
from tests.streams.sink.conftest import SinkTopics, count, running, wait_for

SEC = 1_000_000_000


def _symbol() -> str:
    return f"S{uuid.uuid4().hex[:8].upper()}"


def _trades(symbol: str, n: int) -> list:
    return [trade(symbol=symbol, ts_event=T0 + i, ts_init=T0 + i, trade_id=f"t-{i}",
                  price=f"{100 + i / 100:.2f}") for i in range(n)]


def test_every_routed_model_lands_in_its_table(sink_topics: SinkTopics, sink_database: str) -> None:
    symbol = _symbol()
    events = [
        trade(symbol=symbol, price="101.37", trade_id=None),
        event("Bar", symbol=symbol, bar_id=f"{symbol}@1m@{T0}"),
        event("VpinReading", symbol=symbol, vpin=None, vpin_cdf=None),
        event("MicrostructureFeatures", symbol=symbol, spread=None),
        event("Alert", symbol=symbol, alert_id=f"{symbol}-a"),
        event("EngineHealth", engine=symbol, lag=None),
        event("DeadLetter", source_topic=symbol),
    ]
    sink_topics.produce(*events)

    with running(Sink(sink_topics.config(sink_database), sink_topics.routes)):
        for table in ("trades", "bars_1m", "vpin_readings", "microstructure_features",
                      "alerts", "engine_health", "dead_letters"):  # topics arrive in any order
            wait_for(lambda t=table: count(sink_database, t) == 1, f"the {table} row")

    with psycopg.connect(sink_database) as conn:
        trades = conn.execute(
            "SELECT time, trade_uid, price, size, aggressor, venue FROM trades").fetchall()
        bar = conn.execute("SELECT time, bar_id, high, vwap FROM bars_1m").fetchone()
        vpin = conn.execute("SELECT bucket, buy_volume, vpin FROM vpin_readings").fetchone()
        micro = conn.execute(
            "SELECT spread, bid_depth, pressure FROM microstructure_features").fetchone()
        alert = conn.execute('SELECT alert_id, state, "values" FROM alerts').fetchone()
        health = conn.execute("SELECT engine, lag, events_in FROM engine_health").fetchone()
    topic = sink_topics.by_model["Trade"]
    assert trades == [(ns_to_time(T0 + 1_000), f"{topic}/0/0", Decimal("101.37"), 100, "buy",
                       "XNAS")]
    assert bar == (ns_to_time(T0), f"{symbol}@1m@{T0}", Decimal("101.50"), 101.125)
    assert vpin == (7, 6_000.0, None)
    assert micro == (None, [300, 200], 0.4)
    assert alert == (f"{symbol}-a", "raised", {"vpin": 0.83})
    assert health == (symbol, None, 1_000)


def test_a_redelivered_batch_changes_nothing(sink_topics: SinkTopics, sink_database: str) -> None:
    symbol = _symbol()
    sink_topics.produce(*_trades(symbol, 300))
    query = "SELECT symbol, time, trade_uid, price, size FROM trades ORDER BY 1, 2, 3"

    with running(Sink(sink_topics.config(sink_database), sink_topics.routes)):
        wait_for(lambda: count(sink_database, "trades") == 300, "300 trades")
    with psycopg.connect(sink_database) as conn:
        first = conn.execute(query).fetchall()
    # A new consumer group reads every record again: the whole log is re-delivered.
    with running(Sink(sink_topics.config(sink_database), sink_topics.routes)) as again:
        wait_for(lambda: again.health.counters.events_in == 300, "the re-delivery")

    with psycopg.connect(sink_database) as conn:
        assert conn.execute(query).fetchall() == first


def test_offsets_are_committed_after_the_write(sink_topics: SinkTopics, sink_database: str) -> None:
    # The trades table is away, so every write of the batch fails: a sink that committed
    # before writing would have committed by the time its first write failed.
    sink_topics.produce(*_trades(_symbol(), 50))
    config = sink_topics.config(sink_database)
    topic = sink_topics.by_model["Trade"]

    def committed() -> int | None:
        return kafka.committed_offsets(sink_topics.brokers, config.group, [(topic, 0)])[(topic, 0)]

    with psycopg.connect(sink_database, autocommit=True) as conn:
        conn.execute("ALTER TABLE trades RENAME TO trades_away")
        try:
            with running(Sink(config, sink_topics.routes)) as sink:
                wait_for(lambda: sink.health.counters.errors >= 1, "a failed write")
                assert committed() is None
                conn.execute("ALTER TABLE trades_away RENAME TO trades")
                wait_for(lambda: count(sink_database, "trades") == 50, "50 trades")
                wait_for(lambda: committed() == 50, "the commit")
        finally:
            conn.execute("ALTER TABLE IF EXISTS trades_away RENAME TO trades")


def test_bad_records_go_to_the_dead_letter_topic(
    sink_topics: SinkTopics, sink_database: str
) -> None:
    symbol = _symbol()
    sink_topics.produce_raw("Trade", b"not json")
    sink_topics.produce_raw("Trade", orjson.dumps({"symbol": symbol, "size": 1}))
    # Valid on the wire, refused by the table's CHECK (low above open).
    bad_bar = event("Bar", symbol=symbol, bar_id=f"{symbol}@1m@{T0}", low="102.00")
    sink_topics.produce(bad_bar, trade(symbol=symbol))

    with running(Sink(sink_topics.config(sink_database), sink_topics.routes)) as sink:
        wait_for(lambda: sink.health.counters.dead_letters == 3, "three dead letters")

    letters = [DeadLetter.model_validate_json(v)
               for _, _, _, v in kafka.read_all(sink_topics.brokers, sink_topics.dead_letters)]
    assert sorted((d.source_topic, d.source_offset) for d in letters) == [
        (sink_topics.by_model["Bar"], 0),
        (sink_topics.by_model["Trade"], 0),
        (sink_topics.by_model["Trade"], 1),
    ]
    assert any("database refused" in d.reason for d in letters)
    assert count(sink_database, "trades") == 1
    assert count(sink_database, "bars_1m") == 0


def test_dead_letters_of_two_runs_at_the_same_source_offset_are_both_kept(
    sink_topics: SinkTopics, sink_database: str
) -> None:
    # The embedded broker's log starts empty on every `up`: the second run's bad record at
    # offset 41 is another record than the first run's, a minute later.
    source = _symbol()
    first = event("DeadLetter", source_topic=source, ts_event=T0, reason="run 1")
    second = event("DeadLetter", source_topic=source, ts_event=T0 + 60 * SEC, reason="run 2")
    sink_topics.produce(first, second, first)  # the first re-delivered: still one row

    with running(Sink(sink_topics.config(sink_database), sink_topics.routes)) as sink:
        wait_for(lambda: sink.health.counters.events_in == 3, "three dead letters read")

    with psycopg.connect(sink_database) as conn:
        rows = conn.execute("SELECT source_offset, reason FROM dead_letters"
                            " WHERE source_topic = %s ORDER BY time", (source,)).fetchall()
    assert rows == [(41, "run 1"), (41, "run 2")]


def test_a_stopped_sink_says_so_in_the_database(
    sink_topics: SinkTopics, sink_database: str
) -> None:
    # As in production, the sink reads the health topic it publishes to; once stopped, nobody
    # is left to write its last report, so the sink writes that one itself.
    health_topic = sink_topics.by_model["EngineHealth"]
    config = sink_topics.config(sink_database, health_topic=health_topic)

    with running(Sink(config, sink_topics.routes)):
        wait_for(lambda: count(sink_database, "engine_health", "status = 'running'") > 0,
                 "the sink's own running report in the database")

    with psycopg.connect(sink_database) as conn:
        newest = conn.execute("SELECT engine, status FROM engine_health"
                              " ORDER BY time DESC LIMIT 1").fetchone()
    assert newest == ("sink", "stopped")


def test_a_stop_first_writes_what_the_log_already_holds(
    sink_topics: SinkTopics, sink_database: str
) -> None:
    # Arrange: records on the log (as a worker publishes its last ones while it stops), and a
    # stop that reaches the sink before it has read any of them
    symbol = f"S{uuid.uuid4().hex[:6].upper()}"
    sink_topics.produce(*(trade(symbol=symbol, trade_id=f"t{i}", ts_event=T0 + i)
                          for i in range(50)))
    sink_topics.flush()
    stopping = threading.Event()
    stopping.set()

    # Act
    # (a fresh sink joins its group first: a drain long enough for that on a loaded machine)
    Sink(sink_topics.config(sink_database, drain_ms=60_000), sink_topics.routes).run(stopping)

    # Assert
    assert count(sink_database, "trades", "symbol = %s", (symbol,)) == 50
