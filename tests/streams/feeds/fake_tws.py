"""A fake TWS / IB Gateway: an asyncio TCP server speaking enough of the TWS socket protocol
for ib_async to connect to it for real.

Wire format (ib_async's client.py / decoder.py): after the client's `API\\0` + a
length-prefixed version range (`v157..178`), every message either way is a 4-byte big-endian
length and NUL-terminated text fields. The server answers the handshake with its version
and connection time, then serves at `SERVER_VERSION` (176: contract details carry no version
field, errors carry an (empty) advanced-reject field, requests for contract details end with
an issuer id).

Spoken: startApi (71) -> nextValidId (9) + managedAccounts (15), or error 326 and a closed
socket when another live connection has the client id; reqCurrentTime (49) -> currentTime
(49); reqPositions (61) -> positionEnd (62); reqContractDetails (9) -> one contractData (10)
per matching contract (several: an ambiguous request) + contractDataEnd (52), or error 200;
reqTickByTickData (97) / cancelTickByTickData (98); reqMktDepth (10) / cancelMktDepth (11);
reqMktData (1) / cancelMktData (2). Pushed on demand: tickByTick (99: AllLast with the
tickAttribLast mask, bit 0 pastLimit and bit 1 unreported; BidAsk), updateMktDepth (12) and
updateMktDepthL2 (13, smart depth or a market maker) with operation 0 insert / 1 update /
2 delete, tickPrice (1) and tickSize (2) for reqMktData, errors (4) for a request or for
none (-1): 309 past `max_depth` depth subscriptions and 10190 past `max_tick_by_tick`
tick-by-tick ones per connection, as TWS does, refusals set with `refuse`, and notices
(`send_system`). `one_packet()` writes what is sent inside it in one socket write. `drop()`
aborts every connection and refuses new ones until `down_s` has passed; `stall()` leaves
connections open but silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

SERVER_VERSION = 176
ACCOUNT = "DU1234567"
NEXT_VALID_ID = 1
# Liquid hours covering every day (IB's format: day:open-day:close; zone in timeZoneId).
ALWAYS_OPEN = "20000101:0000-20991231:2359"
NO_DEFINITION = "No security definition has been found for the request"
CLIENT_ID_IN_USE = ("Unable to connect as the client id is already in use. Retry with a "
                    "unique client id.")


def frame(*fields: object) -> bytes:
    """One TWS message: length prefix, then each field as text ending in NUL."""
    payload = "".join(f"{f}\0" for f in fields).encode()
    return struct.pack(">I", len(payload)) + payload


async def wait_until(predicate: Callable[[], object], timeout_s: float = 10.0) -> None:
    """Poll `predicate` until it holds; TimeoutError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"fake TWS: condition not met within {timeout_s} s")
        await asyncio.sleep(0.02)


@dataclass(frozen=True, slots=True)
class FakeContract:
    symbol: str
    sec_type: str  # STK, FUT, CASH
    exchange: str
    currency: str
    local_symbol: str
    primary_exchange: str = ""
    expiry: str = ""  # YYYYMMDD, futures
    multiplier: str = ""
    trading_class: str = ""
    last_trade_time: str = ""  # HH:MM in time_zone, futures
    time_zone: str = "US/Eastern"
    liquid_hours: str = ALWAYS_OPEN

    @property
    def con_id(self) -> int:
        key = f"{self.sec_type}:{self.local_symbol}:{self.primary_exchange}:{self.trading_class}"
        return zlib.crc32(key.encode()) % 2**31

    def matches(self, request: dict[str, str]) -> bool:
        """Whether a reqContractDetails request names this contract (empty fields: any)."""
        r = request
        return (r["sec_type"] == self.sec_type
                and (r["symbol"] == self.symbol or r["local_symbol"] == self.local_symbol)
                and self.expiry.startswith(r["expiry"])
                and r["local_symbol"] in ("", self.local_symbol)
                and r["exchange"] in ("", self.exchange, self.primary_exchange)
                and r["primary_exchange"] in ("", self.primary_exchange)
                and r["currency"] in ("", self.currency)
                and r["trading_class"] in ("", self.trading_class)
                and r["multiplier"] in ("", self.multiplier))


@dataclass(slots=True)
class Subscription:
    req_id: int
    kind: str  # AllLast, BidAsk, depth, mktdata
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
    held: list[bytes] | None = None  # frames kept for one write (`FakeTws.one_packet`)

    def send(self, *fields: object) -> None:
        if self.muted or self.writer.is_closing():
            return
        if self.held is not None:
            self.held.append(frame(*fields))
        else:
            self.writer.write(frame(*fields))

    def error(self, req_id: int, code: int, message: str) -> None:
        self.send(4, 2, req_id, code, message, "")

    def count(self, *kinds: str) -> int:
        return sum(s.kind in kinds for s in self.subscriptions.values())


