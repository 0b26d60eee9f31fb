"""market.macro, market.fundamentals and market.filings through the real sink into their
tables, and out of the API as of an instant: a revision or restatement is a row of its own, a
filing is listed from its acceptance on, a re-delivered record changes nothing."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from streams.catalog import Catalog
from streams.sink.runner import Sink
from streams.sink.tables import catalog_routes
from tests.api.data import day_ns, utc_ns
from tests.conftest import TOPICS_YAML
from tests.factories import event
from tests.streams.sink.conftest import SinkTopics, running, wait_for


def test_macro_vintages_restated_figures_and_filings_reach_their_tables_and_the_api(
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
    # the 10-K accepted at 18:08:27 New York time (EDT), the 8-K at 16:30 (EST)
    annual = event("Filing", symbol="MSFT", cik=789019, accession="0000789019-23-000095",
                   primary_document="msft-10k_20230630.htm",
                   ts_event=utc_ns("2023-11-02T22:08:27Z"))
    earnings = event("Filing", symbol="MSFT", cik=789019, accession="0000789019-24-000003",
                     form="8-K", filed="2024-01-30", report_date="2024-01-30",
                     primary_document="msft-8k_20240130.htm", items="2.02,9.01",
                     ts_event=utc_ns("2024-01-30T21:30:00Z"))
    # `first` and `annual` re-delivered
    sink_topics.produce(first, revised, first, filed, restated, quarter, annual, earnings,
                        annual)

    with running(Sink(sink_topics.config(sink_database), sink_topics.routes)) as sink:
        # counted once written and committed
        wait_for(lambda: sink.health.counters.events_in == 9, "the nine records written")
    with psycopg.connect(sink_database) as conn:
        vintages = conn.execute("SELECT date::text, realtime_start::text, value, time"
                                " FROM macro_observations ORDER BY realtime_start").fetchall()
        filings = conn.execute("SELECT filed::text, period, value FROM fundamentals"
                               " ORDER BY filed, period").fetchall()
        accessions = conn.execute("SELECT accession, form, time FROM filings"
                                  " ORDER BY time").fetchall()
    then = api_on.get("/api/v1/macro/UNRATE", params={"as_of": "2024-01-10"}).json()["data"]
    now = api_on.get("/api/v1/macro/UNRATE").json()["data"]
    figures = {day: sorted(f["value"] for f in api_on.get(
        "/api/v1/fundamentals/MSFT", params={"as_of": day}).json()["data"])
        for day in ("2023-11-02", "2024-01-10", "2024-03-01")}
    listed = {as_of: [(f["form"], f["url"]) for f in api_on.get(
        "/api/v1/filings/MSFT", params={"as_of": as_of}).json()["data"]]
        for as_of in ("2023-11-02T22:08:26Z", "2024-01-30T21:29:59Z", "")}

    assert (routes["market.macro"], routes["market.fundamentals"], routes["market.filings"]) \
        == ("macro_observations", "fundamentals", "filings")
    assert [v[:3] for v in vintages] == [("2024-01-01", "2024-01-05", 3.7),
                                         ("2024-01-01", "2024-02-02", 3.8)]
    assert [v[3].isoformat() for v in vintages] == ["2024-01-05T00:00:00+00:00",
                                                    "2024-02-02T00:00:00+00:00"]
    assert filings == [("2023-11-03", "2023Q4", 25.0), ("2023-11-03", "FY2023", 100.0),
                       ("2024-02-01", "FY2023", 90.0)]
    assert [o["value"] for o in then] == [3.7] and [o["value"] for o in now] == [3.8]
    assert figures == {"2023-11-02": [], "2024-01-10": [25.0, 100.0],
                       "2024-03-01": [25.0, 90.0]}
    assert [(a, form, time.isoformat()) for a, form, time in accessions] == [
        ("0000789019-23-000095", "10-K", "2023-11-02T22:08:27+00:00"),
        ("0000789019-24-000003", "8-K", "2024-01-30T21:30:00+00:00")]
    in_edgar = "https://www.sec.gov/Archives/edgar/data/789019/{}".format
    annual_url = in_edgar("000078901923000095/msft-10k_20230630.htm")
    assert listed == {
        "2023-11-02T22:08:26Z": [], "2024-01-30T21:29:59Z": [("10-K", annual_url)],
        "": [("8-K", in_edgar("000078901924000003/msft-8k_20240130.htm")),
             ("10-K", annual_url)]}
