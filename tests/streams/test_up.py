"""`nautilus-streams up` as a user runs it: a subprocess, stopped by a signal, nothing left over."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import psutil
import psycopg
import pytest

from processors import ENGINES
from streams.catalog import Catalog
from streams.codec import encode
from streams.endpoints import Endpoints
from streams.feeds.sim import KNOWN_SYMBOLS, volume_per_s
from streams.kafka import broker_reachable
from streams.settings import Settings
from streams.storage import tokens
from streams.up import CRASH_LOOP_RUNS, feed_sized_params
from tests.api.data import write
from tests.factories import event
from tests.streams.feeds.sources.fake_fred import API_KEY as FRED_KEY
from tests.streams.feeds.sources.fake_fred import FakeFred
from tests.streams.runtime.workers import produce, read_topic, start_group_at_end, wait_for

pytestmark = pytest.mark.slow

STARTUP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
FIRST_VPIN_DEADLINE_S = 90.0  # issue 15: every simulated symbol has a VPIN within 90 s of `up`


@dataclass
class Up:
    """A running `up` subprocess, its state dir and its captured output."""

    proc: subprocess.Popen[bytes]
    state_dir: Path
    out: Path

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_endpoints(self) -> Endpoints:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"up exited {self.proc.returncode} before ready:\n{self.output()}")
            endpoints = Endpoints.read(self.state_dir)
            if endpoints is not None:
                return endpoints
            time.sleep(0.2)
        pytest.fail(f"up not ready within {STARTUP_TIMEOUT_S:.0f}s:\n{self.output()}")

    def stop(self, sig: signal.Signals) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"up did not stop within {STOP_TIMEOUT_S:.0f}s:\n{self.output()}")


class StartUp(Protocol):
    def __call__(self, *args: str, env: dict[str, str]) -> Up: ...


@pytest.fixture
def run_up(traversable_tmp_path: Path, tmp_path: Path) -> Iterator[StartUp]:
    """Start `python -m streams up ARGS` in a fresh state dir; killed if a test leaves it.

    It runs in a temp cwd, so whatever a child writes to its working directory stays there.
    """
    started: list[Up] = []

    def start(*args: str, env: dict[str, str]) -> Up:
        state_dir = traversable_tmp_path / "state"
        out = tmp_path / f"up-{len(started)}.log"
        with open(out, "wb") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "streams", "up", "--state-dir", str(state_dir), *args],
                cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT,
            )
        started.append(Up(proc, state_dir, out))
        return started[-1]

    yield start
    for up in started:
        if up.proc.poll() is None:
            up.proc.kill()
            up.proc.wait()


def _tree(pid: int, state_dir: Path) -> list[psutil.Process]:
    """`up`'s descendants plus the embedded postmaster (pg_ctl daemonizes it)."""
    procs = psutil.Process(pid).children(recursive=True)
    pid_file = state_dir / "postgres" / "postmaster.pid"
    if pid_file.exists():
        procs.append(psutil.Process(int(pid_file.read_text().split()[0])))
    return procs


def _survivors(procs: list[psutil.Process]) -> list[str]:
    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{proc.pid} {' '.join(proc.cmdline())}")
        except psutil.NoSuchProcess:
            continue
    return alive


def _accepts(address: str) -> bool:
    host, _, port = address.removeprefix("http://").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def _assert_nothing_left(up: Up, endpoints: Endpoints, procs: list[psutil.Process]) -> None:
    assert not (up.state_dir / "endpoints.json").exists()
    assert _survivors(procs) == []
    assert not _accepts(endpoints.kafka)
    assert not _accepts(endpoints.api)


def test_up_serves_and_stops_cleanly_on_sigint(run_up: StartUp, base_env: dict[str, str]) -> None:
    up = run_up("--no-feed", "--api-port", "0", env=base_env)
    endpoints = up.wait_endpoints()
    procs = _tree(up.proc.pid, up.state_dir)
    commands = [" ".join(p.cmdline()) for p in procs]

    health = httpx.get(f"{endpoints.api}/health", timeout=5)
    ready = httpx.get(f"{endpoints.api}/ready", timeout=10)
    code = up.stop(signal.SIGINT)

    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200, ready.text
    assert code == 0, up.output()
    assert "Nautilus Streams is up" in up.output()
    assert "child stopped name=api" in up.output() and "code=-" not in up.output()
    for expected in ("tansu", "postgres", "streams worker", "streams api"):
        assert any(expected in c for c in commands), (expected, commands)
    _assert_nothing_left(up, endpoints, procs)