class FakeTws:
    """Start with `await start()`; register contracts with `add_*`; push data with `send_*`."""

    def __init__(self, *, max_depth: int = 3, max_tick_by_tick: int = 3) -> None:
        self.max_depth = max_depth
        self.max_tick_by_tick = max_tick_by_tick
        self.contracts: list[FakeContract] = []
        self.refusals: dict[tuple[int, str], tuple[int, str]] = {}  # (con id, kind) -> error
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

    def add_stock(self, symbol: str, primary_exchange: str = "NASDAQ", currency: str = "USD",
                  liquid_hours: str = ALWAYS_OPEN) -> FakeContract:
        return self._add(FakeContract(symbol, "STK", "SMART", currency, symbol, primary_exchange,
                                      liquid_hours=liquid_hours))

    def add_future(self, symbol: str, expiry: str, local_symbol: str, exchange: str = "CME",
                   *, trading_class: str = "", multiplier: str = "50",
                   last_trade_time: str = "") -> FakeContract:
        return self._add(FakeContract(symbol, "FUT", exchange, "USD", local_symbol,
                                      expiry=expiry, multiplier=multiplier,
                                      trading_class=trading_class or symbol,
                                      last_trade_time=last_trade_time, time_zone="US/Central"))

    def add_fx(self, base: str, quote: str) -> FakeContract:
        return self._add(FakeContract(base, "CASH", "IDEALPRO", quote, f"{base}.{quote}"))

    def _add(self, contract: FakeContract) -> FakeContract:
        self.contracts.append(contract)
        return contract

    def refuse(self, contract: FakeContract, kind: str, code: int, message: str) -> None:
        """Answer every request of `kind` (AllLast, BidAsk, depth, mktdata) for `contract`
        with this error instead of data, until `accept` is called."""
        self.refusals[(contract.con_id, kind)] = (code, message)

    def accept(self, contract: FakeContract, kind: str) -> None:
        self.refusals.pop((contract.con_id, kind), None)

    def live(self) -> list[Session]:
        return [s for s in self.sessions if not s.writer.is_closing()]

    def subscribed(self, contract: FakeContract) -> set[str]:
        """Kinds of data the live connections subscribe to for `contract`."""
        return {sub.kind for s in self.live() for sub in s.subscriptions.values()
                if sub.con_id == contract.con_id}

    def requested(self, contract: FakeContract, kind: str) -> int:
        """How many requests of `kind` for `contract` arrived, over all connections."""
        msg_id = {"AllLast": "97", "BidAsk": "97", "depth": "10", "mktdata": "1"}[kind]
        con_at, kind_at = (2, 14) if msg_id == "97" else (3, None)
        return sum(1 for r in self.requests if r[0] == msg_id and r[con_at] == str(contract.con_id)
                   and (kind_at is None or r[kind_at] == kind))

    async def wait_until(self, predicate: Callable[[], object], timeout_s: float = 10.0) -> None:
        await wait_until(predicate, timeout_s)

    @contextlib.contextmanager
    def one_packet(self) -> Iterator[None]:
        """Messages sent inside go out in one socket write per connection, as TWS sends a
        burst of updates: the client reads and handles them as one packet."""
        sessions = self.live()
        for session in sessions:
            session.held = []
        try:
            yield
        finally:
            for session in sessions:
                held, session.held = session.held or [], None
                if held and not session.writer.is_closing():
                    session.writer.write(b"".join(held))

    def send_last(self, contract: FakeContract, time_s: int, price: str, size: str,
                  exchange: str = "", conditions: str = "", *, past_limit: bool = False,
                  unreported: bool = False) -> int:
        """An AllLast tick-by-tick print; returns how many subscriptions got it."""
        mask = int(past_limit) | int(unreported) << 1
        return self._push(contract, "AllLast",
                          lambda sub: (99, sub.req_id, 2, time_s, price, size, mask, exchange,
                                       conditions))

    def send_bid_ask(self, contract: FakeContract, time_s: int, bid: str, ask: str,
                     bid_size: str, ask_size: str) -> int:
        return self._push(contract, "BidAsk",
                          lambda sub: (99, sub.req_id, 3, time_s, bid, ask, bid_size, ask_size,
                                       0))

    def send_tick_price(self, contract: FakeContract, tick_type: int, price: str,
                        size: str) -> int:
        """A reqMktData price tick (1 bid, 2 ask) with its size; price -1 and size 0 say the
        side is empty."""
        return self._push(contract, "mktdata",
                          lambda sub: (1, 6, sub.req_id, tick_type, price, size, 0))

    def send_tick_size(self, contract: FakeContract, tick_type: int, size: str) -> int:
        """A reqMktData size tick (0 bid size, 3 ask size): the size changed, the price not."""
        return self._push(contract, "mktdata", lambda sub: (2, 6, sub.req_id, tick_type, size))

    def send_depth(self, contract: FakeContract, position: int, operation: int, side: int,
                   price: str, size: str, market_maker: str = "") -> int:
        """One depth row change (operation 0 insert, 1 update, 2 delete; side 1 bid, 0 ask)."""

        def message(sub: Subscription) -> tuple[object, ...]:
            if sub.smart or market_maker:
                return (13, 1, sub.req_id, position, market_maker, operation, side, price, size,
                        int(sub.smart))
            return (12, 1, sub.req_id, position, operation, side, price, size)

        return self._push(contract, "depth", message)

    def send_error(self, contract: FakeContract, kind: str, code: int, message: str) -> int:
        """An error for each live subscription of `kind` to `contract` (e.g. 317, 10197)."""
        sent = 0
        for session in self.live():
            for sub in list(session.subscriptions.values()):
                if sub.kind == kind and sub.con_id == contract.con_id:
                    session.error(sub.req_id, code, message)
                    sent += 1
        return sent

    def send_system(self, code: int, message: str) -> None:
        """A message not tied to a request (1100 connectivity lost, 2103 farm broken, ...)."""
        for session in self.live():
            session.error(-1, code, message)

    def lose_connectivity(self) -> None:
        """TWS's 1100: its connection to IB's servers is gone (the API socket stays up)."""
        self.send_system(1100, "Connectivity between IB and Trader Workstation has been lost.")

    def restore_connectivity(self) -> None:
        """TWS's 1102: back, with the market data subscriptions kept."""
        self.send_system(1102, "Connectivity between IB and Trader Workstation has been "
                         "restored - data maintained.")

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
            while not writer.is_closing():
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
            self._start_api(session, int(fields[2]))
        elif msg_id == 49:
            session.send(49, 1, int(time.time()))
        elif msg_id == 61:
            session.send(62, 1)
        elif msg_id == 9:
            self._contract_details(session, fields)
        elif msg_id == 97:  # reqId, contract (12 fields), tickType, numberOfTicks, ignoreSize
            req_id, con_id, tick_type = int(fields[1]), int(fields[2] or 0), fields[14]
            full = session.count("AllLast", "BidAsk") >= self.max_tick_by_tick
            self._subscribe(session, Subscription(req_id, tick_type, con_id), full and (
                10190, "Max number of tick-by-tick requests has been reached."))
        elif msg_id == 10:  # version, reqId, contract (12 fields), numRows, isSmartDepth, opts
            req_id, con_id = int(fields[2]), int(fields[3] or 0)
            full = session.count("depth") >= self.max_depth
            self._subscribe(session, Subscription(req_id, "depth", con_id, fields[16] == "1"),
                            full and (309, f"Max number ({self.max_depth}) of market depth "
                                      "requests has been reached"))
        elif msg_id == 1:  # version, reqId, contract (12 fields), deltaNeutral, ticks, snapshot..
            req_id, con_id = int(fields[2]), int(fields[3] or 0)
            self._subscribe(session, Subscription(req_id, "mktdata", con_id), False)
        elif msg_id == 98:
            session.subscriptions.pop(int(fields[1]), None)
        elif msg_id in (2, 11):
            session.subscriptions.pop(int(fields[2]), None)

    def _start_api(self, session: Session, client_id: int) -> None:
        if any(s.client_id == client_id for s in self.live() if s is not session):
            session.error(-1, 326, CLIENT_ID_IN_USE)
            session.writer.close()
            return
        session.client_id = client_id
        session.send(9, 1, NEXT_VALID_ID)
        session.send(15, 1, ACCOUNT)

    def _subscribe(self, session: Session, sub: Subscription,
                   limit: tuple[int, str] | bool) -> None:
        refusal = self.refusals.get((sub.con_id, sub.kind)) or limit
        if refusal:
            code, message = refusal  # type: ignore[misc]
            session.error(sub.req_id, code, message)
        else:
            session.subscriptions[sub.req_id] = sub

    def _contract_details(self, session: Session, fields: list[str]) -> None:
        # version, reqId, conId, symbol, secType, lastTradeDate, strike, right, multiplier,
        # exchange, primaryExchange, currency, localSymbol, tradingClass, includeExpired, ...
        req_id = int(fields[2])
        request = dict(symbol=fields[4], sec_type=fields[5], expiry=fields[6],
                       multiplier=fields[9], exchange=fields[10], primary_exchange=fields[11],
                       currency=fields[12], local_symbol=fields[13], trading_class=fields[14])
        found = [c for c in self.contracts if c.matches(request)]
        if not found:
            session.error(req_id, 200, NO_DEFINITION)
            return
        for c in found:
            last_trade = f"{c.expiry} {c.last_trade_time}".strip() if c.expiry else ""
            session.send(
                10, req_id, c.symbol, c.sec_type, last_trade, "0", "",
                request["exchange"] or c.exchange, c.currency, c.local_symbol, c.symbol,
                c.trading_class or c.symbol, c.con_id, "0.01", c.multiplier, "LMT,MKT",
                f"{c.exchange},{c.primary_exchange}".strip(","), 1, 0, f"{c.symbol} TEST",
                c.primary_exchange, c.expiry[:6], "", "", "", c.time_zone, c.liquid_hours,
                c.liquid_hours, "", "", 0,  # tradingHours, liquidHours, evRule, evMult, secIds
                1, "", "", "26", c.expiry, "COMMON" if c.sec_type == "STK" else "",
                "1", "1", "1",  # minSize, sizeIncrement, suggestedSizeIncrement
            )
        session.send(52, 1, req_id)
