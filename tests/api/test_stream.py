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

import pytest
import uvicorn
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
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
    publish(kafka_brokers, reading(mine, 1))  # before the client: never sent

    url = f"/api/v1/stream/logic.vpin?symbol={mine}&token={read_token}"
    with api_client.websocket_connect(url) as ws:
        publish(kafka_brokers, reading(other, 2), reading(mine, 3), reading(mine, 4))
        got = [ws.receive_json(), ws.receive_json()]

    assert [(m["value"]["symbol"], m["value"]["bucket"]) for m in got] == [(mine, 3), (mine, 4)]
    assert got[0]["topic"] == "logic.vpin" and got[0]["key"] == mine
    assert isinstance(got[0]["offset"], int) and isinstance(got[0]["partition"], int)


@pytest.mark.parametrize(("path", "reason"), [
    ("/api/v1/stream/logic.vpin", "token"),
    ("/api/v1/stream/market.trades?token={t}", "cannot be streamed"),
    ("/api/v1/stream/no.such.topic?token={t}", "cannot be streamed"),
    ("/api/v1/stream/logic.engine.health?symbol=X&token={t}", "keyed by engine"),
])
def test_refused_connections_close_with_policy_violation(
    api_client: TestClient, read_token: str, path: str, reason: str
) -> None:
    with pytest.raises(WebSocketDisconnect) as refused, \
            api_client.websocket_connect(path.format(t=read_token)) as ws:
        ws.receive_text()

    assert refused.value.code == 1008 and reason in refused.value.reason


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


def test_a_slow_client_is_dropped_and_a_fast_one_keeps_receiving(
    live_server: str, read_token: str, kafka_brokers: str
) -> None:
    symbol = unique_symbol("S")
    path = f"/api/v1/stream/logic.vpin?symbol={symbol}&token={read_token}"
    total, received = 40_000, [0]
    dropped_before = metrics.STREAM_DROPPED._value.get()
    slow = raw_websocket(live_server, path)  # reads nothing until the end
    with connect(live_server + path) as fast:

        def read_fast() -> None:
            while received[0] < total:
                fast.recv(timeout=30)
                received[0] += 1

        reader = threading.Thread(target=read_fast)
        reader.start()
        for start in range(0, total, 2_000):
            publish(kafka_brokers, *(reading(symbol, b) for b in range(start, start + 2_000)))
        reader.join(60)
        frames = read_frames(slow)  # what was in flight, then the close frame

    assert received[0] == total  # the fast client got every record
    opcode, payload = frames[-1]
    assert opcode == 0x8 and struct.unpack("!H", payload[:2])[0] == 1013  # close: too slow
    assert 0 < sum(1 for op, _ in frames if op == 0x1) < total
    assert metrics.STREAM_DROPPED._value.get() == dropped_before + 1


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
