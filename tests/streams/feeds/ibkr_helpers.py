"""What the IBKR feed tests share: a publisher that keeps what it gets, a fake TWS per test, a
running feed, unique names (tests share the broker's topics)."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import string
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from streams.clock import Clock
from streams.feeds import MarketEvent
from streams.feeds.ibkr import IbkrConfig, IbkrFeed
from streams.feeds.ibkr.instruments import Instrument
from streams.feeds.ibkr.publisher import FeedPublisher
from streams.schema import Alert, DepthSnapshot, Event, Quote, Trade
from tests.streams.feeds.fake_tws import FakeTws

T_S = 1_700_000_000  # a venue time, in IB's whole seconds
T_NS = T_S * 1_000_000_000
# IB's 15 s between tick-by-tick requests would hold every reconnect test for 15 s, and tests
# that move a TestClock on would see every subscription go stale; the tests of those rules
# set them.
FAST = IbkrConfig(heartbeat_s=0.2, stall_timeout_s=1.0, reconnect_min_s=0.05, reconnect_max_s=0.3,
                  health_interval_s=0.2, connect_timeout_s=5.0, tick_by_tick_gap_s=0.0,
                  stale_after_s=0.0)
ALL_DATA = {"AllLast", "BidAsk", "depth"}


def unique(prefix: str = "Z") -> str:
    return prefix + uuid.uuid4().hex[:7].upper()


def unique_currency() -> str:
    return "".join(random.choices(string.ascii_uppercase, k=3))


class ListPublisher:
    """A FeedPublisher that keeps what it is given, for tests that need no broker."""

    def __init__(self) -> None:
        self.market_events: list[MarketEvent] = []
        self.controls: list[tuple[str, str, Event]] = []
        self.error: BaseException | None = None
        self.dropped = 0

    def market(self, event: MarketEvent) -> None:
        self.market_events.append(event)

    def control(self, topic: str, key: str, event: Event) -> None:
        self.controls.append((topic, key, event))

    def alerts(self) -> list[Alert]:
        return [e for t, _, e in self.controls if isinstance(e, Alert)]

    def trades(self) -> list[Trade]:
        return [e for e in self.market_events if isinstance(e, Trade)]

    def quotes(self) -> list[Quote]:
        return [e for e in self.market_events if isinstance(e, Quote)]

    def books(self) -> list[DepthSnapshot]:
        return [e for e in self.market_events if isinstance(e, DepthSnapshot)]


@asynccontextmanager
async def fake_tws(**limits: int) -> AsyncIterator[FakeTws]:
    server = FakeTws(**limits)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@asynccontextmanager
async def running(feed: IbkrFeed) -> AsyncIterator[IbkrFeed]:
    stop = asyncio.Event()
    task = asyncio.create_task(feed.run(stop))
    try:
        yield feed
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


def make_feed(tws: FakeTws, instruments: list[Instrument], publisher: FeedPublisher,
              clock: Clock | None = None, **config: Any) -> IbkrFeed:
    client_id = config.pop("client_id", None) or random.randrange(100, 1_000_000)
    settings = dataclasses.replace(FAST, port=tws.port, client_id=client_id, **config)
    return IbkrFeed(instruments, settings, publisher, clock=clock, rng=random.Random(client_id))
