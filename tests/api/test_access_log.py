"""The API's own log (uvicorn's access and error lines) never shows a token."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from streams.embedded import free_port

pytestmark = pytest.mark.slow


def _wait_health(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, f"api exited:\n{log.read_text()}"
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"api did not start:\n{log.read_text()}"
        time.sleep(0.2)


def test_api_log_shows_no_token(
    services_env: dict[str, str], read_token: str, tmp_path: Path
) -> None:
    port = free_port("127.0.0.1")
    log = tmp_path / "api.log"
    with log.open("wb") as out:  # DEBUG: the websocket library logs each handshake's headers
        proc = subprocess.Popen([sys.executable, "-m", "streams", "api", "--port", str(port)],
                                env={**services_env, "NAUTILUS_LOG_LEVEL": "DEBUG"},
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_health(base, proc, log)
        # a browser's websocket carries the token in the URL; a careless client may do the same
        with connect(f"ws://127.0.0.1:{port}/api/v1/stream/logic.vpin?token={read_token}"):
            pass
        with connect(f"ws://127.0.0.1:{port}/api/v1/stream/no.such.topic?token={read_token}"):
            pass
        with connect(f"ws://127.0.0.1:{port}/api/v1/stream/logic.vpin",
                     additional_headers={"Authorization": f"Bearer {read_token}"}):
            pass
        symbols = httpx.get(f"{base}/api/v1/symbols?token={read_token}",
                            headers={"Authorization": f"Bearer {read_token}"}, timeout=10)
        bad = httpx.get(f"{base}/api/v1/symbols", params={"token": read_token, "limit": "x"},
                        timeout=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)

    text = log.read_text()
    assert symbols.status_code == 200 and bad.status_code == 401
    assert "WebSocket /api/v1/stream/logic.vpin?token=" in text  # the lines are there...
    assert "GET /api/v1/symbols?token=" in text
    secret = read_token.split("_", 2)[2]  # nst_<id>_<secret>; the secret may hold "_"
    assert read_token not in text and secret not in text  # ...without the token
