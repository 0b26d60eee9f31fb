"""How the IB feed connects and keeps its connection, how many lines it may use, and how long
it waits to reconnect, retry and call data stale."""

from __future__ import annotations

import random
from dataclasses import dataclass

from streams.exceptions import ConfigError
from streams.feeds.ibkr.lines import QUOTE_SOURCES, TICK_BY_TICK_GAP_S, QuoteSource


@dataclass(frozen=True, slots=True)
class IbkrConfig:
    """Where the gateway is and how the feed keeps its connection and subscriptions."""

    host: str = "127.0.0.1"
    port: int = 4002
    client_id: int = 1
    depth_rows: int = 10  # 0: no depth
    smart_depth: bool = True
    tick_by_tick_lines: int = 3  # simultaneous tick-by-tick subscriptions the account allows
    depth_lines: int = 3  # simultaneous depth subscriptions the account allows
    quotes: QuoteSource = "auto"  # see lines.py
    retry_s: float = 60.0  # a refused subscription is asked for again after this
    stale_after_s: float = 60.0  # no data this long in liquid hours: an outage (0: off)
    tick_by_tick_gap_s: float = TICK_BY_TICK_GAP_S  # IB's pacing; tests shorten it
    client_id_tries: int = 3  # connection attempts refused with 326 before giving up
    connect_timeout_s: float = 10.0
    heartbeat_s: float = 5.0
    stall_timeout_s: float = 20.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    health_interval_s: float = 5.0

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536 or self.client_id < 0:
            raise ConfigError(f"IB port must be 1-65535 and client id >= 0: {self}")
        if not 0 <= self.depth_rows <= 10:
            raise ConfigError(f"depth rows must be 0-10, got {self.depth_rows}")
        if min(self.tick_by_tick_lines, self.depth_lines) < 0:
            raise ConfigError("tick-by-tick and depth lines must be >= 0")
        if self.quotes not in QUOTE_SOURCES:
            raise ConfigError(f"quotes must be one of {', '.join(QUOTE_SOURCES)}, "
                              f"got {self.quotes!r}")
        if min(self.connect_timeout_s, self.heartbeat_s, self.reconnect_min_s,
               self.health_interval_s, self.retry_s) <= 0 or self.client_id_tries < 1:
            raise ConfigError("IB timeouts, intervals and tries must be positive")
        if min(self.stale_after_s, self.tick_by_tick_gap_s) < 0:
            raise ConfigError("the stale-after time and tick-by-tick gap must be >= 0")
        if self.stall_timeout_s <= self.heartbeat_s:
            raise ConfigError("the stall timeout must be longer than the heartbeat interval")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ConfigError("the longest reconnect delay must be >= the shortest")


def backoff_s(failures: int, min_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: the cap doubles per failure from `min_s` up to
    `max_s`, and the wait is uniform in [cap / 2, cap] so clients do not retry in step."""
    cap = min(max_s, min_s * 2.0 ** min(failures, 32))
    return rng.uniform(cap / 2, cap)
