"""A fake TWS / IB Gateway: an asyncio TCP server speaking enough of the TWS socket protocol
for ib_async to connect to it for real.

Wire format (ib_async's client.py / decoder.py): after the client's `API\\0` + a
length-prefixed version range (`v157..178`), every message either way is a 4-byte big-endian
length and NUL-terminated text fields. The server answers the handshake with its version
and connection time, then serves at `SERVER_VERSION` (176: contract details carry no version
field, errors carry an (empty) advanced-reject field, requests for contract details end with
an issuer id).

Spoken: startApi (71) -> nextValidId (9) + managedAccounts (15); reqCurrentTime (49) ->
currentTime (49); reqPositions (61) -> positionEnd (62); reqContractDetails (9) ->
contractData (10) + contractDataEnd (52), or error 200 for an unknown contract;
reqTickByTickData (97) / cancelTickByTickData (98); reqMktDepth (10) / cancelMktDepth (11).
Pushed on demand: tickByTick (99: AllLast, BidAsk), updateMktDepth (12) and
updateMktDepthL2 (13, smart depth), error (4), e.g. 309 past `max_depth` depth
subscriptions and 10190 past `max_tick_by_tick` tick-by-tick ones per connection, as TWS
does. `drop()` aborts every connection and refuses new ones until `down_s` has passed;
`stall()` leaves connections open but silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

SERVER_VERSION = 176
MIN_CLIENT_VERSION = 157
ACCOUNT = "DU1234567"
NEXT_VALID_ID = 1


def frame(*fields: object) -> bytes:
    """One TWS message: length prefix, then each field as text ending in NUL."""
    payload = "".join(f"{f}\0" for f in fields).encode()
    return struct.pack(">I", len(payload)) + payload


@dataclass(frozen=True, slots=True)
class FakeContract:
    symbol: str
    sec_type: str  # STK, FUT, CASH
    exchange: str
    currency: str
    local_symbol: str
    primary_exchange: str = ""
    expiry: str = ""
    multiplier: str = ""

    @property
    def con_id(self) -> int:
        return zlib.crc32(f"{self.sec_type}:{self.local_symbol}".encode()) % 2**31

    def matches(self, symbol: str, sec_type: str, expiry: str, local_symbol: str) -> bool:
        return (sec_type == self.sec_type
                and (symbol == self.symbol or local_symbol == self.local_symbol)
                and (not expiry or self.expiry.startswith(expiry))
                and (not local_symbol or local_symbol == self.local_symbol))


@dataclass(slots=True)
class Subscription:
    req_id: int
    kind: str  # AllLast, BidAsk, depth
    con_id: int
    smart: bool = False


@dataclass(eq=False, slots=True)
class Session:
    """One client connection."""

    writer: asyncio.StreamWriter
    task: asyncio.Task[None] | None = None
    client_id: int | None = None
    muted: bool = False
    subscriptions: dict[int, Subscription] = field(default_factory=dict)

    def send(self, *fields: object) -> None:
        if not self.muted and not self.writer.is_closing():
            self.writer.write(frame(*fields))

    def count(self, *kinds: str) -> int:
        return sum(s.kind in kinds for s in self.subscriptions.values())


class FakeTws:
    """Start with `await start()`; register contracts with `add_*`; push data with `send_*`."""

    def __init__(self, *, max_depth: int = 3, max_tick_by_tick: int = 3) -> None:
        self.max_depth = max_depth
        self.max_tick_by_tick = max_tick_by_tick
        self.contracts: list[FakeContract] = []
        self.sessions: list[Session] = []  # every connection ever accepted, in order
        self.requests: list[list[str]] = []  # every message received, as fields
        self.port = 0
        self._server: asyncio.Server | None = None
        self._reopen: asyncio.Task[None] | None = None

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._reopen is not None:
            self._reopen.cancel()
        await self._close_server()
        for session in self.sessions:
            session.writer.transport.abort()
        await asyncio.gather(*(s.task for s in self.sessions if s.task is not None))

    async def drop(self, down_s: float) -> None:
        """Abort every connection now; accept new ones again after `down_s`."""
        await self._close_server()
        for session in self.live():
            session.writer.transport.abort()
        self._reopen = asyncio.create_task(self._start_later(down_s))

    def stall(self) -> None:
        """Current connections stay open but nothing more is sent on them."""
        for session in self.live():
            session.muted = True

    async def _start_later(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await self.start()

    async def _close_server(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # ---- what tests use ----------------------------------------------------------------

    def add_stock(self, symbol: str, primary_exchange: str = "NASDAQ") -> FakeContract:
        return self._add(FakeContract(symbol, "STK", "SMART", "USD", symbol, primary_exchange))

    def add_future(self, symbol: str, expiry: str, local_symbol: str,
                   exchange: str = "CME") -> FakeContract:
        return self._add(FakeContract(symbol, "FUT", exchange, "USD", local_symbol,
                                      expiry=expiry, multiplier="50"))

    def add_fx(self, base: str, quote: str) -> FakeContract:
        return self._add(FakeContract(base, "CASH", "IDEALPRO", quote, f"{base}.{quote}"))

    def _add(self, contract: FakeContract) -> FakeContract:
        self.contracts.append(contract)
        return contract

    def live(self) -> list[Session]:
        return [s for s in self.sessions if not s.writer.is_closing()]

    def subscribed(self, contract: FakeContract) -> set[str]:
        """Kinds of data the live connections subscribe to for `contract`."""
        return {sub.kind for s in self.live() for sub in s.subscriptions.values()
                if sub.con_id == contract.con_id}

    async def wait_until(self, predicate: Callable[[], object], timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"fake TWS: condition not met within {timeout_s} s")
            await asyncio.sleep(0.02)

    def send_last(self, contract: FakeContract, time_s: int, price: str, size: str,
                  exchange: str = "", conditions: str = "") -> int:
        """An AllLast tick-by-tick print; returns how many subscriptions got it."""
        return self._push(contract, "AllLast",
                          lambda sub: (99, sub.req_id, 2, time_s, price, size, 0, exchange,
                                       conditions))

    def send_bid_ask(self, contract: FakeContract, time_s: int, bid: str, ask: str,
                     bid_size: str, ask_size: str) -> int:
        return self._push(contract, "BidAsk",
                          lambda sub: (99, sub.req_id, 3, time_s, bid, ask, bid_size, ask_size,
                                       0))

    def send_depth(self, contract: FakeContract, position: int, operation: int, side: int,
                   price: str, size: str, market_maker: str = "") -> int:
        """One depth row change (operation 0 insert, 1 update, 2 delete; side 1 bid, 0 ask)."""

        def message(sub: Subscription) -> tuple[object, ...]:
            if sub.smart or market_maker:
                return (13, 1, sub.req_id, position, market_maker, operation, side, price, size,
                        int(sub.smart))
            return (12, 1, sub.req_id, position, operation, side, price, size)

        return self._push(contract, "depth", message)

    def send_system(self, code: int, message: str) -> None:
        """A message not tied to a request (1100 connectivity lost, 1102 restored, ...)."""
        for session in self.live():
            session.send(4, 2, -1, code, message, "")

    def _push(self, contract: FakeContract, kind: str,
              message: Callable[[Subscription], tuple[object, ...]]) -> int:
        sent = 0
        for session in self.live():
            for sub in list(session.subscriptions.values()):
                if sub.kind == kind and sub.con_id == contract.con_id and not session.muted:
                    session.send(*message(sub))
                    sent += 1
        return sent

    # ---- the protocol ------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(writer, asyncio.current_task())  # type: ignore[arg-type]
        self.sessions.append(session)
        try:
            if not await self._handshake(reader, session):
                return
            while True:
                size = struct.unpack(">I", await reader.readexactly(4))[0]
                fields = (await reader.readexactly(size)).decode().split("\0")[:-1]
                self.requests.append(fields)
                if not session.muted:
                    self._handle(session, fields)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _handshake(self, reader: asyncio.StreamReader, session: Session) -> bool:
        if await reader.readexactly(4) != b"API\0":
            return False
        size = struct.unpack(">I", await reader.readexactly(4))[0]
        versions = (await reader.readexactly(size)).decode().split()[0]  # "v157..178"
        low, high = (int(v) for v in versions.removeprefix("v").split(".."))
        if not low <= SERVER_VERSION <= high:
            return False
        session.send(SERVER_VERSION, time.strftime("%Y%m%d %H:%M:%S UTC", time.gmtime()))
        return True

    def _handle(self, session: Session, fields: list[str]) -> None:
        msg_id = int(fields[0])
        if msg_id == 71:  # startApi: version, clientId, optional capabilities
            session.client_id = int(fields[2])
            session.send(9, 1, NEXT_VALID_ID)
            session.send(15, 1, ACCOUNT)
        elif msg_id == 49:
            session.send(49, 1, int(time.time()))
        elif msg_id == 61:
            session.send(62, 1)
        elif msg_id == 9:
            self._contract_details(session, fields)
        elif msg_id == 97:  # reqId, contract (12 fields), tickType, numberOfTicks, ignoreSize
            req_id, con_id, tick_type = int(fields[1]), int(fields[2] or 0), fields[14]
            if session.count("AllLast", "BidAsk") >= self.max_tick_by_tick:
                session.send(4, 2, req_id, 10190,
                             "Max number of tick-by-tick requests has been reached.", "")
            else:
                session.subscriptions[req_id] = Subscription(req_id, tick_type, con_id)
        elif msg_id == 10:  # version, reqId, contract (12 fields), numRows, isSmartDepth, opts
            req_id, con_id = int(fields[2]), int(fields[3] or 0)
            if session.count("depth") >= self.max_depth:
                session.send(4, 2, req_id, 309, f"Max number ({self.max_depth}) of market "
                             "depth requests has been reached", "")
            else:
                session.subscriptions[req_id] = Subscription(req_id, "depth", con_id,
                                                             smart=fields[16] == "1")
        elif msg_id == 98:
            session.subscriptions.pop(int(fields[1]), None)
        elif msg_id == 11:
            session.subscriptions.pop(int(fields[2]), None)

    def _contract_details(self, session: Session, fields: list[str]) -> None:
        # version, reqId, conId, symbol, secType, lastTradeDate, strike, right, multiplier,
        # exchange, primaryExchange, currency, localSymbol, tradingClass, includeExpired, ...
        req_id, symbol, sec_type, expiry = int(fields[2]), fields[4], fields[5], fields[6]
        exchange, local_symbol = fields[10], fields[13]
        found = [c for c in self.contracts if c.matches(symbol, sec_type, expiry, local_symbol)]
        if not found:
            session.send(4, 2, req_id, 200,
                         "No security definition has been found for the request", "")
            return
        for c in found:
            session.send(
                10, req_id, c.symbol, c.sec_type, c.expiry, "0", "", exchange or c.exchange,
                c.currency, c.local_symbol, c.symbol, c.symbol, c.con_id, "0.01", c.multiplier,
                "LMT,MKT", f"{c.exchange},{c.primary_exchange}".strip(","), 1, 0,
                f"{c.symbol} TEST", c.primary_exchange, c.expiry[:6], "", "", "",
                "US/Eastern", "", "", "", "", 0,  # ... evMultiplier, no secIds
                1, "", "", "26", c.expiry, "COMMON" if c.sec_type == "STK" else "",
                "1", "1", "1",  # minSize, sizeIncrement, suggestedSizeIncrement
            )
        session.send(52, 1, req_id)
