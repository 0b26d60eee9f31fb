"""Contracts from instruments, exactly: each instrument must name one contract at IB.

Every instrument's contract details are requested at once. None back (IB error 200) means IB
does not know it; for a future that is what an expired contract month looks like. Several back
means the instrument is ambiguous: the message lists the candidates and the field that tells
them apart (a stock's primary exchange, a future's trading class or multiplier, e.g. weekly
contracts). Either stops the feed: no reconnect makes it right. The details also give the
contract's liquid hours (for staleness) and a future's last trading time (the feed stops when
it passes).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ib_async import IB, Contract, ContractDetails

from streams.exceptions import ConfigError
from streams.feeds.ibkr.client import to_contract
from streams.feeds.ibkr.hours import LiquidHours
from streams.feeds.ibkr.instruments import Instrument, topic_symbol
from streams.feeds.ibkr.mapping import NS_PER_S, iso

log = logging.getLogger(__name__)

HOW_TO_CHOOSE = {
    "stock": "give its primary exchange (primary_exchange in a file, or "
             "--stock SYMBOL:SMART:CURRENCY:PRIMARY)",
    "future": "give its trading class or multiplier (trading_class / multiplier in a file, or "
              "--future SYMBOL:EXPIRY:EXCHANGE:CURRENCY:TRADING_CLASS:MULTIPLIER)",
    "fx": "give its exchange",
}


@dataclass(frozen=True, slots=True)
class Qualified:
    instrument: Instrument
    symbol: str  # the key on our topics
    contract: Contract
    hours: LiquidHours | None  # None: unknown, staleness is not checked
    expires_ns: int | None  # futures: the end of the last trading day or time


async def qualify(ib: IB, instruments: list[Instrument], timeout_s: float,
                  now_ns: int) -> list[Qualified]:
    """One contract per instrument; ConfigError naming every instrument that has none."""
    requests = [ib.reqContractDetailsAsync(to_contract(inst)) for inst in instruments]
    answers = await asyncio.wait_for(asyncio.gather(*requests), timeout_s)
    problems, qualified = [], []
    for inst, details in zip(instruments, answers, strict=True):
        if len(details) == 1:
            qualified.append(_qualified(inst, details[0]))
        else:
            problems.append(_unknown(inst, now_ns) if not details else _ambiguous(inst, details))
    problems += [f"future {q.symbol} expired at {iso(q.expires_ns)}" for q in qualified
                 if q.expires_ns is not None and q.expires_ns <= now_ns]
    if problems:
        raise ConfigError("; ".join(problems))
    symbols = [q.symbol for q in qualified]
    if len(set(symbols)) != len(symbols):
        raise ConfigError(f"two instruments map to one symbol: {symbols}; give names")
    return qualified


def _qualified(inst: Instrument, details: ContractDetails) -> Qualified:
    contract = details.contract
    assert contract is not None
    if inst.exchange == "SMART":
        contract.exchange = "SMART"  # keep smart routing (IB may answer with a venue)
    expires = _expiry(contract, details) if contract.secType == "FUT" else None
    symbol = topic_symbol(inst, contract.symbol, contract.localSymbol)
    hours = LiquidHours.parse(details.liquidHours, details.timeZoneId)
    if hours is None:
        log.warning("ibkr liquid hours unknown symbol=%s hours=%r zone=%r: its subscriptions "
                    "are not checked for staleness", symbol, details.liquidHours,
                    details.timeZoneId)
    return Qualified(inst, symbol, contract, hours, expires)


def _unknown(inst: Instrument, now_ns: int) -> str:
    what = f"{inst.kind} {inst.label}" + (f" on {inst.exchange}" if inst.exchange else "")
    text = f"{what}: IB has no security definition for it (error 200)"
    if inst.kind != "future":
        return text + "; check the symbol, exchange and currency"
    month = inst.expiry[:6]
    if month and month < datetime.fromtimestamp(now_ns / NS_PER_S, UTC).strftime("%Y%m"):
        return text + f": contract month {month} has expired; give a current one"
    return text + ": an expired contract has none; give a current contract month"


def _ambiguous(inst: Instrument, details: list[ContractDetails]) -> str:
    listed = "; ".join(_describe(d) for d in details)
    return (f"{inst.kind} {inst.label} is ambiguous at IB, {len(details)} candidates: {listed}. "
            f"To choose, {HOW_TO_CHOOSE[inst.kind]}")


def _describe(details: ContractDetails) -> str:
    c = details.contract
    assert c is not None
    parts = [c.localSymbol or c.symbol, c.secType]
    for label, value in (("primary exchange", c.primaryExchange), ("currency", c.currency),
                         ("trading class", c.tradingClass), ("multiplier", c.multiplier),
                         ("expiry", c.lastTradeDateOrContractMonth), ("conId", c.conId)):
        if value:
            parts.append(f"{label} {value}")
    return " ".join(parts[:2]) + ", " + ", ".join(parts[2:])


def _expiry(contract: Contract, details: ContractDetails) -> int | None:
    """A future's last trading time (IB's lastTradeTime on its last trading day), or the end
    of that day when IB gives no time, in the contract's time zone (UTC when unknown)."""
    try:
        tz = ZoneInfo(details.timeZoneId.strip())
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    try:
        day = datetime.strptime(contract.lastTradeDateOrContractMonth, "%Y%m%d").replace(tzinfo=tz)
    except ValueError:
        return None
    last = day + timedelta(days=1)
    for form in ("%H:%M", "%H:%M:%S"):
        try:
            at = datetime.strptime(details.lastTradeTime.strip(), form).time()
        except ValueError:
            continue
        last = datetime.combine(day.date(), at, tz)
        break
    return int(last.timestamp()) * NS_PER_S