def test_up_restarts_a_child_that_dies_and_stops_everything_on_a_crash_loop(
    run_up: StartUp, base_env: dict[str, str]
) -> None:
    # Arrange: `up` with a slow feed (its history at 10 trades/s)
    up = run_up("--no-worker", "--no-sink", "--feed-rate", "10", "--api-port", "0",
                env=base_env)
    endpoints = up.wait_endpoints()
    procs = _tree(up.proc.pid, up.state_dir)
    feed = _feed(up)
    assert feed is not None and _arg(feed, "--backfill-minutes") == "60"

    # Act: the feed killed once; then killed each time it comes back, CRASH_LOOP_RUNS in all
    killed = [feed.pid]
    feed.kill()
    restarted = _next_feed(up, killed)
    restarted_args = restarted.cmdline()
    up_ran_on = up.proc.poll() is None
    for _ in range(CRASH_LOOP_RUNS - 1):
        killed.append(restarted.pid)
        restarted.kill()
        if len(killed) < CRASH_LOOP_RUNS:
            restarted = _next_feed(up, killed)
    code = up.proc.wait(timeout=STOP_TIMEOUT_S)

    # Assert: restarted without history, logged, the crash loop named and everything stopped
    out = up.output()
    assert up_ran_on and code == 1, out
    assert restarted_args[restarted_args.index("--backfill-minutes") + 1] == "0"
    assert "child exited name=feed" in out and "restarting it in 1 s (restart 1)" in out
    assert f"child exited name=feed pid={killed[0]} signal=SIGKILL" in out
    assert "child restarted name=feed" in out
    assert f"it exited {CRASH_LOOP_RUNS} times in a row" in out and "(a crash loop)" in out
    _assert_nothing_left(up, endpoints, procs)


def _feed(up: Up, killed: tuple[int, ...] | list[int] = ()) -> psutil.Process | None:
    """`up`'s feed process, if one not in `killed` runs now."""
    for proc in psutil.Process(up.proc.pid).children():
        try:
            if (proc.pid not in killed and proc.status() != psutil.STATUS_ZOMBIE
                    and proc.cmdline()[1:5] == ["-m", "streams", "feed", "sim"]):
                return proc
        except psutil.NoSuchProcess:
            continue
    return None


def _next_feed(up: Up, killed: list[int]) -> psutil.Process:
    """The feed `up` started after the ones in `killed`."""
    wait_for(lambda: _feed(up, killed) is not None, STOP_TIMEOUT_S, "the feed restarted")
    feed = _feed(up, killed)
    assert feed is not None
    return feed


def _arg(proc: psutil.Process, flag: str) -> str:
    args = proc.cmdline()
    return args[args.index(flag) + 1]


def test_up_uses_configured_services_and_embeds_nothing(
    run_up: StartUp, services_env: dict[str, str], kafka_brokers: str, database_url: str
) -> None:
    up = run_up("--no-feed", "--no-worker", "--api-port", "0", env=services_env)
    endpoints = up.wait_endpoints()
    procs = _tree(up.proc.pid, up.state_dir)

    code = up.stop(signal.SIGTERM)

    assert code == 0, up.output()
    assert (endpoints.kafka, endpoints.database_url) == (kafka_brokers, database_url)
    assert not (up.state_dir / "postgres").exists()
    assert not (up.state_dir / "logs" / "broker.log").exists()
    assert _survivors(procs) == []
    assert broker_reachable(kafka_brokers, timeout_s=5)  # the session's broker was left alone


