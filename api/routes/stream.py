"""`/api/v1/stream/{topic}`: a websocket with every record published to a topic from now on.

Streamable: the catalog's `logic.*` topics and `market.bars.1m`. `?symbol=X` keeps the
records keyed by X (topics keyed by symbol only). Auth: a read-scope token as
`Authorization: Bearer ...` or `?token=...` (browsers cannot set websocket headers).
Each message is one JSON text: `{"topic", "partition", "offset", "key", "value"}`, `value`
being the record as on the wire. Clients need not send anything.

Close codes (a refused connection is accepted, then closed at once, so that every client,
browsers included, sees the code and the reason):
- 1008 policy violation: no token, an unknown, revoked or expired one, or one without the
  read scope; a topic that is not in the catalog or not streamable; an empty `symbol`, or one
  on a topic not keyed by symbol.
- 1013 try again later: the client fell more than NAUTILUS_API_STREAM_QUEUE messages behind.
  Its backlog is dropped and the close frame follows the message in flight; a client that
  takes nothing for CLOSE_GRACE_S more is cut off without one.
- 1011 internal error: the database is down (the token cannot be checked), the broker is not
  configured, or the topic's live feed failed (broker unreachable, topic missing on it).
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
from fastapi import APIRouter, WebSocket
from psycopg_pool import PoolTimeout

from api import metrics
from api.auth import websocket_scope_ok
from api.deps import SettingsDep
from api.live import CLOSE_FAILED, Client
from streams import endpoints
from streams.catalog import Catalog
from streams.exceptions import ConfigError
from streams.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["stream"])
CLOSE_POLICY = 1008
CLOSE_GRACE_S = 10.0
REASON_MAX_BYTES = 123  # RFC 6455: a close frame's reason fits in 123 bytes


def streamable(topic: str) -> bool:
    return topic.startswith("logic.") or topic == "market.bars.1m"


@router.websocket("/stream/{topic}")
async def stream(
    websocket: WebSocket, topic: str, settings: SettingsDep, symbol: str | None = None,
) -> None:
    """Records of `topic` produced after the connection, optionally for one symbol."""
    refusal = await _refusal(websocket, topic, symbol, settings)
    if refusal is not None:
        await _close(websocket, *refusal)
        return
    client = Client(symbol.encode() if symbol else None, asyncio.Queue(settings.api_stream_queue))
    hub = websocket.app.state.live
    feed = await hub.join(endpoints.kafka_brokers(settings), topic, client)  # reads from the end
    metrics.STREAM_CLIENTS.inc()
    try:
        await websocket.accept()
        await _pump(websocket, client)
    finally:
        metrics.STREAM_CLIENTS.dec()
        await hub.leave(feed, client)


async def _refusal(
    websocket: WebSocket, topic: str, symbol: str | None, settings: Settings
) -> tuple[int, str] | None:
    """Why the connection is refused (close code, reason), or None."""
    try:
        allowed = await websocket_scope_ok(websocket, "read", settings)
    except (PoolTimeout, psycopg.OperationalError):
        return CLOSE_FAILED, "the database is unavailable: the token cannot be checked"
    if not allowed:
        return CLOSE_POLICY, "a token with the read scope is required"
    spec = Catalog.load(settings.topics_file).get(topic)
    if spec is None or not streamable(topic):
        return CLOSE_POLICY, f"{topic[:40]!r} cannot be streamed: logic.* and market.bars.1m can"
    if symbol == "":
        return CLOSE_POLICY, "symbol must not be empty"
    if symbol is not None and spec.key != "symbol":
        return CLOSE_POLICY, f"{topic} is keyed by {spec.key}, not symbol"
    try:
        endpoints.kafka_brokers(settings)
    except ConfigError:
        return CLOSE_FAILED, "the broker is not configured"
    return None


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    """Accept (so the client sees the code and reason), then close."""
    await websocket.accept()
    await websocket.close(code, reason.encode()[:REASON_MAX_BYTES].decode(errors="ignore"))


async def _pump(websocket: WebSocket, client: Client) -> None:
    """Send queued messages until the client leaves or is dropped. A dropped client gets its
    close frame after the message in flight; one that does not take even that within
    CLOSE_GRACE_S is cut off (abnormal closure)."""
    tasks = {asyncio.create_task(_send(websocket, client)),
             asyncio.create_task(_until_disconnect(websocket)),
             asyncio.create_task(_grace_after_drop(client))}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        # wait, not gather: a cancellation of this task must surface as its own, not as a
        # child's (the server's cancel scope swallows only its own)
        await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log.debug("websocket task ended error=%r", task.exception())


async def _send(websocket: WebSocket, client: Client) -> None:
    while (message := await client.queue.get()) is not None:
        await websocket.send_text(message)
    await websocket.close(client.close_code, client.close_reason)


async def _grace_after_drop(client: Client) -> None:
    await client.dropping.wait()
    await asyncio.sleep(CLOSE_GRACE_S)


async def _until_disconnect(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends until it leaves."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
