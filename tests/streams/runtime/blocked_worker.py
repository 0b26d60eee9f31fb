"""A worker whose batch handler never returns: a genuine stall, as an engine stuck on its
first batch would cause, for Faust's monitor to report.

Run as `python -m tests.streams.runtime.blocked_worker BROKERS TOPIC APP_ID DATADIR`; it logs
"handler blocked" once the first batch reached the handler. Faust's own settings (e.g.
STREAM_PROCESSING_TIMEOUT) come from the environment.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import faust

from streams.runtime.batching import BatchingApp

log = logging.getLogger("blocked_worker")


def main(brokers: str, topic: str, app_id: str, datadir: str) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = BatchingApp(
        app_id, broker=f"kafka://{brokers}", store="memory://", datadir=datadir,
        key_serializer="raw", value_serializer="raw", topic_replication_factor=1,
        consumer_auto_offset_reset="earliest", web_enabled=False, fetch_max_wait_ms=100,
        # the worker's group timeouts (NAUTILUS_SESSION_TIMEOUT_MS's default): with Faust's
        # (60 s) the broker holds the first join for 30 s
        broker_session_timeout=6, broker_rebalance_timeout=6, broker_heartbeat_interval=2,
    )

    async def never_returns(name: str, records: list[object]) -> None:
        log.info("handler blocked topic=%s records=%d", name, len(records))
        await asyncio.Event().wait()

    app.subscribe_batches(app.topic(topic, key_serializer="raw", value_serializer="raw"),
                          never_returns)
    faust.Worker(app, loglevel="INFO", override_logging=False, quiet=True
                 ).execute_from_commandline()


if __name__ == "__main__":
    main(*sys.argv[1:5])
