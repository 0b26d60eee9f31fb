"""Subscription lines: which data each instrument gets from which IB request, and IB's pacing
of tick-by-tick requests.

IB limits simultaneous tick-by-tick subscriptions and depth subscriptions per account (3 each
by default; more with market-data boosters). One stock takes two tick-by-tick lines (AllLast
trades and BidAsk quotes) and one depth line, so the plan spends the lines in order of worth:
tick-by-tick trades for every instrument in turn (nothing else gives every print), then
tick-by-tick quotes while lines last, then quotes from reqMktData (IB's aggregated top of
book, several updates a second, on the market-data lines, of which accounts have 100), then
depth while depth lines last. `quotes` chooses: `auto` as described, `tick-by-tick` never
falls back (symbols past the lines lack quotes), `market-data` takes every quote from
reqMktData and leaves the tick-by-tick lines to trades. What a symbol lacks, and why, is in
the plan.

IB accepts no more than one tick-by-tick request for the same instrument within 15 s
(TWS API docs, "Tick-by-Tick Data"); its own samples ask for AllLast and BidAsk of one
contract back to back, so the pacer keeps the rule per instrument and tick type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

QuoteSource = Literal["auto", "tick-by-tick", "market-data"]
QUOTE_SOURCES: tuple[QuoteSource, ...] = ("auto", "tick-by-tick", "market-data")
Kind = Literal["trades", "quotes", "depth"]
Source = Literal["tick-by-tick", "market-data", "depth"]
TICK_BY_TICK_GAP_S = 15.0  # IB: one tick-by-tick request per instrument within 15 s


@dataclass(frozen=True, slots=True)
class Want:
    """One subscription the plan asks for."""

    symbol: str
    kind: Kind
    source: Source


@dataclass(frozen=True, slots=True)
class LinePlan:
    wants: list[Want]
    lacking: dict[str, dict[str, str]]  # symbol -> kind -> why the plan leaves it out


def plan_lines(instruments: Sequence[tuple[str, bool]], *, tick_by_tick: int, depth: int,
               quotes: QuoteSource, depth_rows: int) -> LinePlan:
    """The subscriptions for `(symbol, has_trades)` instruments within the line budget."""
    wants: list[Want] = []
    lacking: dict[str, dict[str, str]] = {}
    free = tick_by_tick
    no_tbt = f"no tick-by-tick line left ({tick_by_tick} in use)"
    for symbol, has_trades in instruments:
        if not has_trades:
            continue
        if free:
            wants.append(Want(symbol, "trades", "tick-by-tick"))
            free -= 1
        else:
            lacking.setdefault(symbol, {})["trades"] = no_tbt
    for symbol, _ in instruments:
        if quotes != "market-data" and free:
            wants.append(Want(symbol, "quotes", "tick-by-tick"))
            free -= 1
        elif quotes != "tick-by-tick":
            wants.append(Want(symbol, "quotes", "market-data"))
        else:
            lacking.setdefault(symbol, {})["quotes"] = no_tbt
    if depth_rows:
        for n, (symbol, _) in enumerate(instruments):
            if n < depth:
                wants.append(Want(symbol, "depth", "depth"))
            else:
                lacking.setdefault(symbol, {})["depth"] = f"no depth line left ({depth} in use)"
    return LinePlan(wants, lacking)


@dataclass(slots=True)
class TickByTickPacer:
    """When IB next accepts a tick-by-tick request per (contract id, tick type)."""

    gap_ns: int = int(TICK_BY_TICK_GAP_S * 1e9)
    _last: dict[tuple[int, str], int] = field(default_factory=dict)

    def allowed_at(self, con_id: int, tick_type: str) -> int:
        last = self._last.get((con_id, tick_type))
        return 0 if last is None else last + self.gap_ns

    def requested(self, con_id: int, tick_type: str, now_ns: int) -> None:
        self._last[(con_id, tick_type)] = now_ns
