"""`up`: the whole platform on one machine, supervised, stopped cleanly on SIGINT/SIGTERM.

Services: KAFKA_BROKERS / DATABASE_URL when set, otherwise an embedded Tansu broker (memory
only) and an embedded PostgreSQL with its data in `<state dir>/postgres` (each decided on its
own). The database is a view of the log: with both embedded, the log starts empty, so the
stream data that earlier runs left in the embedded database is removed (API tokens stay)
unless `keep_data`; a database from DATABASE_URL is never emptied. Topics and migrations are
applied, then the children start with KAFKA_BROKERS and
DATABASE_URL in their environment: the worker (all engines), the sink (topics into the
database), the simulated feed (first `backfill_minutes` of simulated history, unpaced, then
live; see `feed sim --backfill-minutes`; by default only into an emptied database, where it
overlaps nothing), the data sources' poller when one is configured (`feed sources --every
NAUTILUS_SOURCES_POLL_S`, child `sources`; which sources are off, and why, is logged either
way) and the API, each logging to
`<state dir>/logs/<name>.log` (the logs of the previous LOG_GENERATIONS runs are kept as
`<name>.log.1`, `.2`, ...). With NAUTILUS_METRICS_PORT set, the worker serves Prometheus
metrics on it and the sink on the next port (`metrics_env`); with several workers and sinks
(`workers`, `sinks`: processes of one consumer group, which split the partitions), each takes
the next port in that order. `api_workers` runs the API as that many server processes on one
port. Once the API
answers, `<state dir>/endpoints.json` tells other commands where everything is, and an entry
in the per-user registry of running stacks (streams/stacks.py) lets them find it from any
folder.

Supervision, like a process manager's: a child that exits (whatever its code) is logged with
the tail of its log and started again after a backoff (1 s, doubling per consecutive short
run, at most 30 s), appending to the same log; a restarted feed publishes no history again
(it would overlap what it already published). A child that exits CRASH_LOOP_RUNS times in a
row, each time within STABLE_RUN_S of starting, is crash-looping: everything is stopped and
`up` exits 1, saying so. A child that dies while `up` is starting, or the embedded broker or
database dying, stops everything at once. A signal stops everything and exits 0. Stopping
is ordered: children first (SIGTERM, SIGKILL after a grace; the sink after the others, so
it writes what they published as they stopped), then the broker, then the database;
endpoints.json and the registry entry are removed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from types import TracebackType
from typing import Self

from processors import ENGINES
from processors.base import FeedTuning
from streams import kafka, stacks
from streams.catalog import Catalog
from streams.embedded import (
    EmbeddedBroker,
    EmbeddedPostgres,
    free_port,
    log_tail,
    port_is_free,
    rotate_logs,
    start_process,
    stop_processes,
)
from streams.endpoints import ENDPOINTS_FILE, Endpoints, reachable_kafka_brokers, stacks_dir
from streams.exceptions import ServiceError
from streams.feeds.sim import DEFAULT_TRADES_PER_S, KNOWN_SYMBOLS, volume_per_s
from streams.feeds.sources.poll import source_states
from streams.settings import Settings, engine_variable
from streams.sink.reset import clear_stream_data
from streams.storage import migrate as migrations
from streams.storage import safe_url

log = logging.getLogger(__name__)

API_READY_TIMEOUT_S = 60.0
CHILD_STOP_GRACE_S = 15.0
POLL_S = 0.2
_ENV_OVERRIDDEN = ("NAUTILUS_KAFKA_BROKERS", "NAUTILUS_DATABASE_URL")
LOG_GENERATIONS = 3  # runs whose logs are kept besides the current one's
METRICS_ROLES = ("worker", "sink")  # the children that serve Prometheus metrics, in port order
DEFAULT_BACKFILL_MINUTES = 60.0  # simulated history before the live feed: VPIN warms up on it
CRASH_LOOP_RUNS = 5  # consecutive short runs of one child that stop everything
STABLE_RUN_S = 60.0  # a child that ran this long before it exited was not crash-looping
RESTART_FIRST_S, RESTART_MAX_S = 1.0, 30.0  # backoff: doubling per consecutive short run
BROKER_MEMORY_CHECK_S = 2.0  # how often the embedded broker's memory is looked at
BROKER_MEMORY_WARNINGS = (0.25, 0.5, 0.75)  # shares of embedded_broker_max_mb warned about


@dataclass(frozen=True, slots=True)
class UpOptions:
    """What to run. `api_port` 0 picks a free port; `feed_rate` and `backfill_minutes` are
    passed to `feed sim`; `backfill_minutes` None: DEFAULT_BACKFILL_MINUTES when this start
    empties the database, else none."""

    state_dir: Path
    api_port: int
    feed: bool = True
    feed_rate: float | None = None
    backfill_minutes: float | None = None
    worker: bool = True
    keep_data: bool = False
    sink: bool = True
    workers: int = 1  # worker processes (one consumer group: they split the partitions)
    sinks: int = 1  # sink processes, likewise
    api_workers: int = 1  # API server processes sharing the port
    sources: bool = True  # poll the configured data sources (`feed sources --every`)


def process_names(role: str, count: int) -> list[str]:
    """The names of `count` children of one role: the role itself for one, else numbered
    from 1 (worker-1, worker-2, ...); each logs to `<name>.log`."""
    return [role] if count == 1 else [f"{role}-{i}" for i in range(1, count + 1)]


@dataclass(slots=True)
class Child:
    """A supervised child process, the file its output goes to, how to start it again and
    its restarts so far."""

    name: str
    role: str  # worker, sink, feed, sources or api
    process: Popen[bytes]
    log_path: Path
    argv: list[str]
    env: dict[str, str]
    started_s: float  # time.monotonic() of the current process's start
    short_runs: int = 0  # consecutive exits within STABLE_RUN_S of starting
    restarts: int = 0
    restart_at_s: float | None = None  # set while a restart waits out its backoff


class Stack:
    """The running platform: services, topics, schema, children and the endpoints file.

    Use as a context manager: leaving it stops everything that was started, in reverse
    order, whether `start()` finished or failed halfway.
    """

    def __init__(self, settings: Settings, options: UpOptions, stopping: threading.Event) -> None:
        self.settings = settings
        self.options = options
        self.state_dir = options.state_dir.expanduser().resolve()
        self.logs_dir = self.state_dir / "logs"
        self.stopping = stopping
        self.broker: EmbeddedBroker | None = None
        self.database: EmbeddedPostgres | None = None
        self.children: list[Child] = []
        self.endpoints: Endpoints | None = None
        self.broker_memory: BrokerMemory | None = None
        self._cleanup = contextlib.ExitStack()

    def start(self) -> Endpoints | None:
        """Bring everything up; None when a stop was requested before it finished."""
        started = time.monotonic()
        _refuse_second_up(self.state_dir)
        rotate_logs(self.logs_dir, LOG_GENERATIONS)
        api_port = _api_port(self.settings.api_host, self.options.api_port)
        brokers = self._broker()
        database_url = self._database()
        changes = kafka.apply_catalog(Catalog.load(self.settings.topics_file), brokers)
        applied, storage = migrations.prepare(database_url, self.settings.storage_horizons(),
                                              self.settings.chunk_sizing())
        log.info("schema ready topic_changes=%d migrations_applied=%d %s", len(changes),
                 len(applied), storage.summary())
        if self.empties_database:
            self._remove_earlier_runs(database_url)
        if self.stopping.is_set():
            return None
        env = _child_env(brokers, database_url, self.state_dir)
        if self.options.feed:
            rate = self.options.feed_rate or DEFAULT_TRADES_PER_S
            env.update(feed_sized_params(self.settings, volume_per_s(list(KNOWN_SYMBOLS), rate),
                                         env))
        metrics_at = 0
        for role, name, argv in self._commands(api_port):
            self._start_child(role, name, argv, metrics_env(env, metrics_at
                                                            if role in METRICS_ROLES else None))
            metrics_at += role in METRICS_ROLES
        host = self.settings.api_host
        api = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{api_port}"
        if not self._wait_api(api):
            return None
        self.endpoints = Endpoints(brokers, database_url, api, os.getpid())
        self._write_endpoints(self.endpoints)
        log.info("up ready startup_ms=%d state_dir=%s", (time.monotonic() - started) * 1000,
                 self.state_dir)
        return self.endpoints

    def _broker(self) -> str:
        if self.settings.kafka_brokers:
            return reachable_kafka_brokers(self.settings)
        self.broker = EmbeddedBroker(log_path=self.logs_dir / "broker.log")
        self._cleanup.callback(self.broker.stop)
        brokers = self.broker.start()
        if self.settings.embedded_broker_max_mb:
            self.broker_memory = BrokerMemory(self.broker, self.settings.embedded_broker_max_mb)
        return brokers

    def _database(self) -> str:
        if self.settings.database_url is not None:
            return self.settings.database_url.get_secret_value()
        self.database = EmbeddedPostgres(self.state_dir / "postgres")
        self._cleanup.callback(self.database.stop)
        return self.database.start()

    @property
    def empties_database(self) -> bool:
        """Whether this start removes earlier runs' stream data: only from the embedded
        database, only with the embedded (in-memory, so new) log, and not with keep_data."""
        return self.broker is not None and self.database is not None and not (
            self.options.keep_data)

    def _remove_earlier_runs(self, database_url: str) -> None:
        held = clear_stream_data(database_url)
        if held:
            log.info("embedded database: removed the previous runs' stream data, since the "
                     "embedded broker's log starts empty (API tokens kept; `up --keep-data` "
                     "keeps it) tables=%s", ",".join(held))

    def _commands(self, api_port: int) -> list[tuple[str, str, list[str]]]:
        """(role, name, argv) of every child, in start order."""
        python = [sys.executable, "-m", "streams"]
        options = self.options
        commands = []
        if options.worker:
            commands += [("worker", name, [*python, "worker"])
                         for name in process_names("worker", options.workers)]
        if options.sink:
            commands += [("sink", name, [*python, "sink"])
                         for name in process_names("sink", options.sinks)]
        if options.feed:
            rate = options.feed_rate
            extra = [] if rate is None else ["--rate", f"{rate:g}"]
            extra += ["--backfill-minutes", f"{self._backfill_minutes():g}"]
            commands.append(("feed", "feed", [*python, "feed", "sim", *extra]))
        if options.sources and self._sources_on():
            commands.append(("sources", "sources", [
                *python, "feed", "sources", "--every", f"{self.settings.sources_poll_s:g}"]))
        api = ["api", "--host", self.settings.api_host, "--port", str(api_port),
               "--workers", str(options.api_workers)]
        commands.append(("api", "api", [*python, *api]))
        return commands

    def _sources_on(self) -> bool:
        """Whether a data source (FRED, ...) is configured in the environment, saying which
        are off and why (one line each) either way."""
        states = source_states(os.environ)
        for name, why in states.items():
            if why is not None and why.startswith("misconfigured"):
                log.error("data source off source=%s reason=%s", name, why)
            elif why is not None:
                log.info("data source off source=%s reason=%s", name, why)
        on = [name for name, why in states.items() if why is None]
        if on:
            log.info("data sources polled every %gs: %s", self.settings.sources_poll_s,
                     ",".join(on))
        return bool(on)

    def _backfill_minutes(self) -> float:
        """The simulated history to publish first. Into a database that keeps earlier runs'
        data (DATABASE_URL, --keep-data), history would overlap theirs in event time, and a
        worker group that already read past it (KAFKA_BROKERS) would drop it as late: none
        there unless asked for."""
        if self.options.backfill_minutes is not None:
            return self.options.backfill_minutes
        if self.empties_database:
            return DEFAULT_BACKFILL_MINUTES
        log.info("no simulated history: the database keeps earlier runs' data, which it would "
                 "overlap in event time (--backfill-minutes N publishes it anyway)")
        return 0.0

    def _start_child(self, role: str, name: str, argv: list[str], env: dict[str, str]) -> None:
        log_path = self.logs_dir / f"{name}.log"
        child = Child(name, role, start_process(argv, log_path, env), log_path, argv, env,
                      time.monotonic())
        if not self.children:
            self._cleanup.callback(self._stop_children)
        self.children.append(child)
        log.info("child started name=%s pid=%d log=%s", name, child.process.pid, child.log_path)

    def _wait_api(self, api: str) -> bool:
        """Wait until GET /health answers; False if a stop was requested meanwhile."""
        deadline = time.monotonic() + API_READY_TIMEOUT_S
        while not self.stopping.is_set():
            dead = self.dead_child()
            if dead is not None:
                raise ServiceError(f"{_died(dead)} during startup:\n{log_tail(dead.log_path)}")
            if _http_ok(f"{api}/health"):
                return True
            if time.monotonic() > deadline:
                raise ServiceError(f"the API did not answer on {api} within "
                                   f"{API_READY_TIMEOUT_S:.0f}s; see {self.logs_dir / 'api.log'}")
            self.stopping.wait(POLL_S)
        return False

    def _write_endpoints(self, endpoints: Endpoints) -> None:
        path = endpoints.write(self.state_dir)
        self._cleanup.callback(_remove_endpoints, path)
        # other commands find this `up` from any folder through the per-user registry
        registry = stacks_dir(self.settings)
        try:
            entry = stacks.new_entry(self.state_dir).register(registry)
        except OSError as exc:
            log.warning("not registered as a running stack (commands find this `up` only "
                        "from its state dir) registry=%s error=%s", registry, exc)
            return
        self._cleanup.callback(stacks.unregister, entry)

    def dead_child(self) -> Child | None:
        """The first child that has exited, if any."""
        return next((c for c in self.children if c.process.poll() is not None), None)

    def supervise(self) -> int:
        """Block until a stop is requested (0), a child crash-loops or an embedded service
        dies (1); a child that exits is restarted after its backoff."""
        while not self.stopping.wait(POLL_S):
            now = time.monotonic()
            for child in self.children:
                if child.restart_at_s is not None:
                    if now >= child.restart_at_s:
                        self._restart(child)
                elif child.process.poll() is not None and not self._plan_restart(child, now):
                    return 1
            if self.broker is not None and not self.broker.alive():
                log.error("embedded broker died; stopping everything log=%s\n%s",
                          self.broker.log_path, log_tail(self.broker.log_path))
                return 1
            if self.broker_memory is not None and not self.broker_memory.within_limit(now):
                return 1
            if self.database is not None and not self.database.alive():
                log.error("embedded database died; stopping everything log=%s\n%s",
                          self.database.log_path, log_tail(self.database.log_path))
                return 1
        log.info("stop requested")
        return 0

    def _plan_restart(self, child: Child, now: float) -> bool:
        """Schedule the restart of `child`, which exited; False when it is crash-looping."""
        ran_s = now - child.started_s
        child.short_runs = child.short_runs + 1 if ran_s < STABLE_RUN_S else 1
        if child.short_runs >= CRASH_LOOP_RUNS:
            log.error("%s after %.1f s: it exited %d times in a row within %.0f s of starting "
                      "(a crash loop); stopping everything\n%s", _died(child), ran_s,
                      child.short_runs, STABLE_RUN_S, log_tail(child.log_path))
            return False
        delay_s = min(RESTART_MAX_S, RESTART_FIRST_S * 2 ** (child.short_runs - 1))
        log.warning("%s after %.1f s; restarting it in %.0f s (restart %d)\n%s", _died(child),
                    ran_s, delay_s, child.restarts + 1, log_tail(child.log_path))
        child.restart_at_s = now + delay_s
        return True

    def _restart(self, child: Child) -> None:
        argv = restart_argv(child.role, child.argv)
        child.restarts += 1
        env = {**child.env, "NAUTILUS_RESTARTS": str(child.restarts)}  # into its health
        child.process = start_process(argv, child.log_path, env, append=True)
        child.started_s, child.restart_at_s = time.monotonic(), None
        log.info("child restarted name=%s pid=%d restarts=%d log=%s", child.name,
                 child.process.pid, child.restarts, child.log_path)

    def _stop_children(self) -> None:
        """Stop the children, the sink last: it drains what the others published as they
        stopped (their final `stopped` health, the last bars) into the database."""
        running = [c for c in self.children if c.process.poll() is None]
        log.info("stopping children names=%s", ",".join(c.name for c in running) or "-")
        producers = [c for c in reversed(self.children) if c.role != "sink"]
        sinks = [c for c in self.children if c.role == "sink"]
        for stage in (producers, sinks):
            stop_processes([c.process for c in stage], CHILD_STOP_GRACE_S)
        for child in self.children:
            log.info("child stopped name=%s %s", child.name, exit_status(child.process.returncode))

    def stop(self) -> None:
        """Stop everything started so far, newest first; safe to call twice."""
        self._cleanup.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class BrokerMemory:
    """Watches the embedded broker's resident memory against a limit: Tansu's memory storage
    keeps every record (no retention, and DeleteRecords is not implemented in it), so under a
    steady feed it grows without bound. Warns once at each of BROKER_MEMORY_WARNINGS of the
    limit, with the growth rate and the time left at it."""

    def __init__(self, broker: EmbeddedBroker, max_mb: int) -> None:
        self.broker, self.max_mb = broker, max_mb
        self._next_check_s = 0.0
        self._warned = 0  # BROKER_MEMORY_WARNINGS passed so far
        self._first: tuple[float, float] | None = None  # (monotonic s, MB) of the first look

    def within_limit(self, now: float) -> bool:
        """False (logged) once the broker holds `max_mb` or more; looks every
        BROKER_MEMORY_CHECK_S."""
        if now < self._next_check_s:
            return True
        self._next_check_s = now + BROKER_MEMORY_CHECK_S
        mb = self._resident_mb()
        if mb is None:
            return True
        self._first = self._first or (now, mb)
        rate = (mb - self._first[1]) / (now - self._first[0]) if now > self._first[0] else 0.0
        if mb >= self.max_mb:
            log.error("the embedded broker holds %.0f MB, NAUTILUS_EMBEDDED_BROKER_MAX_MB is %d: "
                      "it keeps every record in memory (Tansu's memory storage applies no "
                      "retention); stopping everything. For longer runs use Redpanda "
                      "(KAFKA_BROKERS, or docker compose), or raise the limit", mb, self.max_mb)
            return False
        while (self._warned < len(BROKER_MEMORY_WARNINGS)
               and mb >= BROKER_MEMORY_WARNINGS[self._warned] * self.max_mb):
            self._warned += 1
            left = (f"; growing {rate:.1f} MB/s, it reaches the limit in about "
                    f"{(self.max_mb - mb) / rate / 60:.0f} min" if rate > 0 else "")
            log.warning("the embedded broker holds %.0f MB of NAUTILUS_EMBEDDED_BROKER_MAX_MB=%d "
                        "(it keeps every record; `up` stops everything at the limit)%s", mb,
                        self.max_mb, left)
        return True

    def _resident_mb(self) -> float | None:
        import psutil

        pid = self.broker.pid
        if pid is None:
            return None
        try:
            return float(psutil.Process(pid).memory_info().rss) / 2**20
        except psutil.NoSuchProcess:
            return None


def summary(stack: Stack) -> str:
    """What runs where, for people: addresses, logs and a command to try."""
    endpoints = stack.endpoints
    if endpoints is None:
        return "nothing is running"
    broker_note = (f"embedded Tansu, memory only; log {stack.broker.log_path}"
                   if stack.broker else "from KAFKA_BROKERS")
    db_note = (f"embedded PostgreSQL; data and log in {stack.database.data_dir}; "
               + ("stream data starts empty each run, --keep-data keeps it"
                  if stack.empties_database else "earlier runs' stream data kept")
               if stack.database else "from DATABASE_URL")
    lines = [
        "Nautilus Streams is up. Ctrl-C stops everything.",
        f"  broker     {endpoints.kafka}  ({broker_note})",
        f"  database   {safe_url(endpoints.database_url)}  ({db_note})",
        f"  api        {endpoints.api}  (/health, /ready, /docs)",
    ]
    lines.append("  processes  " + ", ".join(f"{c.name} (pid {c.process.pid})"
                                           for c in stack.children))
    lines.append(f"  logs       {stack.logs_dir}/  (one <name>.log per process; earlier runs: "
                 f"<name>.log.1 to .{LOG_GENERATIONS})")
    lines.append(f"  endpoints  {stack.state_dir / ENDPOINTS_FILE}")
    env = "" if stack.state_dir == stack.settings.state_dir.resolve() else (
        f"NAUTILUS_STATE_DIR={stack.state_dir} ")
    lines.append(f"  try        {env}nautilus-streams topics tail market.bars.1m")
    return "\n".join(lines)


def feed_sized_params(settings: Settings, volume_per_s: dict[str, float],
                      env: dict[str, str]) -> dict[str, str]:
    """The engine parameters that engines size to a feed's expected volume per symbol and
    second (those whose parameter model does: `FeedTuning`), as environment variables for
    the worker; a parameter whose variable `env` sets already is left to it. Each choice is
    logged."""
    params = settings.engine_params()
    chosen: dict[str, str] = {}
    for engine in ENGINES:
        current = getattr(params, engine)
        if not isinstance(current, FeedTuning):
            continue
        before = current.model_dump(mode="json")
        for param, value in current.tuned_for_feed(volume_per_s).model_dump(mode="json").items():
            variable = engine_variable(engine, param)
            if value == before[param] or variable in env:
                continue
            chosen[variable] = json.dumps(value)
            log.info("%s.%s sized to the simulated feed: %s (set %s to choose)", engine, param,
                     chosen[variable], variable)
    return chosen


def _refuse_second_up(state_dir: Path) -> None:
    running = Endpoints.read(state_dir)
    if running is not None:
        raise ServiceError(
            f"`up` is already running for {state_dir} (pid {running.pid}); stop it first "
            "or use another --state-dir"
        )


def _api_port(host: str, port: int) -> int:
    if port == 0:
        return free_port(host)
    if not port_is_free(host, port):
        raise ServiceError(
            f"API port {host}:{port} is already in use: pass --api-port N, "
            "or --api-port 0 to pick a free one"
        )
    return port


def _child_env(brokers: str, database_url: str, state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _ENV_OVERRIDDEN}
    env.update(
        KAFKA_BROKERS=brokers,
        DATABASE_URL=database_url,
        NAUTILUS_STATE_DIR=str(state_dir),
        PYTHONUNBUFFERED="1",
    )
    return env


def restart_argv(role: str, argv: list[str]) -> list[str]:
    """How to start a child of `role` again: as before, but a feed publishes no simulated
    history (its first run did; again it would overlap what the feed already published)."""
    if role != "feed" or "--backfill-minutes" not in argv:
        return argv
    at = argv.index("--backfill-minutes") + 1
    return [*argv[:at], "0", *argv[at + 1:]]


def metrics_env(env: dict[str, str], offset: int | None) -> dict[str, str]:
    """`env` for one child, with its own NAUTILUS_METRICS_PORT: the port set plus `offset`
    (workers first, then sinks: two processes cannot share a port), none where `offset` is
    None (the feed; the API serves /metrics on its own port)."""
    env = dict(env)
    port = env.pop("NAUTILUS_METRICS_PORT", "").strip()
    if port and offset is not None:
        env["NAUTILUS_METRICS_PORT"] = str(int(port) + offset)
    return env


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 (our own URL)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def exit_status(returncode: int | None) -> str:
    """`code=N` for an exit, `signal=NAME` for a process a signal ended (Popen's -N): uvicorn
    re-raises the SIGTERM `up` stops it with once its shutdown is complete, so the API's
    clean stop reads `signal=SIGTERM`, not a bare -15."""
    if returncode is not None and returncode < 0:
        try:
            return f"signal={signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal={-returncode}"
    return f"code={returncode}"


def _died(child: Child) -> str:
    return (f"child exited name={child.name} pid={child.process.pid} "
            f"{exit_status(child.process.returncode)} log={child.log_path}")


def _remove_endpoints(path: Path) -> None:
    """Remove endpoints.json if it is still ours (another `up` may have replaced it)."""
    try:
        ours = Endpoints.read(path.parent)
    except OSError:
        ours = None
    if ours is None or ours.pid == os.getpid():
        path.unlink(missing_ok=True)
