"""The provisioned Grafana dashboards ask only for what exists: every metric a PromQL panel
reads is exported by a real worker, sink or API (or written by Prometheus itself), and every
SQL panel runs on the migrated database and returns the columns the panel shows."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from streams import codec
from streams.catalog import Catalog
from streams.embedded import free_port
from streams.feeds.sim import SimMarket
from streams.sink.tables import catalog_routes
from streams.storage import migrate as migrations
from tests.ops.dashboards import (
    OPS,
    POSTGRES_UID,
    PROMETHEUS_UID,
    REPO_ROOT,
    Query,
    dashboards,
    exported_names,
    metric_names,
    queries,
    unexported,
)
from tests.streams.runtime.workers import produce, sim_trades, start_group_at_end, wait_for, worker

PROMQL = [q for q in queries() if q.datasource == PROMETHEUS_UID]
SQL = [q for q in queries() if q.datasource == POSTGRES_UID]
T0_NS = 1_767_623_400 * 1_000_000_000  # 2026-01-05 14:30 UTC
SYMBOL, ACCOUNT = "OPSDASH", "ops-dash"


def test_metric_names_are_read_from_promql() -> None:
    expr = ('histogram_quantile(0.99, sum by (engine, le) (rate('
            'nautilus_worker_batch_seconds_bucket{job=~"worker|sink"}[$__rate_interval])))'
            ' / on(engine) group_left() max(nautilus_worker_lag offset 5m) > 1e3')

    assert metric_names(expr) == {"nautilus_worker_batch_seconds_bucket", "nautilus_worker_lag"}
    assert metric_names("time() - max by (engine) (last_ts)") == {"last_ts"}
    assert metric_names('count by (job) (up{job=~"api"} == 0)') == {"up"}


def test_a_dashboard_metric_that_no_process_exports_is_named() -> None:
    exposition = ("# TYPE nautilus_worker_batch_seconds histogram\n"
                  "# TYPE nautilus_worker_events_in counter\n")
    bogus = Query("Pipeline health", "Typo", PROMETHEUS_UID,
                  "rate(nautilus_worker_event_in_total[1m]) + nautilus_worker_events_in_total"
                  " + nautilus_worker_batch_seconds_count", None, frozenset())

    missing = unexported(exported_names(exposition), [bogus])

    assert missing == {"nautilus_worker_event_in_total": ["Pipeline health / Typo"]}


def test_every_dashboard_uses_a_provisioned_data_source() -> None:
    provisioned = yaml.safe_load(
        (OPS / "grafana/provisioning/datasources/datasources.yml").read_text())
    uids = {source["uid"] for source in provisioned["datasources"]}

    assert set(dashboards()) == {"pipeline-health.json", "vpin.json", "pnl.json"}
    assert {q.datasource for q in queries()} == uids
    assert PROMQL and SQL


def test_prometheus_scrapes_the_port_compose_gives_the_workers_and_the_sink() -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    port = int(compose["x-app"]["environment"]["NAUTILUS_METRICS_PORT"])
    config = yaml.safe_load((OPS / "prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}

    for service in ("worker", "sink"):
        assert jobs[service]["dns_sd_configs"] == [
            {"names": [service], "type": "A", "port": port, "refresh_interval": "15s"}]
    assert jobs["api"]["authorization"]["credentials_file"] == "/etc/prometheus/api-token"
    assert "ops/prometheus/api-token" in (REPO_ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.slow
def test_every_metric_a_dashboard_queries_is_exported(
    services_env: dict[str, str], kafka_brokers: str, scratch_database: str, tmp_path: Path
) -> None:
    migrations.migrate(scratch_database)  # the sink's and the API's database, this test's own
    env = {**services_env, "DATABASE_URL": scratch_database}
    app_id = f"test-ops-{uuid.uuid4().hex[:8]}"
    sink_group = f"test-ops-sink-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id)
    topics = tuple(route.topic for route in catalog_routes(Catalog.load(
        REPO_ROOT / "topics.yaml")))
    start_group_at_end(kafka_brokers, sink_group, topics)
    ports = {name: free_port("127.0.0.1") for name in ("worker", "sink", "api")}
    log = tmp_path / "processes.log"
    with (worker(env, app_id, log, engines="bars", metrics_port=str(ports["worker"])),
          _process(env, log, "sink", NAUTILUS_SINK_GROUP=sink_group,
                   NAUTILUS_METRICS_PORT=str(ports["sink"])),
          _process(env, log, "api", "--port", str(ports["api"]))):
        token = subprocess.run(
            [sys.executable, "-m", "streams", "token", "create", "--scope", "admin"],
            env=env, capture_output=True, text=True, check=True).stdout.strip()
        trades = sim_trades(SimMarket(["OPS"], seed=3, trades_per_s=40, quote_every=0,
                                      depth_every=0),
                            T0_NS, 30)
        produce(kafka_brokers, [(t.symbol, codec.encode(t)) for t in trades])
        found: dict[str, dict[str, list[str]]] = {}

        def all_exported() -> bool:
            expositions = _scrape(ports, token)
            names = set().union(*(exported_names(text) for text in expositions.values()))
            found["missing"] = {
                **unexported(names, PROMQL),
                **{f"(no answer at {name}'s /metrics)": [] for name in set(ports) - set(
                    expositions)}}
            return not found["missing"]

        def caught_up() -> bool:
            values = {name: _values(text) for name, text in _scrape(ports, token).items()}
            return len(values) == len(ports) and (
                values["worker"].get(("nautilus_worker_events_in_total", "bars")) == len(trades)
                and values["worker"].get(("nautilus_worker_lag", "bars")) == 0
                and values["sink"].get(("nautilus_sink_lag", "")) == 0
                and values["sink"].get(("nautilus_sink_rows_written_total", ""), 0) >= len(trades)
                and values["sink"].get(("nautilus_sink_status", "running")) == 1)

        try:
            wait_for(all_exported, 120, "every dashboard metric exported")
        except AssertionError:
            pytest.fail(f"metrics no process exports: {found.get('missing')}\n"
                        f"{log.read_text()[-3000:]}")
        wait_for(caught_up, 120, f"the worker's and the sink's metrics to count {len(trades)} "
                 "trades with no lag left")


def _scrape(ports: dict[str, int], token: str) -> dict[str, str]:
    """The exposition of each process that answers."""
    expositions = {}
    for name, port in ports.items():
        headers = {"Authorization": f"Bearer {token}"} if name == "api" else {}
        try:
            reply = httpx.get(f"http://127.0.0.1:{port}/metrics", headers=headers, timeout=10)
        except httpx.TransportError:
            continue
        assert reply.status_code == 200, (name, reply.status_code)
        expositions[name] = reply.text
    return expositions


def _values(exposition: str) -> dict[tuple[str, str], float]:
    """Sample values by (name, engine or status label, "" without one)."""
    return {(s.name, s.labels.get("engine", s.labels.get("status", ""))): s.value
            for family in text_string_to_metric_families(exposition) for s in family.samples
            if set(s.labels) <= {"engine", "status"}}


@contextmanager
def _process(env: dict[str, str], log: Path, *command: str, **settings: str
             ) -> Iterator[subprocess.Popen]:
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streams", *command],
                                env={**env, **settings}, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---- SQL panels ---------------------------------------------------------------------------

NUMERIC = {"int2", "int4", "int8", "float4", "float8", "numeric"}


def grafana_sql(text: str) -> str:
    """`text` with Grafana's macros and the dashboards' variables replaced as Grafana's
    PostgreSQL data source does, for a range around T0_NS."""
    replaced = re.sub(r"\$__timeFilter\((\w+)\)",
                      r"\1 BETWEEN '2026-01-05T00:00:00Z' AND '2026-01-06T00:00:00Z'", text)
    replaced = replaced.replace("$__timeFrom()", "'2026-01-05T00:00:00Z'")
    replaced = replaced.replace("$__timeTo()", "'2026-01-06T00:00:00Z'")
    replaced = replaced.replace("$symbol", f"'{SYMBOL}'").replace("$account", f"'{ACCOUNT}'")
    assert "$" not in replaced, f"a macro or variable the test does not know: {replaced}"
    return replaced


@pytest.mark.parametrize("query", SQL, ids=str)
def test_every_sql_panel_returns_the_columns_it_shows(any_database_url: str, query: Query) -> None:
    with psycopg.connect(any_database_url) as conn:
        try:
            _insert_one_of_each(conn)
            cursor = conn.execute(grafana_sql(query.text))  # type: ignore[arg-type]
            rows = cursor.fetchall()
            columns = {c.name: _type_name(conn, c.type_code) for c in cursor.description or ()}
        finally:
            conn.rollback()

    assert rows, f"{query}: no rows for the inserted data"
    assert query.names <= set(columns), f"{query}: overrides name {query.names - set(columns)}"
    if query.format == "time_series":
        names = list(columns)
        assert names[0] == "time" and columns["time"] == "timestamptz", (query, columns)
        values = [n for n in names[1:] if n != "metric"]
        assert values and all(columns[v] in NUMERIC for v in values), (query, columns)
        assert columns.get("metric", "text") == "text", (query, columns)


def _type_name(conn: psycopg.Connection, oid: int) -> str:
    return str(conn.execute("SELECT %s::regtype::text", [oid]).fetchone()[0]).replace(
        "double precision", "float8").replace("bigint", "int8").replace(
        "timestamp with time zone", "timestamptz")


def _insert_one_of_each(conn: psycopg.Connection) -> None:
    """A VPIN reading, an alert, two portfolio snapshots and a position at T0_NS."""
    at = T0_NS
    conn.execute(
        "INSERT INTO vpin_readings (time, symbol, bucket, ts_event, ts_init, bucket_volume,"
        " buy_volume, sell_volume, vpin, vpin_cdf) VALUES (ns_to_timestamptz(%(t)s), %(s)s, 1,"
        " %(t)s, %(t)s, 1000, 600, 400, 0.2, 0.95)", {"t": at, "s": SYMBOL})
    conn.execute(
        "INSERT INTO alerts (time, alert_id, state, ts_event, ts_init, kind, severity, symbol,"
        " message) VALUES (ns_to_timestamptz(%(t)s), 'ops-1', 'raised', %(t)s, %(t)s,"
        " 'vpin_toxicity', 'warning', %(s)s, 'VPIN CDF 0.95')", {"t": at, "s": SYMBOL})
    for i, equity in enumerate((1_000_000, 990_000)):
        conn.execute(
            "INSERT INTO portfolio_snapshots (time, account, ts_event, ts_init, currency, equity,"
            " cash, gross_exposure, net_exposure, unrealized_pnl, realized_pnl) VALUES"
            " (ns_to_timestamptz(%(t)s), %(a)s, %(t)s, %(t)s, 'USD', %(e)s, 900000, 90000,"
            " 90000, -5000, -5000)", {"t": at + i * 60_000_000_000, "a": ACCOUNT, "e": equity})
    conn.execute(
        "INSERT INTO positions (time, account, symbol, ts_event, ts_init, quantity, avg_price,"
        " realized_pnl) VALUES (ns_to_timestamptz(%(t)s), %(a)s, %(s)s, %(t)s, %(t)s, 100,"
        " 900.5, -5000)", {"t": at, "a": ACCOUNT, "s": SYMBOL})
