"""The ib_async binding: contracts from instruments, and an IB client that keeps venue times.

ib_async's own `Ticker` objects stamp tick-by-tick data with the time the packet arrived and
drop the venue time IB sent. `FeedIB` installs a wrapper that hands every tick-by-tick
update, with its venue time, to a `TickListener` (after ib_async has handled it as usual),
and every changed depth book once per network packet, so a burst of depth updates gives one
snapshot rather than one per row.
"""

from __future__ import annotations

from typing import Protocol

from ib_async import IB, Client, Contract, Forex, Future, Stock, Ticker, Wrapper
from ib_async.objects import DOMLevel, TickAttribBidAsk, TickAttribLast

from streams.feeds.ibkr.instruments import Instrument


class TickListener(Protocol):
    """What the feed hears from the wire, in the event loop's thread."""

    def on_packet(self) -> None:
        """Any data arrived (ticks, heartbeat replies, anything)."""

    def on_last(self, req_id: int, time_s: int, price: float, size: float,
                exchange: str) -> None:
        """An AllLast tick-by-tick print with its venue time in seconds."""

    def on_bid_ask(self, req_id: int, time_s: int, bid: float, ask: float, bid_size: float,
                   ask_size: float) -> None:
        """A BidAsk tick-by-tick update with its venue time in seconds."""

    def on_depth(self, req_id: int, bids: list[DOMLevel], asks: list[DOMLevel]) -> None:
        """The depth book of a subscription changed; rows best first."""


def to_contract(inst: Instrument) -> Contract:
    """A fresh, unqualified ib_async contract for the instrument."""
    if inst.kind == "stock":
        return Stock(inst.symbol, inst.exchange, inst.currency,
                     primaryExchange=inst.primary_exchange)
    if inst.kind == "future":
        return Future(inst.symbol, inst.expiry, inst.exchange, localSymbol=inst.local_symbol,
                      currency=inst.currency)
    return Forex(pair=inst.symbol + inst.currency, exchange=inst.exchange)


class _FeedWrapper(Wrapper):
    def __init__(self, ib: IB, listener: TickListener) -> None:
        self._listener = listener
        self._depth_changed: set[int] = set()
        super().__init__(ib)

    # Method names and signatures are ib_async's.
    def tcpDataArrived(self) -> None:
        super().tcpDataArrived()
        self._listener.on_packet()

    def tcpDataProcessed(self) -> None:
        for req_id in sorted(self._depth_changed):
            ticker = self.reqId2Ticker.get(req_id)
            if ticker is not None:
                self._listener.on_depth(req_id, ticker.domBids, ticker.domAsks)
        self._depth_changed.clear()
        super().tcpDataProcessed()

    def tickByTickAllLast(
        self, reqId: int, tickType: int, time: int, price: float, size: float,
        tickAttribLast: TickAttribLast, exchange: str, specialConditions: str,
    ) -> None:
        super().tickByTickAllLast(reqId, tickType, time, price, size, tickAttribLast, exchange,
                                  specialConditions)
        self._listener.on_last(reqId, time, price, size, exchange)

    def tickByTickBidAsk(
        self, reqId: int, time: int, bidPrice: float, askPrice: float,
        bidSize: float, askSize: float, tickAttribBidAsk: TickAttribBidAsk,
    ) -> None:
        super().tickByTickBidAsk(reqId, time, bidPrice, askPrice, bidSize, askSize,
                                 tickAttribBidAsk)
        self._listener.on_bid_ask(reqId, time, bidPrice, askPrice, bidSize, askSize)

    def updateMktDepthL2(
        self, reqId: int, position: int, marketMaker: str, operation: int,
        side: int, price: float, size: float, isSmartDepth: bool = False,
    ) -> None:
        super().updateMktDepthL2(reqId, position, marketMaker, operation, side, price, size,
                                 isSmartDepth)
        self._depth_changed.add(reqId)


class FeedIB(IB):
    """ib_async's IB with the venue-time wrapper installed (same API otherwise)."""

    def __init__(self, listener: TickListener) -> None:
        super().__init__()
        self.wrapper = _FeedWrapper(self, listener)
        self.client = Client(self.wrapper)
        self.client.apiEnd += self.disconnectedEvent

    def req_id(self, ticker: Ticker, tick_type: str) -> int:
        """The request id ib_async gave the subscription of `tick_type` on `ticker`."""
        return self.wrapper.ticker2ReqId[tick_type][ticker]
