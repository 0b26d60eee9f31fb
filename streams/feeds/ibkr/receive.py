"""What arrives on the wire, turned into market events (the `TickListener` of `FeedIB`).

Each message is stamped with its arrival on the feed's clock (strictly increasing), which
becomes the event's ts_init. Tick-by-tick trades and quotes go out as they come, with IB's
venue second as ts_event. Depth rows change their subscription's book and reqMktData ticks its
top of book; at the end of the network packet each changed book or quote goes out once,
stamped (ts_event and ts_init) with the arrival of its last change, so a quote that arrived
after a book change in the same packet is stamped later. Data of a subscription also tells the
outages that its symbol is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from streams.feeds import MarketEvent
from streams.feeds.ibkr.mapping import NS_PER_S, quote_from_top, trade_from_last
from streams.feeds.ibkr.outages import Outages
from streams.feeds.ibkr.publisher import FeedPublisher
from streams.feeds.ibkr.state import FeedCounters, Subscription
from streams.feeds.ibkr.subscriptions import Subscriptions
from streams.schema import DepthSnapshot, Quote, Trade

# reqMktData sends IB's default ticks; only bid, ask and their sizes make the quote (last
# price, volume, high / low and the rest are not looked at).
PRICE_TICKS = {1: "bid", 2: "ask"}  # price, with its size
SIZE_TICKS = {0: "bid_size", 3: "ask_size"}  # size alone


class Receiver:
    """Market data of the feed's subscriptions, out through `publisher`."""

    def __init__(self, subs: Subscriptions, outages: Outages, counters: FeedCounters,
                 publisher: FeedPublisher, stamp: Callable[[], int], depth_rows: int) -> None:
        self._subs = subs
        self._outages = outages
        self._counters = counters
        self._publisher = publisher
        self._stamp = stamp
        self._depth_rows = depth_rows
        self._changed: dict[int, Subscription] = {}  # books / quotes changed in this packet
        self.last_rx = time.monotonic()  # when anything last arrived

    def on_packet(self) -> None:
        self.last_rx = time.monotonic()

    def on_packet_end(self) -> None:
        for sub in self._changed.values():
            at, sub.changed_ns = sub.changed_ns, None
            if at is None:
                continue
            if sub.book is not None:
                self._emit(sub.book.snapshot(sub.symbol, self._depth_rows, sub.venue, at, at))
            elif sub.top is not None:
                top = sub.top
                self._emit(quote_from_top(sub.symbol, at, top.bid, top.ask, top.bid_size,
                                          top.ask_size, sub.venue, at))
        self._changed.clear()

    def on_last(self, req_id: int, time_s: int, price: float, size: float, unreported: bool,
                exchange: str, conditions: str) -> None:
        sub, at = self._arrived(req_id)
        if sub is not None:
            self._emit(trade_from_last(sub.symbol, time_s, price, size, exchange or sub.venue,
                                       at, unreported=unreported, conditions=conditions))

    def on_bid_ask(self, req_id: int, time_s: int, bid: float, ask: float, bid_size: float,
                   ask_size: float) -> None:
        sub, at = self._arrived(req_id)
        if sub is not None:
            self._emit(quote_from_top(sub.symbol, time_s * NS_PER_S, bid, ask, bid_size,
                                      ask_size, sub.venue, at))

    def on_depth_row(self, req_id: int, position: int, market_maker: str, operation: int,
                     side: int, price: float, size: float) -> None:
        sub, at = self._arrived(req_id)
        if sub is None or sub.book is None:
            return
        if not sub.book.apply(position, operation, side, price, size, market_maker):
            self._counters.depth_misses += 1
        self._touch(sub, at)

    def on_tick_price(self, req_id: int, tick_type: int, price: float, size: float) -> None:
        if tick_type in PRICE_TICKS:
            name = PRICE_TICKS[tick_type]
            self._top_changed(req_id, {name: price, f"{name}_size": size})

    def on_tick_size(self, req_id: int, tick_type: int, size: float) -> None:
        if tick_type in SIZE_TICKS:
            self._top_changed(req_id, {SIZE_TICKS[tick_type]: size})

    def reset_book(self, sub: Subscription) -> None:
        """IB's 317: the book was reset; rows to rebuild it follow."""
        if sub.book is not None:
            sub.book.clear()
            self._touch(sub, self._stamp())

    def end_session(self) -> None:
        self._changed.clear()

    def _touch(self, sub: Subscription, at: int) -> None:
        sub.changed_ns = at
        self._changed[id(sub)] = sub

    def _top_changed(self, req_id: int, values: dict[str, float]) -> None:
        sub, at = self._arrived(req_id)
        if sub is not None and sub.top is not None:
            for name, value in values.items():
                setattr(sub.top, name, value)
            self._touch(sub, at)

    def _arrived(self, req_id: int) -> tuple[Subscription | None, int]:
        """Data for `req_id` arrived now: the subscription (None: not ours) and the stamp."""
        sub = self._subs.by_req.get(req_id)
        if sub is None:
            return None, 0
        at = self._stamp()
        self._counters.ticks_in += 1
        sub.last_data_ns = at
        if sub.refused:  # data on a retried subscription: IB accepted it
            sub.refused = None
        self._outages.data_arrived(sub.symbol, (sub.stale_key,), at)
        return sub, at

    def _emit(self, event: MarketEvent | None) -> None:
        c = self._counters
        if event is None:
            c.skipped += 1
            return
        self._publisher.market(event)
        if isinstance(event, Trade):
            c.trades += 1
        elif isinstance(event, Quote):
            c.quotes += 1
        elif isinstance(event, DepthSnapshot):
            c.depth += 1
        c.last_event_ts = event.ts_event