def test_up_refuses_a_taken_api_port(run_up: StartUp, services_env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = run_up("--no-feed", "--api-port", str(port), env=services_env)
        code = up.proc.wait(timeout=STOP_TIMEOUT_S)

    assert code == 2
    assert f"API port 127.0.0.1:{port} is already in use" in up.output()


def test_up_refuses_a_second_up_on_the_same_state_dir(
    run_up: StartUp, services_env: dict[str, str], traversable_tmp_path: Path
) -> None:
    state_dir = traversable_tmp_path / "state"
    Endpoints("127.0.0.1:1", "postgresql://x", "http://127.0.0.1:1", os.getpid()).write(state_dir)

    up = run_up("--no-feed", "--api-port", "0", env=services_env)
    code = up.proc.wait(timeout=STOP_TIMEOUT_S)

    assert code == 2
    assert "already running" in up.output()
    assert json.loads((state_dir / "endpoints.json").read_text())["pid"] == os.getpid()


def _vpin_latest(endpoints: Endpoints, token: str) -> httpx.Response:
    return httpx.get(f"{endpoints.api}/api/v1/vpin/latest", timeout=10,
                     headers={"Authorization": f"Bearer {token}"})


def _get(endpoints: Endpoints, token: str, path: str) -> list[dict]:
    response = httpx.get(f"{endpoints.api}/api/v1/{path}", timeout=10,
                         headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    return list(response.json()["data"])


def test_up_has_vpin_for_every_simulated_symbol_and_paper_trades_within_90_seconds(
    run_up: StartUp, base_env: dict[str, str]
) -> None:
    # Arrange: `up` as a new user runs it (default options, the embedded broker and database),
    # with a metrics port: the worker serves on it, the sink on the next one
    metrics_port = _free_ports()
    started, started_ns = time.monotonic(), time.time_ns()
    up = run_up("--api-port", "0", env={**base_env, "NAUTILUS_METRICS_PORT": str(metrics_port)})
    endpoints = up.wait_endpoints()
    token, _ = tokens.create_token(endpoints.database_url, "read", "me")

    # Act: poll the API as a user would, until the deadline
    def ready() -> bool:
        with_vpin = {r["symbol"] for r in _get(endpoints, token, "vpin/latest")
                     if r["vpin"] is not None}
        return with_vpin >= set(KNOWN_SYMBOLS) and bool(_get(endpoints, token, "executions"))

    while not ready() and time.monotonic() - started < FIRST_VPIN_DEADLINE_S:
        time.sleep(1.0)
    took_s = time.monotonic() - started
    latest = _get(endpoints, token, "vpin/latest")
    executions = _get(endpoints, token, "executions")
    scraped = {port: httpx.get(f"http://127.0.0.1:{port}/metrics").text
               for port in (metrics_port, metrics_port + 1)}
    wait_for(lambda: _history_bars_complete(endpoints.database_url, started_ns),
             STARTUP_TIMEOUT_S, "a bar with all of its trades in every minute of the history")
    code = up.stop(signal.SIGINT)

    # Assert: the history made it through every engine, the sink and the API
    print(f"every symbol's VPIN and a paper fill after {took_s:.1f} s")  # pytest -rP shows it
    assert code == 0, up.output()
    vpin = {r["symbol"]: r["vpin"] for r in latest}
    assert set(vpin) >= set(KNOWN_SYMBOLS), (took_s, vpin)
    assert all(vpin[s] is not None for s in KNOWN_SYMBOLS), (took_s, vpin)
    assert executions, f"no paper fill of vpin_guard after {took_s:.0f} s"
    feed_log = (up.state_dir / "logs" / "feed.log").read_text()
    assert "feed backfill done" in feed_log, feed_log[-2000:]
    assert 'nautilus_worker_events_in_total{engine="vpin"}' in scraped[metrics_port]
    assert "nautilus_sink_records_in_total" in scraped[metrics_port + 1]


def _free_ports(count: int = 2) -> int:
    """A port free on 127.0.0.1 whose next `count - 1` ports are free too."""
    for _ in range(100):
        with contextlib.ExitStack() as held:
            first = held.enter_context(socket.socket())
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            try:
                for offset in range(1, count):
                    held.enter_context(socket.socket()).bind(("127.0.0.1", port + offset))
            except OSError:
                continue
        return port
    pytest.fail(f"no {count} consecutive free ports")


def _assigned(log: Path, engine: str) -> set[int] | None:
    """The partitions `engine` holds in a worker, from the last assignment its log shows."""
    found = re.findall(rf"engine partitions assigned engine={engine} .* partitions=\[([^]]*)\]",
                       log.read_text())
    return {int(p) for p in found[-1].split(",") if p.strip()} if found else None


def _counter(metrics: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith(name))


def test_up_runs_several_workers_sinks_and_api_processes_that_share_the_work(
    run_up: StartUp, base_env: dict[str, str]
) -> None:
    # Arrange: two processes of each role that scales, a metrics port for each worker and sink
    metrics_port = _free_ports(4)
    up = run_up("--api-port", "0", "--workers", "2", "--sinks", "2", "--api-workers", "2",
                env={**base_env, "NAUTILUS_METRICS_PORT": str(metrics_port),
                     "NAUTILUS_HEALTH_INTERVAL_MS": "1000"})
    endpoints = up.wait_endpoints()
    token, _ = tokens.create_token(endpoints.database_url, "read", "me")
    logs = up.state_dir / "logs"
    trades = Catalog.load(Settings().topics_file)["market.trades"].partitions

    # Act: wait, as a user would, for every symbol's VPIN through the API and for the workers
    # to have split market.trades
    def split() -> bool:
        held = [_assigned(logs / f"worker-{i}.log", "bars") for i in (1, 2)]
        return all(held) and not held[0] & held[1] and held[0] | held[1] == set(range(trades))

    def every_vpin() -> bool:
        return all(r["vpin"] is not None for r in _get(endpoints, token, "vpin/latest")
                   ) and len(_get(endpoints, token, "vpin/latest")) >= len(KNOWN_SYMBOLS)

    wait_for(split, STARTUP_TIMEOUT_S, "the two workers to split market.trades")
    wait_for(every_vpin, STARTUP_TIMEOUT_S, "every simulated symbol's VPIN")
    scraped = {}

    def every_process_counted() -> bool:
        scraped.update({port: httpx.get(f"http://127.0.0.1:{port}/metrics").text
                        for port in range(metrics_port, metrics_port + 4)})
        return all(_counter(scraped[metrics_port + i], 'nautilus_worker_events_in_total'
                            '{engine="bars"}') > 0 for i in (0, 1)) and all(
            _counter(scraped[metrics_port + i], "nautilus_sink_records_in_total") > 0
            for i in (2, 3))

    wait_for(every_process_counted, STARTUP_TIMEOUT_S, "trades in both workers and both sinks")
    api_servers = re.findall(r"Started server process \[(\d+)\]", (logs / "api.log").read_text())
    # ... then one worker killed: `up` restarts it alone, and its health says so
    second = re.search(r"worker-2 \(pid (\d+)\)", up.output())
    assert second is not None, up.output()
    os.kill(int(second[1]), signal.SIGKILL)

    def restarted_reports() -> list[dict]:
        return [r for r in _get(endpoints, token, "engines")
                if r["restarts"] == 1 and r["current"]]

    wait_for(lambda: bool(restarted_reports()), STARTUP_TIMEOUT_S,
             "the restarted worker's health in /api/v1/engines")
    reports = _get(endpoints, token, "engines")
    code = up.stop(signal.SIGINT)

    # Assert: the processes `up` listed, each doing its share, and a clean stop
    assert code == 0, up.output()
    assert "worker-1 (pid" in up.output() and "sink-2 (pid" in up.output(), up.output()
    assert len(set(api_servers)) == 2, api_servers
    # the restart: logged, and in the health of the new worker-2 only
    assert "child restarted name=worker-2" in up.output(), up.output()
    restarted = {r["worker"] for r in reports if r["restarts"] == 1}
    assert len(restarted) == 1 and f":{second[1]}" not in restarted.pop(), reports
    assert {r["restarts"] for r in reports if r["current"]} == {0, 1}, reports


@pytest.mark.parametrize(("flags", "minutes"), [
    ((), "0"),  # kept data: history would overlap the earlier runs' in event time
    (("--backfill-minutes", "5"), "5"),  # asked for: published anyway
])
def test_up_publishes_no_history_into_kept_data_unless_asked(
    run_up: StartUp, base_env: dict[str, str], flags: tuple[str, ...], minutes: str
) -> None:
    up = run_up("--keep-data", "--no-worker", "--no-sink", "--feed-rate", "10", *flags,
                "--api-port", "0", env=base_env)
    up.wait_endpoints()
    (feed,) = [p.cmdline() for p in _tree(up.proc.pid, up.state_dir)
               if p.cmdline()[1:5] == ["-m", "streams", "feed", "sim"]]

    code = up.stop(signal.SIGINT)

    assert code == 0, up.output()
    assert feed[feed.index("--backfill-minutes") + 1] == minutes


def _history_bars_complete(database_url: str, up_started_ns: int) -> bool:
    """Whether every symbol has a 1-minute bar for each whole minute from 58 to 2 minutes
    before `up` started (history: the live feed starts after `up`), each counting every trade
    of its minute in the database (none dropped as late when the history went through)."""
    minute = 60_000_000_000
    first = (up_started_ns - 58 * minute) // minute * minute
    last = (up_started_ns - 2 * minute) // minute * minute
    with psycopg.connect(database_url) as conn:
        bars = conn.execute(
            "SELECT b.symbol, b.start_ns, b.trade_count, (SELECT count(*) FROM trades t"
            " WHERE t.symbol = b.symbol AND t.ts_event >= b.start_ns"
            " AND t.ts_event < b.start_ns + %s) FROM bars_1m b"
            " WHERE b.start_ns BETWEEN %s AND %s", (minute, first, last)).fetchall()
    complete = {(symbol, start) for symbol, start, count, trades in bars if count == trades}
    return complete == {(symbol, start) for symbol in KNOWN_SYMBOLS
                        for start in range(first, last + 1, minute)}


def test_up_starts_from_an_empty_embedded_database_unless_told_to_keep_data(
    run_up: StartUp, base_env: dict[str, str]
) -> None:
    # The embedded broker's log starts empty on every `up`; its readings in the database would
    # be another run's. A token is the user's, not the run's: it is kept.
    args = ("--no-feed", "--no-worker", "--api-port", "0")
    reading = event("VpinReading", symbol="RESTART", bucket=3)

    first = run_up(*args, env=base_env)
    endpoints = first.wait_endpoints()
    token, _ = tokens.create_token(endpoints.database_url, "read", "me")
    write(endpoints.database_url, reading)
    assert [r["bucket"] for r in _vpin_latest(endpoints, token).json()["data"]] == [3]
    assert first.stop(signal.SIGINT) == 0, first.output()

    second = run_up(*args, env=base_env)
    endpoints = second.wait_endpoints()
    emptied = _vpin_latest(endpoints, token)
    write(endpoints.database_url, reading)
    assert second.stop(signal.SIGINT) == 0, second.output()
    assert emptied.status_code == 200 and emptied.json() == {"data": []}
    assert "removed the previous runs' stream data" in second.output()

    kept = run_up("--keep-data", *args, env=base_env)
    endpoints = kept.wait_endpoints()
    still_there = _vpin_latest(endpoints, token)
    assert kept.stop(signal.SIGINT) == 0, kept.output()

    assert [r["bucket"] for r in still_there.json()["data"]] == [3]
    assert "removed" not in kept.output()


@pytest.mark.parametrize(("flags", "expected"), [
    (("--no-worker",), {"sink", "api"}),
    (("--no-sink",), {"worker", "api"}),
    (("--no-worker", "--no-sink"), {"api"}),
])
def test_no_worker_and_no_sink_each_leave_out_only_their_process(
    run_up: StartUp, services_env: dict[str, str], flags: tuple[str, ...], expected: set[str]
) -> None:
    up = run_up("--no-feed", *flags, "--api-port", "0", env=services_env)
    up.wait_endpoints()
    children = {p.cmdline()[3] for p in _tree(up.proc.pid, up.state_dir)
                if p.cmdline()[1:3] == ["-m", "streams"]}

    code = up.stop(signal.SIGTERM)

    assert code == 0, up.output()
    assert children == expected


def test_up_polls_a_configured_data_source_and_says_which_are_off(
    run_up: StartUp, services_env: dict[str, str], tmp_path: Path
) -> None:
    series = f"T{uuid.uuid4().hex[:10].upper()}"  # the session broker's market.macro is shared
    series_file = tmp_path / "series.yaml"
    series_file.write_text(f"rates:\n  - {{id: {series}, title: test, unit: percent}}\n")
    with FakeFred() as fake:
        fake.add(series, "2024-01-02", "3.95", "2024-01-03")
        fake.add(series, "2024-01-03", "3.91", "2024-01-04")
        with_key = {**services_env, "FRED_API_KEY": FRED_KEY, "NAUTILUS_FRED_URL": fake.url,
                    "NAUTILUS_FRED_SERIES_FILE": str(series_file)}
        up = run_up("--no-feed", "--no-worker", "--no-sink", "--api-port", "0", env=with_key)
        up.wait_endpoints()
        children = {p.cmdline()[3:5] == ["feed", "sources"]
                    for p in _tree(up.proc.pid, up.state_dir)
                    if p.cmdline()[1:3] == ["-m", "streams"]}
        wait_for(lambda: len(read_topic(services_env["KAFKA_BROKERS"], "market.macro",
                                        lambda r: r["series"] == series)) == 2,
                 120, "the fake FRED's two observations on market.macro")
        code = up.stop(signal.SIGTERM)
    poller_log = (up.state_dir / "logs" / "sources.log").read_text()
    without = run_up("--no-feed", "--no-worker", "--no-sink", "--api-port", "0",
                     env=services_env)
    without.wait_endpoints()
    no_sources = [p.cmdline() for p in _tree(without.proc.pid, without.state_dir)
                  if p.cmdline()[3:5] == ["feed", "sources"]]
    without_code = without.stop(signal.SIGTERM)

    assert code == 0, up.output()
    assert True in children, "no `feed sources` child"
    assert "data sources polled every 3600s: fred" in up.output()
    assert "fred: 1 item(s), 2 record(s) fetched, 2 published" in poller_log
    assert FRED_KEY not in up.output() + poller_log
    assert without_code == 0 and no_sources == []
    assert "data source off source=fred reason=FRED_API_KEY not set" in without.output()


def test_up_keeps_the_logs_of_the_previous_runs(
    run_up: StartUp, services_env: dict[str, str], traversable_tmp_path: Path
) -> None:
    # Arrange: the api logs of four earlier runs, newest first
    logs = traversable_tmp_path / "state" / "logs"
    logs.mkdir(parents=True)
    for n, run in enumerate(["run 4", "run 3", "run 2", "run 1"]):
        (logs / ("api.log" + (f".{n}" if n else ""))).write_text(f"{run}\n")

    # Act
    up = run_up("--no-feed", "--no-worker", "--api-port", "0", env=services_env)
    up.wait_endpoints()
    code = up.stop(signal.SIGTERM)

    # Assert: three generations kept, the oldest dropped, this run's log written fresh
    assert code == 0, up.output()
    kept = [(logs / f"api.log.{n}").read_text() for n in (1, 2, 3)]
    assert kept == ["run 4\n", "run 3\n", "run 2\n"]
    assert not (logs / "api.log.4").exists()
    assert "run" not in (logs / "api.log").read_text().split("\n", 1)[0]


def _command(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streams", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_commands_find_a_running_up_from_any_folder(
    run_up: StartUp, services_env: dict[str, str], base_env: dict[str, str], tmp_path: Path
) -> None:
    # `up` on the session's services (quick to start); the commands get no address at all
    up = run_up("--no-feed", "--no-worker", "--api-port", "0", env=services_env)
    up.wait_endpoints()
    elsewhere = tmp_path / "some" / "other" / "folder"
    elsewhere.mkdir(parents=True)

    listed = _command(["topics", "list"], base_env, elsewhere)
    tokens = _command(["token", "list"], base_env, elsewhere)
    code = up.stop(signal.SIGINT)
    after = _command(["topics", "list"], base_env, elsewhere)

    assert code == 0, up.output()
    assert listed.returncode == 0, listed.stderr
    assert "market.trades" in listed.stdout
    assert tokens.returncode == 0, tokens.stderr
    # stopped: one line that says where it looked
    assert after.returncode == 2
    (line,) = after.stderr.splitlines()
    assert str(elsewhere / ".nautilus" / "endpoints.json") in line, line
    assert base_env["NAUTILUS_STACKS_DIR"] in line, line


def _health(database_url: str, worker: str) -> list[tuple[str, str]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT engine, status FROM engine_health WHERE worker = %s"
                            " ORDER BY time", (worker,)).fetchall()


def test_a_stopped_up_leaves_its_workers_final_stopped_health_in_the_database(
    run_up: StartUp, services_env: dict[str, str], database_url: str
) -> None:
    # Arrange: a running stack whose worker's health already reaches the database
    up = run_up("--no-feed", "--api-port", "0", env=services_env)
    up.wait_endpoints()
    (pid,) = [p.pid for p in _tree(up.proc.pid, up.state_dir)
              if p.cmdline()[1:4] == ["-m", "streams", "worker"]]
    worker = f"{socket.gethostname()}:{pid}"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not _health(database_url, worker):
        assert time.monotonic() < deadline, f"no health of {worker} in the database"
        time.sleep(0.5)

    # Act
    code = up.stop(signal.SIGTERM)

    # Assert: the worker said `stopped` for each engine as it stopped, and the sink, stopped
    # after it, wrote that into the database
    assert code == 0, up.output()
    last = dict(_health(database_url, worker))  # ordered by time: the newest per engine wins
    assert set(last.values()) == {"stopped"}, last
    assert set(last) == set(ENGINES.defaults())  # vpin_guard included, sma_cross not


def test_up_sizes_vpin_buckets_to_a_fifth_of_a_simulated_bar() -> None:
    # Known answer from the sim's definition: a symbol trades rate * weight / total weight
    # trades per second of mean size min_size * 1.6 / 0.6 (Pareto 1.6); weights sum to 1.
    # ESZ6: 2000 * 0.30 * 1 * 8/3 * 60 s = 96000 per bar, a fifth 19200.
    rates = volume_per_s(list(KNOWN_SYMBOLS), 2_000.0)

    variables = feed_sized_params(Settings(), rates, {})

    assert sorted(variables) == ["NAUTILUS_VPIN_GUARD__BB_DEV", "NAUTILUS_VPIN_GUARD__BB_PERIOD",
                                 "NAUTILUS_VPIN__BUCKET_VOLUME"]
    assert json.loads(variables["NAUTILUS_VPIN__BUCKET_VOLUME"]) == {
        "default": 10_000, "ESZ6": 19_200, "NQZ6": 12_800, "AAPL": 140_800, "MSFT": 102_400,
        "EURUSD": 7_680_000,
    }


def test_up_leaves_a_parameter_set_in_the_environment_to_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NAUTILUS_VPIN__BAR_SECONDS", "30")  # halves a bar's volume
    rates = volume_per_s(["ESZ6"], 2_000.0)

    sized = feed_sized_params(Settings(), rates, {})
    chosen = feed_sized_params(Settings(), rates, {"NAUTILUS_VPIN__BUCKET_VOLUME": "5000"})

    # ESZ6 alone: 2000 trades/s of mean size 8/3 for 30 s = 160000, a fifth 32000
    assert json.loads(sized["NAUTILUS_VPIN__BUCKET_VOLUME"])["ESZ6"] == 32_000
    assert "NAUTILUS_VPIN__BUCKET_VOLUME" not in chosen


def test_up_gives_vpin_guard_bands_it_can_cross_within_five_bars() -> None:
    # The newest of n closes is at most sqrt(n - 1) population deviations from their mean:
    # within 5 one-minute bars a band needs n <= 4 closes and fewer than sqrt(3) deviations.
    variables = feed_sized_params(Settings(), volume_per_s(["ESZ6"], 2_000.0), {})

    period = json.loads(variables["NAUTILUS_VPIN_GUARD__BB_PERIOD"])
    dev = json.loads(variables["NAUTILUS_VPIN_GUARD__BB_DEV"])
    assert period <= 4 and dev < (period - 1) ** 0.5


def _order(account: str, n: int) -> tuple[str, bytes]:
    order = event("Order", order_id=f"desk:AAPL:{n}", strategy="desk", account=account,
                  symbol="AAPL", side="buy", quantity=10, order_type="market",
                  limit_price=None, ts_event=time.time_ns(), ts_init=time.time_ns())
    return "AAPL", encode(order)


def _events(brokers: str, account: str, order_id: str) -> dict[str, str | None]:
    """The order's states on logic.order.events, with their reasons."""
    return {e["state"]: e["reason"] for e in read_topic(
        brokers, "logic.order.events",
        lambda e: e["account"] == account and e["order_id"] == order_id)}


def _approved(brokers: str, account: str) -> set[str]:
    return {o["order_id"] for o in read_topic(brokers, "logic.orders.approved",
                                              lambda o: o["account"] == account)}


def test_a_halt_under_up_cancels_the_open_orders_and_rejects_every_new_order(
    run_up: StartUp, services_env: dict[str, str], base_env: dict[str, str],
    kafka_brokers: str, tmp_path: Path
) -> None:
    # Arrange: `up`'s worker (every default engine, pretrade among them) in a group of its
    # own that starts at the end of every topic, and an order working at the venue (no
    # market data: it waits for the next bar's open)
    app_id = f"test-up-halt-{uuid.uuid4().hex[:8]}"
    catalog = Catalog.load(Path(__file__).resolve().parents[2] / "topics.yaml")
    start_group_at_end(kafka_brokers, app_id, tuple(t.name for t in catalog))
    up = run_up("--no-feed", "--no-sink", "--api-port", "0",
                env={**services_env, "NAUTILUS_APP_ID": app_id})
    up.wait_endpoints()
    account = f"UP{uuid.uuid4().hex[:8].upper()}"
    produce(kafka_brokers, [_order(account, 1)], "logic.orders")
    wait_for(lambda: _events(kafka_brokers, account, "desk:AAPL:1").keys() >= {"accepted"},
             2 * STARTUP_TIMEOUT_S, "the first order at the venue")
    user_env = {**base_env, "NAUTILUS_STATE_DIR": str(up.state_dir)}  # finds up's broker

    # Act: the kill switch as a user throws it, then a new order
    halted = _command(["risk", "halt", "--account", account, "--reason", "desk limit"],
                      user_env, tmp_path)
    wait_for(lambda: "canceled" in _events(kafka_brokers, account, "desk:AAPL:1"),
             STARTUP_TIMEOUT_S, "the working order's cancel")
    produce(kafka_brokers, [_order(account, 2)], "logic.orders")
    wait_for(lambda: "rejected" in _events(kafka_brokers, account, "desk:AAPL:2"),
             STARTUP_TIMEOUT_S, "the new order's rejection")
    resumed = _command(["risk", "resume", "--account", account], user_env, tmp_path)
    produce(kafka_brokers, [_order(account, 3)], "logic.orders")
    wait_for(lambda: "accepted" in _events(kafka_brokers, account, "desk:AAPL:3"),
             STARTUP_TIMEOUT_S, "the order after the resume at the venue")
    code = up.stop(signal.SIGINT)

    # Assert
    assert halted.returncode == 0, halted.stderr
    assert resumed.returncode == 0, resumed.stderr
    assert code == 0, up.output()
    canceled = _events(kafka_brokers, account, "desk:AAPL:1")["canceled"]
    assert canceled is not None and f"account {account} halted by" in canceled
    rejected = _events(kafka_brokers, account, "desk:AAPL:2")["rejected"]
    assert rejected is not None and rejected.startswith(
        f"risk: trading_state: account {account} is HALTED (")
    assert rejected.endswith(": desk limit)")
    assert _approved(kafka_brokers, account) == {"desk:AAPL:1", "desk:AAPL:3"}


def test_up_stops_everything_when_the_embedded_broker_reaches_its_memory_limit(
    run_up: StartUp, base_env: dict[str, str]
) -> None:
    # Arrange: a limit the simulated history alone passes (the broker keeps every record)
    up = run_up("--api-port", "0", "--no-worker", "--no-sink",
                env={**base_env, "NAUTILUS_EMBEDDED_BROKER_MAX_MB": "60"})
    endpoints = up.wait_endpoints()
    procs = _tree(up.proc.pid, up.state_dir)

    # Act
    code = up.proc.wait(timeout=STARTUP_TIMEOUT_S)

    # Assert: warned on the way, then stopped with the reason and the way out
    out = up.output()
    assert code == 1, out
    assert "of NAUTILUS_EMBEDDED_BROKER_MAX_MB=60 (it keeps every record" in out
    assert "NAUTILUS_EMBEDDED_BROKER_MAX_MB is 60" in out and "use Redpanda" in out
    _assert_nothing_left(up, endpoints, procs)
