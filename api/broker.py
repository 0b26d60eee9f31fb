"""The log as `/api/v1/topics` and `/metrics` report it: one `LogView` (long-lived broker
clients) per broker for the app's lifetime, and each snapshot reused for
NAUTILUS_API_BROKER_CACHE_MS.

Looks at the broker run one at a time off the event loop; a request that arrives while one is
in flight waits for it and takes its answer instead of starting another, so a burst of
scrapes and dashboard polls costs the broker one look per cache period. A failed look drops
its clients; the next request starts new ones.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from confluent_kafka import KafkaException

from streams import endpoints
from streams.catalog import Catalog
from streams.exceptions import NautilusError
from streams.logview import LogSnapshot, LogView
from streams.settings import Settings

_Key = tuple[str, str, tuple[str, ...]]


class LogSnapshots:
    """Snapshots of the log per (broker, catalog, consumer groups), each reused for the
    configured cache time."""

    def __init__(self) -> None:
        self.views: dict[str, LogView] = {}  # broker -> its clients
        self._snapshots: dict[_Key, tuple[float, LogSnapshot]] = {}
        self._lock = asyncio.Lock()

    async def get(self, settings: Settings) -> LogSnapshot:
        """The newest snapshot, taken now unless one is younger than the cache time."""
        brokers = endpoints.kafka_brokers(settings)
        key = (brokers, str(settings.topics_file), (settings.app_id, settings.sink_group))
        async with self._lock:
            taken = self._snapshots.get(key)
            if taken and time.monotonic() - taken[0] < settings.api_broker_cache_ms / 1000:
                return taken[1]
            snapshot = await asyncio.to_thread(self._look, key)
            self._snapshots[key] = (time.monotonic(), snapshot)
            return snapshot

    def _look(self, key: _Key) -> LogSnapshot:
        brokers, topics_file, groups = key
        catalog = Catalog.load(Path(topics_file))
        view = self.views.get(brokers)
        if view is None:
            view = self.views[brokers] = LogView(brokers)
        try:
            return view.snapshot(catalog, list(groups))
        except (NautilusError, KafkaException):
            del self.views[brokers]
            raise

    def close(self) -> None:
        self.views.clear()
