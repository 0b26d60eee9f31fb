"""Pure mapping from what IB sends to our wire models, and the feed's outage alerts.

IB's tick-by-tick data carries the venue time in whole seconds; it becomes `ts_event` in ns.
Depth and reqMktData quotes carry no venue time, so their `ts_event` is their arrival. Every
event's `ts_init` is its arrival at the feed. Prices arrive as floats parsed from TWS's decimal
text; `repr` gives back the shortest decimal that parses to the same float, which is IB's text
up to trailing zeros (10.00 -> 10.0), never a binary artifact like 0.30000000000000004. Sizes
must be whole units: a fractional size (crypto, fractional shares) cannot be represented and
the tick is skipped (None).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from streams.schema import Alert, Quote, Trade

NS_PER_S = 1_000_000_000
OUTAGE_KIND = "feed_outage"


def price_of(value: float) -> Decimal | None:
    """A positive, finite price as the shortest decimal of the float; None for 'no price'."""
    if not math.isfinite(value) or value <= 0:
        return None
    return Decimal(repr(value))


def size_of(value: float) -> int | None:
    """A non-negative whole size as int; None when negative, fractional or not finite."""
    if not math.isfinite(value) or value < 0 or not float(value).is_integer():
        return None
    return int(value)


def trade_from_last(
    symbol: str, time_s: int, price: float, size: float, venue: str, ts_init: int, *,
    unreported: bool = False, conditions: str = "",
) -> Trade | None:
    """An `AllLast` tick-by-tick print as a Trade, with IB's unreported flag and special
    conditions; None when it has no price or size."""
    p, s = price_of(price), size_of(size)
    if p is None or not s:
        return None
    return Trade(ts_event=time_s * NS_PER_S, ts_init=ts_init, symbol=symbol, price=p, size=s,
                 venue=venue or None, unreported=unreported,
                 conditions=conditions.strip() or None)


def quote_from_top(
    symbol: str,
    ts_event: int,
    bid: float,
    ask: float,
    bid_size: float,
    ask_size: float,
    venue: str,
    ts_init: int,
) -> Quote | None:
    """The top of the book as a Quote; None when a side is empty or it is crossed."""
    bp, ap = price_of(bid), price_of(ask)
    bs, az = size_of(bid_size), size_of(ask_size)
    if bp is None or ap is None or bs is None or az is None or bp > ap:
        return None
    return Quote(ts_event=ts_event, ts_init=ts_init, symbol=symbol, bid_price=bp, bid_size=bs,
                 ask_price=ap, ask_size=az, venue=venue or None)


def outage_alert_id(feed_id: str, start_ns: int, symbol: str) -> str:
    """Same feed, same outage start, same symbol: same id, for the raise and the clear."""
    return f"{OUTAGE_KIND}:{feed_id}:{start_ns}:{symbol}"


def outage_alerts(
    feed_id: str,
    symbols: Sequence[str],
    start_ns: int,
    reason: str,
    ts_init: int,
    end_ns: int | None = None,
) -> list[Alert]:
    """One alert per affected symbol: raised (end_ns None) or cleared at `end_ns`."""
    names = ",".join(symbols)
    since = iso(start_ns)
    values = {"symbols_affected": float(len(symbols))}
    state: Literal["raised", "cleared"]
    severity: Literal["critical", "info"]
    if end_ns is None:
        state, severity, ts_event = "raised", "critical", start_ns
        message = f"{feed_id} down since {since} ({reason}); symbols affected: {names}"
    else:
        state, severity, ts_event = "cleared", "info", end_ns
        values["duration_ms"] = (end_ns - start_ns) / 1e6
        message = (f"{feed_id} back at {iso(end_ns)} after {(end_ns - start_ns) / 1e9:.1f} s "
                   f"down since {since} ({reason}); symbols affected: {names}")
    return [
        Alert(ts_event=ts_event, ts_init=ts_init, alert_id=outage_alert_id(feed_id, start_ns, s),
              kind=OUTAGE_KIND, state=state, severity=severity, symbol=s, message=message,
              values=values)
        for s in symbols
    ]


def iso(ts_ns: int) -> str:
    """UTC ISO-8601 to the millisecond, for messages."""
    return datetime.fromtimestamp(ts_ns / NS_PER_S, UTC).isoformat(timespec="milliseconds")
