"""market.prices.1d through the real sink into daily_prices, and out of the API as of an
instant: a vendor's correction is a row of its own, a re-delivered record changes nothing,
and adjusted closes follow the actions known then."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest
from fastapi.testclient import TestClient

from streams.catalog import Catalog
from streams.feeds.sources.parsing import day_end_ns
from streams.sink.runner import Sink
from streams.sink.tables import catalog_routes
from tests.api.data import day_ns
from tests.conftest import TOPICS_YAML
from tests.factories import event
from tests.streams.sink.conftest import SinkTopics, running, wait_for


def test_daily_prices_and_a_correction_reach_their_table_and_the_api(
    sink_topics: SinkTopics, sink_database: str, api_on: TestClient,
) -> None:
    routes = {r.topic: r.table.name for r in catalog_routes(Catalog.load(TOPICS_YAML))}
    first = event("DailyPrice", symbol="IBM", date="2024-05-09", close="167.15", dividend="0",
                  ts_event=day_end_ns(date(2024, 5, 9)))
    # the vendor's first word on 05-10 had no dividend; it corrected that on 05-13
    uncorrected, corrected = (
        event("DailyPrice", symbol="IBM", date="2024-05-10", close="166.00", dividend=dividend,
              ts_event=known) for dividend, known in (("0", day_end_ns(date(2024, 5, 10))),
                                                      ("1.67", day_ns("2024-05-13"))))
    sink_topics.produce(first, uncorrected, corrected, first)  # `first` re-delivered

    with running(Sink(sink_topics.config(sink_database), sink_topics.routes)) as sink:
        # counted once written and committed
        wait_for(lambda: sink.health.counters.events_in == 4, "the four records written")
    with psycopg.connect(sink_database) as conn:
        stored = conn.execute("SELECT date::text, close::text, dividend::text, time"
                              " FROM daily_prices ORDER BY date, time").fetchall()
    closes = {as_of: [(d["date"], d["dividend"], d["adjusted_close"]) for d in api_on.get(
        "/api/v1/prices/IBM", params={"as_of": as_of}).json()["data"]]
        for as_of in ("2024-05-09", "2024-05-12", "2024-05-13")}

    assert routes["market.prices.1d"] == "daily_prices"
    assert [row[:3] for row in stored] == [("2024-05-09", "167.15", "0"),
                                           ("2024-05-10", "166.00", "0"),
                                           ("2024-05-10", "166.00", "1.67")]
    assert [row[3].isoformat() for row in stored] == [
        "2024-05-09T23:59:59.999999+00:00", "2024-05-10T23:59:59.999999+00:00",
        "2024-05-13T00:00:00+00:00"]
    assert closes == {
        "2024-05-09": [("2024-05-09", "0", 167.15)],
        "2024-05-12": [("2024-05-09", "0", 167.15), ("2024-05-10", "0", 166.0)],
        # 1.67 ex on 05-10: the close before it times 1 - 1.67 / 167.15
        "2024-05-13": [("2024-05-09", "0", pytest.approx(167.15 - 1.67)),
                       ("2024-05-10", "1.67", 166.0)]}
