"""market.macro and market.fundamentals through the real sink into their tables, and out of
the API as of an instant: a revision or restatement is a row of its own, a re-delivered
record changes nothing."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from streams.catalog import Catalog
from streams.sink.runner import Sink
from streams.sink.tables import catalog_routes
from tests.api.data import day_ns
from tests.conftest import TOPICS_YAML
from tests.factories import event
from tests.streams.sink.conftest import SinkTopics, running, wait_for


def test_macro_vintages_and_restated_figures_reach_their_tables_and_the_api(
    sink_topics: SinkTopics, sink_database: str, api_on: TestClient,
) -> None:
    routes = {r.topic: r.table.name for r in catalog_routes(Catalog.load(TOPICS_YAML))}
    first, revised = (event("MacroObservation", series="UNRATE", date="2024-01-01",
                            realtime_start=vintage, value=value, ts_event=day_ns(vintage))
                      for vintage, value in (("2024-01-05", 3.7), ("2024-02-02", 3.8)))
    filed, restated = (event("Fundamental", symbol="MSFT", filed=day, value=value,
                             ts_event=day_ns(day))
                       for day, value in (("2023-11-03", 100.0), ("2024-02-01", 90.0)))
    # the same filing's last quarter ends on the year's end date: a figure of its own
    quarter = event("Fundamental", symbol="MSFT", period="2023Q4", filed="2023-11-03",
                    value=25.0, ts_event=day_ns("2023-11-03"))
    sink_topics.produce(first, revised, first, filed, restated, quarter)  # `first` re-delivered

    with running(Sink(sink_topics.config(sink_database), sink_topics.routes)) as sink:
        # counted once written and committed
        wait_for(lambda: sink.health.counters.events_in == 6, "the six records written")
    with psycopg.connect(sink_database) as conn:
        vintages = conn.execute("SELECT date::text, realtime_start::text, value, time"
                                " FROM macro_observations ORDER BY realtime_start").fetchall()
        filings = conn.execute("SELECT filed::text, period, value FROM fundamentals"
                               " ORDER BY filed, period").fetchall()
    then = api_on.get("/api/v1/macro/UNRATE", params={"as_of": "2024-01-10"}).json()["data"]
    now = api_on.get("/api/v1/macro/UNRATE").json()["data"]
    figures = {day: sorted(f["value"] for f in api_on.get(
        "/api/v1/fundamentals/MSFT", params={"as_of": day}).json()["data"])
        for day in ("2023-11-02", "2024-01-10", "2024-03-01")}

    assert (routes["market.macro"], routes["market.fundamentals"]) == \
        ("macro_observations", "fundamentals")
    assert [v[:3] for v in vintages] == [("2024-01-01", "2024-01-05", 3.7),
                                         ("2024-01-01", "2024-02-02", 3.8)]
    assert [v[3].isoformat() for v in vintages] == ["2024-01-05T00:00:00+00:00",
                                                    "2024-02-02T00:00:00+00:00"]
    assert filings == [("2023-11-03", "2023Q4", 25.0), ("2023-11-03", "FY2023", 100.0),
                       ("2024-02-01", "FY2023", 90.0)]
    assert [o["value"] for o in then] == [3.7] and [o["value"] for o in now] == [3.8]
    assert figures == {"2023-11-02": [], "2024-01-10": [25.0, 100.0],
                       "2024-03-01": [25.0, 90.0]}
