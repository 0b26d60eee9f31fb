"""The Prometheus endpoint of a worker or sink (streams/metrics.py): its counters as they are
at scrape time, the batch-time histogram in Prometheus' cumulative `le` buckets."""

from __future__ import annotations

import socket

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.embedded import free_port
from streams.exceptions import ConfigError
from streams.metrics import CountersCollector, serve
from streams.runtime.counters import Counters
from streams.settings import Settings


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_worker_endpoint_serves_its_engines_counters_at_scrape_time() -> None:
    bars, vpin = Counters(), Counters()
    port = free_port("127.0.0.1")
    server, _ = serve(CountersCollector("nautilus_worker", lambda: {"bars": bars, "vpin": vpin},
                                        label="engine"), "127.0.0.1", port)
    try:
        bars.events_in, bars.dead_letters, bars.status, bars.lag = 7, 2, "running", 5
        for elapsed_ms in (1.0, 1.5, 20.0):  # bounds are inclusive: 1 ms is in le=0.001
            bars.observe_batch(elapsed_ms)

        found = scrape(port)
    finally:
        server.shutdown()

    engine = (("engine", "bars"),)
    assert found[("nautilus_worker_events_in_total", engine)] == 7
    assert found[("nautilus_worker_dead_letters_total", engine)] == 2
    assert found[("nautilus_worker_lag", engine)] == 5
    assert ("nautilus_worker_lag", (("engine", "vpin"),)) not in found  # unknown: absent
    bucket = {le: found[("nautilus_worker_batch_seconds_bucket", (("engine", "bars"), ("le", le)))]
              for le in ("0.001", "0.0025", "0.025", "+Inf")}
    assert bucket == {"0.001": 1, "0.0025": 2, "0.025": 3, "+Inf": 3}
    assert found[("nautilus_worker_batch_seconds_count", engine)] == 3
    assert found[("nautilus_worker_batch_seconds_sum", engine)] == pytest.approx(0.0225)
    assert found[("nautilus_worker_status", (("engine", "bars"), ("status", "running")))] == 1
    assert found[("nautilus_worker_status", (("engine", "vpin"), ("status", "starting")))] == 1


def test_the_sink_names_its_counters_as_rows_and_records() -> None:
    counters = Counters(events_in=10, events_out=8, errors=1)
    port = free_port("127.0.0.1")
    server, _ = serve(CountersCollector("nautilus_sink", lambda: {"": counters}),
                      "127.0.0.1", port)
    try:
        found = scrape(port)
    finally:
        server.shutdown()

    assert found[("nautilus_sink_records_in_total", ())] == 10
    assert found[("nautilus_sink_rows_written_total", ())] == 8
    assert found[("nautilus_sink_errors_total", ())] == 1
    assert any(name.startswith("process_") for name, _ in found)


def test_no_port_no_endpoint_and_a_taken_port_is_one_clear_error() -> None:
    collector = CountersCollector("nautilus_sink", dict)
    assert serve(collector, "127.0.0.1", None) is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"NAUTILUS_METRICS_PORT={port}"):
            serve(collector, "127.0.0.1", port)


def test_the_metrics_port_is_off_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAUTILUS_METRICS_PORT", raising=False)
    assert Settings().metrics_port is None
    monkeypatch.setenv("NAUTILUS_METRICS_PORT", "")  # as `NAUTILUS_METRICS_PORT=` in .env
    assert Settings().metrics_port is None
    monkeypatch.setenv("NAUTILUS_METRICS_PORT", "9100")
    assert (Settings().metrics_host, Settings().metrics_port) == ("127.0.0.1", 9100)
