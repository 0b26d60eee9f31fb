"""`/api/v1/stream/{topic}`: a websocket with every record published to a topic from now on.

Streamable: the catalog's `logic.*` topics and `market.bars.1m`. `?symbol=X` keeps the
records keyed by X (topics keyed by symbol only). Auth: a read-scope token as
`Authorization: Bearer ...` or `?token=...` (browsers cannot set websocket headers).
Each message is one JSON text: `{"topic", "partition", "offset", "key", "value"}`.

Close codes: 1008 (policy) before the handshake completes for a missing or insufficient
token, an unknown or unstreamable topic, or a symbol filter on a topic not keyed by symbol;
1013 (try again later) when the client fell more than NAUTILUS_API_STREAM_QUEUE messages
behind: its backlog is dropped and the close frame follows the message in flight (a client
that takes nothing for 10 s more is cut off without one); 1011 if the broker is not set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from api import metrics
from api.auth import websocket_scope_ok
from api.deps import PoolDep, SettingsDep
from api.live import Client
from streams import endpoints
from streams.catalog import Catalog
from streams.exceptions import ConfigError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1", tags=["stream"])
CLOSE_POLICY, CLOSE_ERROR, CLOSE_TOO_SLOW = 1008, 1011, 1013
CLOSE_GRACE_S = 10.0


def streamable(topic: str) -> bool:
    return topic.startswith("logic.") or topic == "market.bars.1m"


@router.websocket("/stream/{topic}")
async def stream(
    websocket: WebSocket, topic: str, settings: SettingsDep, pool: PoolDep,
    symbol: str | None = None,
) -> None:
    """Records of `topic` produced after the connection, optionally for one symbol."""
    if not await websocket_scope_ok(websocket, "read", pool, settings.api_token_cache_ms):
        await websocket.close(CLOSE_POLICY, "a token with the read scope is required")
        return
    spec = Catalog.load(settings.topics_file).get(topic)
    if spec is None or not streamable(topic):
        await websocket.close(CLOSE_POLICY, f"{topic!r} cannot be streamed: logic.* topics "
                                            "and market.bars.1m can")
        return
    if symbol is not None and spec.key != "symbol":
        await websocket.close(CLOSE_POLICY, f"{topic} is keyed by {spec.key}, not symbol")
        return
    try:
        brokers = endpoints.kafka_brokers(settings)
    except ConfigError:
        await websocket.close(CLOSE_ERROR, "the broker is not configured")
        return
    client = Client(symbol.encode() if symbol else None, asyncio.Queue(settings.api_stream_queue))
    hub = websocket.app.state.live
    feed = await hub.join(brokers, topic, client)  # reading from the end before we accept
    metrics.STREAM_CLIENTS.inc()
    try:
        await websocket.accept()
        await _pump(websocket, client)
    finally:
        metrics.STREAM_CLIENTS.dec()
        await hub.leave(feed, client)


async def _pump(websocket: WebSocket, client: Client) -> None:
    """Send queued messages until the client leaves or is dropped. A dropped client gets its
    close frame after the message in flight; one that does not take even that within
    CLOSE_GRACE_S is cut off (abnormal closure)."""
    sender = asyncio.create_task(_send(websocket, client.queue))
    tasks = {sender, asyncio.create_task(_until_disconnect(websocket)),
             asyncio.create_task(_grace_after_drop(client))}
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _send(websocket: WebSocket, queue: asyncio.Queue[str | None]) -> None:
    while (message := await queue.get()) is not None:
        await websocket.send_text(message)
    await websocket.close(CLOSE_TOO_SLOW, "too slow: fell behind the stream")


async def _grace_after_drop(client: Client) -> None:
    await client.dropping.wait()
    await asyncio.sleep(CLOSE_GRACE_S)


async def _until_disconnect(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()  # clients need not send; this notices them leave
