"""The live websocket on the real broker: records after connecting, the symbol filter, auth,
unknown topics, and a slow client dropped while a fast one keeps receiving."""

from __future__ import annotations

import base64
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import connect

from api import metrics
from api.deps import app_settings
from api.main import app
from streams import codec, kafka
from streams.embedded import free_port
from streams.settings import Settings
from tests.api.data import unique_symbol
from tests.factories import T0, event


def publish(brokers: str, *readings) -> None:  # type: ignore[no-untyped-def]
    producer = kafka.producer(brokers)
    for r in readings:
        producer.produce("logic.vpin", key=r.symbol.encode(), value=codec.encode(r))
        producer.poll(0)
    assert producer.flush(10) == 0


def reading(symbol: str, bucket: int):  # type: ignore[no-untyped-def]
    return event("VpinReading", symbol=symbol, bucket=bucket, ts_event=T0 + bucket)


def test_client_gets_records_produced_after_it_connected_for_its_symbol(
    api_client: TestClient, read_token: str, kafka_brokers: str
) -> None:
    mine, other = unique_symbol("W"), unique_symbol("W")
    # Before the client, in one batch: the embedded broker reports the end of the log as that
    # batch's base offset + 1, so starting at its "latest" would replay buckets 2 and 3.
    publish(kafka_brokers, reading(mine, 1), reading(mine, 2), reading(mine, 3))

    url = f"/api/v1/stream/logic.vpin?symbol={mine}&token={read_token}"
    with api_client.websocket_connect(url) as ws:
        publish(kafka_brokers, reading(other, 4), reading(mine, 5), reading(mine, 6))
        got = [ws.receive_json(), ws.receive_json()]

    assert [(m["value"]["symbol"], m["value"]["bucket"]) for m in got] == [(mine, 5), (mine, 6)]
    assert got[0]["topic"] == "logic.vpin" and got[0]["key"] == mine
    assert isinstance(got[0]["offset"], int) and isinstance(got[0]["partition"], int)


def test_a_client_joining_a_running_feed_gets_only_later_records(
    api_client: TestClient, read_headers: dict, kafka_brokers: str
) -> None:
    a, b = unique_symbol("J"), unique_symbol("J")
    path = "/api/v1/stream/logic.vpin"
    with api_client.websocket_connect(path, headers=read_headers) as first:
        publish(kafka_brokers, reading(a, 1), reading(b, 2))
        seen_first = {first.receive_json()["value"]["bucket"] for _ in range(2)}
        with api_client.websocket_connect(path, headers=read_headers) as second:
            publish(kafka_brokers, reading(b, 3))
            got = second.receive_json()
            also_first = first.receive_json()

    assert seen_first == {1, 2}
    assert (got["value"]["symbol"], got["value"]["bucket"]) == (b, 3)
    assert also_first == got


@pytest.mark.parametrize(("path", "reason"), [
    ("/api/v1/stream/logic.vpin", "token"),
    ("/api/v1/stream/logic.vpin?token=nst_not-a-token", "token"),
    ("/api/v1/stream/market.trades?token={t}", "cannot be streamed"),
    ("/api/v1/stream/no.such.topic?token={t}", "cannot be streamed"),
    ("/api/v1/stream/" + "x" * 500 + "?token={t}", "cannot be streamed"),
    ("/api/v1/stream/logic.engine.health?symbol=X&token={t}", "keyed by engine"),
    ("/api/v1/stream/logic.vpin?symbol=&token={t}", "empty"),
])
def test_refused_connections_close_with_policy_violation(
    api_client: TestClient, read_token: str, path: str, reason: str
) -> None:
    with pytest.raises(WebSocketDisconnect) as refused, \
            api_client.websocket_connect(path.format(t=read_token)) as ws:
        ws.receive_text()

    assert refused.value.code == 1008 and reason in refused.value.reason


def test_a_failed_feed_closes_its_clients_with_internal_error(
    api_client: TestClient, read_headers: dict, api_settings: Settings
) -> None:
    nowhere = api_settings.model_copy(update={"kafka_brokers": f"127.0.0.1:{free_port()}"})
    app.dependency_overrides[app_settings] = lambda: nowhere
    failed_before = metrics.STREAM_DROPPED.labels("failed")._value.get()

    with pytest.raises(WebSocketDisconnect) as closed, \
            api_client.websocket_connect("/api/v1/stream/logic.vpin", headers=read_headers) as ws:
        ws.receive_text()

    assert closed.value.code == 1011 and "feed failed" in closed.value.reason
    assert metrics.STREAM_DROPPED.labels("failed")._value.get() == failed_before + 1


