"""The ib_async binding: contracts from instruments, and an IB client that hands the feed
what TWS sends, as TWS sends it.

ib_async's own `Ticker` objects stamp tick-by-tick data with the time the packet arrived and
drop the venue time IB sent, and keep depth by row position without IB's shifting rows (an
insert overwrites, a delete leaves a gap). `FeedIB` makes every data request itself and
installs a wrapper that hands each tick-by-tick update (with its venue time and attributes),
each depth row operation and each reqMktData price or size to a `TickListener`, bypassing
ib_async's tickers; and it tells the listener when a network packet starts and ends, so a
burst of updates gives one book or quote rather than one per row.

ib_async answers IB's 1102 ("connectivity restored") with reqAccountSummary("All"), never
cancelled: refused for accounts with more than 50 subaccounts and a subscription a market-data
client does not need. `FeedIB` does not.
"""

from __future__ import annotations

from typing import Protocol

from ib_async import IB, Client, Contract, Forex, Future, Stock, Wrapper
from ib_async.objects import TickAttribBidAsk, TickAttribLast

from streams.feeds.ibkr.instruments import Instrument


class TickListener(Protocol):
    """What the feed hears from the wire, in the event loop's thread."""

    def on_packet(self) -> None:
        """A network packet arrived (ticks, heartbeat replies, anything)."""

    def on_packet_end(self) -> None:
        """Every message of the packet has been handled."""

    def on_last(self, req_id: int, time_s: int, price: float, size: float, unreported: bool,
                exchange: str, conditions: str) -> None:
        """An AllLast tick-by-tick print with its venue time in seconds."""

    def on_bid_ask(self, req_id: int, time_s: int, bid: float, ask: float, bid_size: float,
                   ask_size: float) -> None:
        """A BidAsk tick-by-tick update with its venue time in seconds."""

    def on_depth_row(self, req_id: int, position: int, market_maker: str, operation: int,
                     side: int, price: float, size: float) -> None:
        """One depth row operation (0 insert, 1 update, 2 delete; side 1 bid, 0 ask)."""

    def on_tick_price(self, req_id: int, tick_type: int, price: float, size: float) -> None:
        """A reqMktData price with its size (tick type 1 bid, 2 ask, ...)."""

    def on_tick_size(self, req_id: int, tick_type: int, size: float) -> None:
        """A reqMktData size alone (tick type 0 bid size, 3 ask size, ...)."""


def to_contract(inst: Instrument) -> Contract:
    """A fresh, unqualified ib_async contract for the instrument."""
    if inst.kind == "stock":
        return Stock(inst.symbol, inst.exchange, inst.currency,
                     primaryExchange=inst.primary_exchange)
    if inst.kind == "future":
        return Future(inst.symbol, inst.expiry, inst.exchange, localSymbol=inst.local_symbol,
                      multiplier=inst.multiplier, currency=inst.currency,
                      tradingClass=inst.trading_class)
    return Forex(pair=inst.symbol + inst.currency, exchange=inst.exchange)


class _FeedWrapper(Wrapper):
    def __init__(self, ib: IB, listener: TickListener) -> None:
        self._listener = listener
        super().__init__(ib)

    # Method names and signatures are ib_async's. Data callbacks do not call super(): the
    # requests are the feed's own, ib_async holds no ticker for them.
    def tcpDataArrived(self) -> None:
        super().tcpDataArrived()
        self._listener.on_packet()

    def tcpDataProcessed(self) -> None:
        self._listener.on_packet_end()
        super().tcpDataProcessed()

    def tickByTickAllLast(
        self, reqId: int, tickType: int, time: int, price: float, size: float,
        tickAttribLast: TickAttribLast, exchange: str, specialConditions: str,
    ) -> None:
        self._listener.on_last(reqId, time, price, size, tickAttribLast.unreported, exchange,
                               specialConditions)

    def tickByTickBidAsk(
        self, reqId: int, time: int, bidPrice: float, askPrice: float,
        bidSize: float, askSize: float, tickAttribBidAsk: TickAttribBidAsk,
    ) -> None:
        self._listener.on_bid_ask(reqId, time, bidPrice, askPrice, bidSize, askSize)

    def updateMktDepthL2(
        self, reqId: int, position: int, marketMaker: str, operation: int,
        side: int, price: float, size: float, isSmartDepth: bool = False,
    ) -> None:
        self._listener.on_depth_row(reqId, position, marketMaker, operation, side, price, size)

    def priceSizeTick(self, reqId: int, tickType: int, price: float, size: float) -> None:
        self._listener.on_tick_price(reqId, tickType, price, size)

    def tickSize(self, reqId: int, tickType: int, size: float) -> None:
        self._listener.on_tick_size(reqId, tickType, size)


class FeedIB(IB):
    """ib_async's IB with the feed's wrapper installed, and its own data requests."""

    def __init__(self, listener: TickListener) -> None:
        super().__init__()
        self.errorEvent -= self._onError  # no reqAccountSummary on 1102
        self.wrapper = _FeedWrapper(self, listener)
        self.client = Client(self.wrapper)
        self.client.apiEnd += self.disconnectedEvent

    def request_tick_by_tick(self, contract: Contract, tick_type: str) -> int:
        req_id = self.client.getReqId()
        self.client.reqTickByTickData(req_id, contract, tick_type, 0, False)
        return req_id

    def request_depth(self, contract: Contract, rows: int, smart: bool) -> int:
        req_id = self.client.getReqId()
        self.client.reqMktDepth(req_id, contract, rows, smart, [])
        return req_id

    def request_market_data(self, contract: Contract) -> int:
        """reqMktData with IB's default ticks: bid, ask and their sizes among them."""
        req_id = self.client.getReqId()
        self.client.reqMktData(req_id, contract, "", False, False, [])
        return req_id
