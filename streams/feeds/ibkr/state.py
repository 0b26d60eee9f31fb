"""What the IB feed keeps track of: IB's codes for refusals and connectivity, counters,
subscriptions by request id, and the outage in progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# IB error code -> (counter name, the limit in words).
LIMITS: dict[int, tuple[str, str]] = {
    309: ("market_depth", "max number of market depth subscriptions reached "
                          "(IB allows 3 at a time on many accounts)"),
    10190: ("tick_by_tick", "max number of tick-by-tick subscriptions reached "
                            "(IB allows 3 at a time on many accounts)"),
    101: ("market_data_lines", "max number of market data lines (tickers) reached"),
    100: ("message_rate", "API message rate limit exceeded (50 messages/s)"),
}
PERMISSIONS: dict[int, str] = {
    354: "no market data subscription for this contract",
    10089: "the API needs an additional market data subscription for this contract",
    10090: "part of the data needs an additional market data subscription",
    10092: "deep market data is not available for this security type or exchange",
    10189: "IB refused tick-by-tick data for this contract",
}
CONNECTIVITY_LOST, DATA_LOST, RESTORED, CLIENT_ID_IN_USE = 1100, 1101, 1102, 326
NO_SECURITY_DEFINITION = 200
Kind = Literal["trades", "quotes", "depth"]


@dataclass(slots=True)
class FeedCounters:
    ticks_in: int = 0
    trades: int = 0
    quotes: int = 0
    depth: int = 0
    skipped: int = 0  # ticks that map to no valid event (no price, crossed, fractional size)
    errors: int = 0
    sessions: int = 0
    outages: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    last_event_ts: int | None = None

    @property
    def events_out(self) -> int:
        return self.trades + self.quotes + self.depth

    def as_dict(self) -> dict[str, int]:
        plain = {k: getattr(self, k) for k in ("ticks_in", "trades", "quotes", "depth",
                                                "skipped", "errors", "sessions", "outages")}
        return plain | {f"refused_{k}": n for k, n in self.refused.items()}


@dataclass(slots=True)
class Subscription:
    symbol: str
    kind: Kind
    venue: str
    refused: str | None = None  # why IB refused it


@dataclass(frozen=True, slots=True)
class Outage:
    start_ns: int
    reason: str
    symbols: tuple[str, ...]
