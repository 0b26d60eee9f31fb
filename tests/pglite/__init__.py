"""A real TimescaleDB for the tests, without Docker: PGlite (PostgreSQL 17 in WebAssembly with
TimescaleDB built in) behind the wire-protocol server `server.mjs`, run by Node.js.

`npm ci --prefix tests/pglite` installs it (`.ci/run` does). One in-memory database, one
client session at a time: a test must close a connection before it opens the next one (a
second connection waits, and psycopg's connect timeout turns a mistake into an error).
Background jobs never run by themselves here; `CALL run_job(id)` runs one.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path
from types import TracebackType

HERE = Path(__file__).resolve().parent
SERVER = HERE / "server.mjs"
PACKAGE = HERE / "node_modules" / "@unni-craftsman" / "pglite"
START_TIMEOUT_S = 60


class Unavailable(RuntimeError):
    """Node.js or the PGlite package is missing."""


class PGliteTimescale:
    """The server as a context manager; `url` is a psycopg connection URL."""

    def __init__(self) -> None:
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> PGliteTimescale:
        node = shutil.which("node")
        if node is None or not PACKAGE.is_dir():
            raise Unavailable(
                "the TimescaleDB tests need Node.js and `npm ci --prefix tests/pglite`"
            )
        self._proc = subprocess.Popen(
            [node, str(SERVER), "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )
        line = _first_line(self._proc, START_TIMEOUT_S)
        if not line.startswith("listening "):
            self.__exit__(None, None, None)
            raise RuntimeError(f"PGlite server did not start: {line!r}")
        port = int(line.split()[1])
        # PGlite takes any password; it only has to be present.
        self.url = f"postgresql://postgres:pglite@127.0.0.1:{port}/postgres?sslmode=disable"
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def _drain(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for _ in self._proc.stdout:
            pass


def _first_line(proc: subprocess.Popen[str], timeout_s: float) -> str:
    found: list[str] = []
    reader = threading.Thread(
        target=lambda: found.append(proc.stdout.readline() if proc.stdout else ""), daemon=True
    )
    reader.start()
    reader.join(timeout_s)
    return found[0].strip() if found else f"nothing within {timeout_s} s"