def test_without_the_database_the_token_cannot_be_checked(
    api_client: TestClient, read_headers: dict, api_settings: Settings, tmp_path: Path
) -> None:
    broken = api_settings.model_copy(update={
        "database_url": SecretStr(f"postgresql://u:pw@/db?host={tmp_path}&connect_timeout=1")})
    app.dependency_overrides[app_settings] = lambda: broken

    with pytest.raises(WebSocketDisconnect) as closed, \
            api_client.websocket_connect("/api/v1/stream/logic.vpin", headers=read_headers) as ws:
        ws.receive_text()

    assert closed.value.code == 1011 and "database" in closed.value.reason
    assert str(tmp_path) not in closed.value.reason


@pytest.fixture
def live_server(api_settings: Settings) -> Iterator[str]:
    """The app served by a real uvicorn on a free port (a slow client needs real sockets)."""
    settings = api_settings.model_copy(update={"api_stream_queue": 1_000})
    app.dependency_overrides[app_settings] = lambda: settings
    port = free_port("127.0.0.1")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           ws_max_queue=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        app.dependency_overrides.clear()


def test_a_real_client_sees_the_refusal_code_and_reason(live_server: str) -> None:
    with connect(live_server + "/api/v1/stream/logic.vpin") as ws, \
            pytest.raises(ConnectionClosedError) as closed:
        ws.recv(timeout=10)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008 and "read scope" in closed.value.rcvd.reason


def test_a_slow_client_is_dropped_and_a_fast_one_keeps_receiving(
    live_server: str, read_token: str, kafka_brokers: str
) -> None:
    symbol = unique_symbol("S")
    path = f"/api/v1/stream/logic.vpin?symbol={symbol}&token={read_token}"
    total, received, frames = 40_000, [0], []
    dropped = metrics.STREAM_DROPPED.labels("slow")
    dropped_before = dropped._value.get()
    slow = raw_websocket(live_server, path)  # reads nothing until it is dropped

    def read_slow_once_dropped() -> None:
        deadline = time.monotonic() + 60
        while dropped._value.get() == dropped_before and time.monotonic() < deadline:
            time.sleep(0.01)
        frames.extend(read_frames(slow))  # what was in flight, then the close frame

    with connect(live_server + path) as fast:

        def read_fast() -> None:
            while received[0] < total:
                fast.recv(timeout=30)
                received[0] += 1

        readers = [threading.Thread(target=read_fast),
                   threading.Thread(target=read_slow_once_dropped)]
        for reader in readers:
            reader.start()
        for start in range(0, total, 2_000):
            publish(kafka_brokers, *(reading(symbol, b) for b in range(start, start + 2_000)))
        for reader in readers:
            reader.join(60)

    assert received[0] == total  # the fast client got every record
    opcode, payload = frames[-1]
    assert opcode == 0x8 and struct.unpack("!H", payload[:2])[0] == 1013  # close: too slow
    assert 0 < sum(1 for op, _ in frames if op == 0x1) < total
    assert dropped._value.get() == dropped_before + 1


def raw_websocket(base: str, path: str) -> socket.socket:
    """A websocket handshake on a socket with a small receive buffer, then nothing read."""
    host, port = base.removeprefix("ws://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += sock.recv(1)  # byte by byte: leave the frames after it unread
    assert head.split(b"\r\n")[0].split()[1] == b"101", head
    return sock


def read_frames(sock: socket.socket) -> list[tuple[int, bytes]]:
    """Every frame (opcode, payload) until the server closes the connection (RFC 6455 5.2)."""
    sock.settimeout(30)
    data = b""
    while chunk := sock.recv(1 << 20):
        data += chunk
    sock.close()
    frames, i = [], 0
    while i + 2 <= len(data):
        opcode, length, i = data[i] & 0x0F, data[i + 1] & 0x7F, i + 2
        if length == 126:
            length, i = struct.unpack("!H", data[i:i + 2])[0], i + 2
        elif length == 127:
            length, i = struct.unpack("!Q", data[i:i + 8])[0], i + 8
        frames.append((opcode, data[i:i + length]))
        i += length
    return frames
