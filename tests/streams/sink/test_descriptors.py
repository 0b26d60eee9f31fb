"""Storage descriptors drive the sink, the schema check and the generic API routes: an output
that is in the catalog and has a descriptor is routed, has its table and key in the
migrations, and is listed by the API, with no storage or API code of its own."""

from __future__ import annotations

import uuid
from datetime import datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from streams.catalog import Catalog
from streams.exceptions import MigrationError
from streams.schema import MODELS, STORED, Event
from streams.schema.storage import Stored
from streams.sink.runner import Sink
from streams.sink.tables import TABLES, catalog_routes
from streams.storage import schema_check, timescale
from tests.api.data import write
from tests.conftest import TOPICS_YAML
from tests.factories import T0, event
from tests.streams.sink.conftest import SinkTopics, count, running, wait_for

SERVED = sorted(name for name, stored in STORED.items() if stored.served)
SEC = 1_000_000_000


def columns_of(url: str, table: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT column_name FROM information_schema.columns"
                            " WHERE table_schema = current_schema() AND table_name = %s",
                            (table,)).fetchall()
    return {name for (name,) in rows}


def test_every_catalog_topic_with_a_stored_model_is_routed_to_its_descriptors_table() -> None:
    catalog = Catalog.load(TOPICS_YAML)
    routes = {r.topic: r for r in catalog_routes(catalog)}

    stored_topics = [t for t in catalog if MODELS[t.value].STORED is not None]
    assert {t.name for t in stored_topics} == set(routes)
    for topic in stored_topics:
        stored = MODELS[topic.value].STORED
        assert (routes[topic.name].table.name, routes[topic.name].table.key) == \
            (stored.table, stored.key), topic.name
    # what the next engines publish is stored already: no migration for a new engine
    assert {"logic.features", "logic.signals", "logic.orders", "market.executions",
            "logic.positions", "logic.portfolio", "logic.margin"} <= set(routes)


def test_the_migrations_hold_every_descriptors_table_key_and_sink_columns(
    any_database_url: str,
) -> None:
    with psycopg.connect(any_database_url) as conn:
        mode = timescale.describe(conn)
        hypertables = mode.hypertables if mode.continuous_aggregates else None
        problems = schema_check.stored_problems(conn, hypertables)

    assert problems == []
    for model, table in TABLES.items():
        assert set(table.columns) <= columns_of(any_database_url, table.name), model
    if hypertables is not None:
        assert set(hypertables) == {s.table for s in STORED.values() if s.hypertable}


def test_the_check_names_the_model_table_and_key_the_migrations_lack(
    sink_database: str,
) -> None:
    with psycopg.connect(sink_database, autocommit=True) as conn:
        problems = schema_check.stored_problems(conn, None, {
            "Ghost": Stored("ghosts", ("ghost_id", "time")),
            "Trade": Stored("trades", ("symbol", "time")),
        })
        conn.execute("DROP TABLE signals")

    assert problems == [
        "Ghost: table ghosts does not exist; add a migration that creates it",
        "Trade: table trades has no primary or unique key on (symbol, time)",
    ]
    with pytest.raises(MigrationError, match="Signal: table signals does not exist"):
        schema_check.check_stored(sink_database)


def one_of_each_served(tag: str) -> dict[str, Event]:
    """An event of every served model, its ids and symbol unique to the test."""
    ids = {f: f"{tag}-{f}" for f in ("signal_id", "prediction_id", "order_id", "exec_id")}
    events = {}
    for i, name in enumerate(SERVED):
        fields = MODELS[name].model_fields
        overrides = {f: v for f, v in ids.items() if f in fields}
        overrides |= {f: tag for f in ("symbol", "account", "series") if f in fields}
        events[name] = event(name, ts_event=T0 + i * SEC + 7_000, ts_init=T0 + i, **overrides)
    return events


def expected_record(e: Event) -> dict[str, object]:
    """A stored record as the generic route answers it: the wire JSON without the schema
    version, and `time`."""
    return {k: v for k, v in e.model_dump(mode="json").items() if k != "schema_version"}


def test_the_generic_routes_serve_what_the_sink_wrote(
    sink_topics: SinkTopics, sink_database: str, api_on: TestClient,
) -> None:
    tag = f"D{uuid.uuid4().hex[:8].upper()}"
    events = one_of_each_served(tag)
    sink_topics.produce(*events.values())

    with running(Sink(sink_topics.config(sink_database), sink_topics.routes)):
        for name in SERVED:
            table = STORED[name].table
            wait_for(lambda t=table: count(sink_database, t) == 1, f"the {table} row")

    for name, e in events.items():
        response = api_on.get(STORED[name].api_path)
        assert response.status_code == 200, (name, response.text)
        (record,) = response.json()["data"]
        time = datetime.fromisoformat(record.pop("time"))
        assert record == expected_record(e), name
        assert time.timestamp() * SEC == pytest.approx(e.ts_event // 1000 * 1000, abs=1_000)


def test_a_generic_route_pages_by_time_and_filters_by_key(
    sink_database: str, api_on: TestClient,
) -> None:
    signals = [event("Signal", signal_id=f"s-{i}", symbol=("AAA", "BBB")[i % 2],
                     ts_event=T0 + (i // 2) * SEC) for i in range(5)]  # pairs share a time
    write(sink_database, *signals)

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = api_on.get("/api/v1/signals", params=params).json()
        seen += [s["signal_id"] for s in body["data"]]
        pages, cursor = pages + 1, body["next_cursor"]
        if cursor is None:
            break
    only_b = api_on.get("/api/v1/signals", params={"symbol": "BBB"}).json()["data"]
    bad = api_on.get("/api/v1/signals", params={"cursor": "bm9wZQ"})

    assert (pages, seen) == (3, ["s-0", "s-1", "s-2", "s-3", "s-4"])
    assert [s["signal_id"] for s in only_b] == ["s-1", "s-3"]
    assert bad.status_code == 422
