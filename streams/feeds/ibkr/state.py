"""What the IB feed keeps track of: IB's codes for refusals, connectivity and data farms,
counters, and its subscriptions."""

from __future__ import annotations

from dataclasses import dataclass, field

from ib_async import Contract

from streams.feeds.ibkr.book import DepthBook
from streams.feeds.ibkr.lines import Kind, Source

# IB error code -> (counter name, the limit in words).
LIMITS: dict[int, tuple[str, str]] = {
    309: ("market_depth", "max number of market depth subscriptions reached "
                          "(IB allows 3 at a time on many accounts)"),
    10190: ("tick_by_tick", "max number of tick-by-tick subscriptions reached "
                            "(IB allows 3 at a time on many accounts)"),
    101: ("market_data_lines", "max number of market data lines (tickers) reached"),
    100: ("message_rate", "API message rate limit exceeded (50 messages/s)"),
}
REFUSALS: dict[int, str] = {
    200: "IB has no security definition for this request",
    354: "no market data subscription for this contract",
    10089: "the API needs an additional market data subscription for this contract",
    10090: "part of the data needs an additional market data subscription",
    10092: "deep market data is not available for this security type or exchange",
    10189: "IB refused tick-by-tick data for this contract",
}
CONNECTIVITY_LOST, DATA_LOST, RESTORED, CLIENT_ID_IN_USE = 1100, 1101, 1102, 326
DEPTH_RESET = 317  # "Market depth data has been RESET": empty the book, rows follow
COMPETING_SESSION = 10197  # "No market data during competing live session"
# Notices of a broken link, keyed by code: (outage key prefix, what broke, codes that end it).
BROKEN: dict[int, tuple[str, str, frozenset[int]]] = {
    2103: ("farm", "market data farm connection broken", frozenset({2104})),
    2157: ("secdef", "sec-def data farm connection broken", frozenset({2158})),
    2110: ("server", "TWS lost its connection to IB's servers",
           frozenset({2104, 2106, 2158, RESTORED})),
}
FIXED = frozenset({2104, 2106, 2158})


@dataclass(slots=True)
class FeedCounters:
    ticks_in: int = 0
    trades: int = 0
    quotes: int = 0
    depth: int = 0
    skipped: int = 0  # ticks that map to no valid event (no price, crossed, fractional size)
    depth_misses: int = 0  # depth row operations on rows that do not exist (ignored)
    dropped: int = 0  # events the publish queue had no room for
    errors: int = 0
    sessions: int = 0
    outages: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    last_event_ts: int | None = None

    @property
    def events_out(self) -> int:
        return self.trades + self.quotes + self.depth

    def as_dict(self) -> dict[str, int]:
        plain = {k: getattr(self, k) for k in (
            "ticks_in", "trades", "quotes", "depth", "skipped", "depth_misses", "dropped",
            "errors", "sessions", "outages")}
        return plain | {f"refused_{k}": n for k, n in self.refused.items()}


@dataclass(slots=True)
class TopOfBook:
    """A reqMktData subscription's bid and ask, as the ticks left them (NaN: not yet)."""

    bid: float = float("nan")
    bid_size: float = float("nan")
    ask: float = float("nan")
    ask_size: float = float("nan")


@dataclass(slots=True)
class Subscription:
    """One planned subscription: live under `req_id`, or waiting until `due_ns`."""

    symbol: str
    kind: Kind
    source: Source
    contract: Contract
    req_id: int | None = None
    due_ns: int = 0  # when it may be requested (IB's pacing, or the retry after a refusal)
    requested_ns: int = 0
    last_data_ns: int = 0  # the newest data, or the request when none came yet
    refused: str | None = None  # why IB refused it last time
    book: DepthBook | None = None
    top: TopOfBook | None = None
    changed_ns: int | None = None  # arrival of the newest change not yet published

    @property
    def venue(self) -> str:
        return self.contract.exchange

    @property
    def stale_key(self) -> str:
        return f"stale:{self.symbol}:{self.kind}"


def farm_of(message: str) -> str:
    """The farm a notice names: 'Market data farm connection is OK:usfarm' -> usfarm."""
    head, sep, tail = message.rpartition(":")
    return tail.strip() if sep and "farm" in head.lower() else ""


def notice_ends(key: str, code: int, farm: str) -> bool:
    """Whether notice `code` (about `farm`) ends the outage `key` (`prefix:farm` of BROKEN)."""
    prefix, _, broken_farm = key.partition(":")
    enders = next((e for p, _, e in BROKEN.values() if p == prefix), frozenset())
    return code in enders and (prefix == "server" or not broken_farm or broken_farm == farm)
