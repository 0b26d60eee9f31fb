"""The live IB feed: connect, qualify, subscribe, publish, and keep it that way.

A session connects (read-only, no account sync), qualifies every instrument, then asks for
tick-by-tick `AllLast` trades (not for FX, which has no trades on IDEALPRO), `BidAsk` quotes
and market depth (smart depth for SMART-routed contracts). It ends when the socket drops,
when nothing arrives for `stall_timeout_s` although a heartbeat (`reqCurrentTime`) went out
after `heartbeat_s` of silence, or when IB reports lost market data (1101). The feed then
reconnects with exponential backoff and jitter, re-qualifies and re-subscribes.

An outage runs from the loss (or IB's 1100, "connectivity lost") to the next complete
subscription (or 1102, "restored"): it is raised at its start and cleared at its end on
logic.risk.alerts, one alert per affected symbol with an id made of the feed, the start and
the symbol; health on logic.engine.health says `degraded` meanwhile. A subscription IB
refuses for a limit (309 depth, 10190 tick-by-tick, ...) or a missing permission is logged
once with the limit's name, counted, and leaves the feed `degraded`; it is asked for again
only after the next reconnect, so a limit never turns into a reconnect loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Iterable, Sequence
from typing import Literal

from ib_async import Contract, StartupFetchNONE
from ib_async.objects import DOMLevel

from streams.clock import Clock, LiveClock
from streams.exceptions import BrokerError, ConfigError
from streams.feeds import MarketEvent
from streams.feeds.ibkr.client import FeedIB, to_contract
from streams.feeds.ibkr.config import IbkrConfig, backoff_s
from streams.feeds.ibkr.instruments import Instrument, topic_symbol
from streams.feeds.ibkr.mapping import (
    depth_from_levels,
    outage_alerts,
    quote_from_bid_ask,
    trade_from_last,
)
from streams.feeds.ibkr.sink import ALERTS_TOPIC, HEALTH_TOPIC, METRICS_TOPIC, FeedSink
from streams.feeds.ibkr.state import (
    CLIENT_ID_IN_USE,
    CONNECTIVITY_LOST,
    DATA_LOST,
    LIMITS,
    NO_SECURITY_DEFINITION,
    PERMISSIONS,
    RESTORED,
    FeedCounters,
    Kind,
    Outage,
    Subscription,
)
from streams.schema import DepthSnapshot, EngineHealth, EngineMetrics, Quote, Trade

log = logging.getLogger(__name__)

ENGINE = "feed.ibkr"


class _SessionError(Exception):
    """A session could not be set up; try again later."""


class IbkrFeed:
    """Publishes IB market data for `instruments` to `sink` until `run`'s stop event is set."""

    def __init__(
        self,
        instruments: Sequence[Instrument],
        config: IbkrConfig,
        sink: FeedSink,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not instruments:
            raise ConfigError("give at least one instrument")
        self.instruments = list(instruments)
        self.config = config
        self.feed_id = f"ibkr:{config.host}:{config.port}:{config.client_id}"
        self.worker = f"{socket.gethostname()}:{os.getpid()}:client{config.client_id}"
        self.counters = FeedCounters()
        self.symbols: list[str] = []  # topic keys of the qualified instruments
        self.subscriptions: dict[int, Subscription] = {}  # by IB request id
        self.outage: Outage | None = None
        self._sink = sink
        self._clock = clock or LiveClock()
        self._rng = rng or random.Random()
        self._ib = FeedIB(self)
        self._ib.errorEvent += self._on_error
        self._ib.disconnectedEvent += self._on_disconnected
        self._lost: str | None = None  # why the current session must end
        self._wake = asyncio.Event()
        self._last_rx = 0.0
        self._stopped = False
        self._published_status: str | None = None

    @property
    def status(self) -> Literal["starting", "running", "degraded", "stopped"]:
        if self._stopped:
            return "stopped"
        if self.outage is not None:
            return "degraded"
        if not self.counters.sessions:
            return "starting"
        return "degraded" if self.refused() else "running"

    def refused(self) -> list[str]:
        """Why each refused subscription of the current session was refused."""
        return [s.refused for s in self.subscriptions.values() if s.refused]

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, subscribe and watch until `stop` is set; reconnect whenever it breaks."""
        health = asyncio.create_task(self._health_loop())
        failures = 0
        try:
            while not stop.is_set():
                if failures or self.counters.sessions:
                    delay = backoff_s(failures, self.config.reconnect_min_s,
                                      self.config.reconnect_max_s, self._rng)
                    log.info("ibkr reconnect in_s=%.2f attempt=%d", delay, failures + 1)
                    if await _stopped_within(stop, delay):
                        break
                try:
                    await self._open_session()
                except (OSError, TimeoutError, _SessionError) as exc:
                    failures += 1
                    self._ib.disconnect()
                    log.warning("ibkr connect failed host=%s port=%d client_id=%d: %s",
                                self.config.host, self.config.port, self.config.client_id,
                                _explain(exc, self.config))
                    continue
                failures = 0
                self._end_outage()
                if self.status != self._published_status:
                    self._publish_health()
                reason = await self._watch(stop)
                if reason is None:
                    break
                self._begin_outage(reason)
                self._ib.disconnect()
        finally:
            health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await health
            self._ib.disconnect()
            self._stopped = True
            self._publish_health()
            log.info("ibkr feed stopped %s",
                     " ".join(f"{k}={v}" for k, v in self.counters.as_dict().items()))

    # ---- session -------------------------------------------------------------------------

    async def _open_session(self) -> None:
        cfg = self.config
        self._lost = None
        log.info("ibkr connecting host=%s port=%d client_id=%d", cfg.host, cfg.port,
                 cfg.client_id)
        await self._ib.connectAsync(cfg.host, cfg.port, cfg.client_id,
                                    timeout=cfg.connect_timeout_s, readonly=True,
                                    fetchFields=StartupFetchNONE)
        self._last_rx = time.monotonic()
        log.info("ibkr connected server_version=%d accounts=%s",
                 self._ib.client.serverVersion(), ",".join(self._ib.managedAccounts()))
        qualified = await self._qualify()
        self._subscribe(qualified)
        self.counters.sessions += 1

    async def _qualify(self) -> list[tuple[str, Contract]]:
        contracts = [to_contract(inst) for inst in self.instruments]
        results = await asyncio.wait_for(self._ib.qualifyContractsAsync(*contracts),
                                         self.config.connect_timeout_s)
        qualified = []
        for inst, contract in zip(self.instruments, results, strict=True):
            if not isinstance(contract, Contract) or not contract.conId:
                log.warning("ibkr contract not qualified instrument=%s: unknown to IB or "
                            "ambiguous; skipped", inst.label)
                continue
            qualified.append((topic_symbol(inst, contract.symbol, contract.localSymbol),
                              contract))
        symbols = [s for s, _ in qualified]
        if len(set(symbols)) != len(symbols):
            raise ConfigError(f"two instruments map to one symbol: {symbols}; give names")
        if not qualified:
            what = ", ".join(inst.label for inst in self.instruments)
            if not self.counters.sessions:
                raise ConfigError(f"IB qualified none of the instruments: {what}")
            raise _SessionError(f"IB qualified none of the instruments: {what}")
        self.symbols = symbols
        return qualified

    def _subscribe(self, qualified: Iterable[tuple[str, Contract]]) -> None:
        cfg = self.config
        self.subscriptions = {}
        for symbol, contract in qualified:
            venue = contract.exchange
            if contract.secType != "CASH":
                ticker = self._ib.reqTickByTickData(contract, "AllLast")
                self._add(self._ib.req_id(ticker, "AllLast"), symbol, "trades", venue)
            ticker = self._ib.reqTickByTickData(contract, "BidAsk")
            self._add(self._ib.req_id(ticker, "BidAsk"), symbol, "quotes", venue)
            if cfg.depth_rows:
                smart = cfg.smart_depth and contract.exchange == "SMART"
                ticker = self._ib.reqMktDepth(contract, cfg.depth_rows, smart)
                self._add(self._ib.req_id(ticker, "mktDepth"), symbol, "depth", venue)

    def _add(self, req_id: int, symbol: str, kind: Kind, venue: str) -> None:
        self.subscriptions[req_id] = Subscription(symbol, kind, venue)
        log.info("ibkr subscribed symbol=%s data=%s req_id=%d venue=%s", symbol, kind, req_id,
                 venue)

    async def _watch(self, stop: asyncio.Event) -> str | None:
        """Until the session ends: why it ended, or None when stopped."""
        cfg = self.config
        tick_s = max(0.02, min(1.0, cfg.heartbeat_s / 4))
        pinged = time.monotonic()
        while True:
            await _wait_any((stop, self._wake), tick_s)
            self._wake.clear()
            if stop.is_set():
                return None
            if self._lost is not None:
                return self._lost
            if self._sink.error is not None:
                raise BrokerError(f"publishing failed: {self._sink.error}") from self._sink.error
            now = time.monotonic()
            idle = now - self._last_rx
            if idle >= cfg.stall_timeout_s:
                return f"stalled: no data and no heartbeat reply for {idle:.1f} s"
            if idle >= cfg.heartbeat_s and now - pinged >= cfg.heartbeat_s:
                self._ib.client.reqCurrentTime()
                pinged = now

    # ---- outages and health --------------------------------------------------------------

    def _begin_outage(self, reason: str) -> None:
        if self.outage is not None:
            return
        start = self._clock.timestamp_ns()
        self.outage = Outage(start, reason, tuple(self.symbols))
        self.counters.outages += 1
        for alert in outage_alerts(self.feed_id, self.symbols, start, reason, start):
            self._sink.control(ALERTS_TOPIC, alert.symbol or "", alert)
        log.warning("ibkr outage start reason=%r symbols=%s: reconnecting", reason,
                    ",".join(self.symbols))
        self._publish_health()

    def _end_outage(self) -> None:
        outage, self.outage = self.outage, None
        if outage is None:
            return
        end = self._clock.timestamp_ns()
        for alert in outage_alerts(self.feed_id, outage.symbols, outage.start_ns,
                                   outage.reason, end, end_ns=end):
            self._sink.control(ALERTS_TOPIC, alert.symbol or "", alert)
        log.warning("ibkr outage end down_s=%.1f symbols=%s",
                    (end - outage.start_ns) / 1e9, ",".join(outage.symbols))
        self._publish_health()

    async def _health_loop(self) -> None:
        while True:
            self._publish_health()
            await asyncio.sleep(self.config.health_interval_s)

    def _publish_health(self) -> None:
        now = self._clock.timestamp_ns()
        c = self.counters
        self._published_status = self.status
        self._sink.control(HEALTH_TOPIC, ENGINE, EngineHealth(
            ts_event=now, ts_init=now, engine=ENGINE, worker=self.worker, status=self.status,
            lag=None, events_in=c.ticks_in, events_out=c.events_out, errors=c.errors,
            dead_letters=0, last_event_ts=c.last_event_ts,
        ))
        self._sink.control(METRICS_TOPIC, ENGINE, EngineMetrics(
            ts_event=now, ts_init=now, engine=ENGINE, worker=self.worker, counters=c.as_dict(),
        ))

    # ---- what ib_async reports (TickListener and events) --------------------------------

    def on_packet(self) -> None:
        self._last_rx = time.monotonic()

    def on_last(self, req_id: int, time_s: int, price: float, size: float,
                exchange: str) -> None:
        sub = self._live(req_id, "trades")
        if sub is not None:
            self._emit(trade_from_last(sub.symbol, time_s, price, size, exchange or sub.venue,
                                       self._clock.timestamp_ns()))

    def on_bid_ask(self, req_id: int, time_s: int, bid: float, ask: float, bid_size: float,
                   ask_size: float) -> None:
        sub = self._live(req_id, "quotes")
        if sub is not None:
            self._emit(quote_from_bid_ask(sub.symbol, time_s, bid, ask, bid_size, ask_size,
                                          sub.venue, self._clock.timestamp_ns()))

    def on_depth(self, req_id: int, bids: list[DOMLevel], asks: list[DOMLevel]) -> None:
        sub = self._live(req_id, "depth")
        if sub is not None:
            now = self._clock.timestamp_ns()
            self._emit(depth_from_levels(
                sub.symbol, [(lv.price, lv.size) for lv in bids],
                [(lv.price, lv.size) for lv in asks], self.config.depth_rows, sub.venue, now, now,
            ))

    def _live(self, req_id: int, kind: Kind) -> Subscription | None:
        sub = self.subscriptions.get(req_id)
        if sub is None or sub.kind != kind:
            return None
        self.counters.ticks_in += 1
        return sub

    def _emit(self, event: MarketEvent | None) -> None:
        c = self.counters
        if event is None:
            c.skipped += 1
            return
        self._sink.market(event)
        if isinstance(event, Trade):
            c.trades += 1
        elif isinstance(event, Quote):
            c.quotes += 1
        elif isinstance(event, DepthSnapshot):
            c.depth += 1
        c.last_event_ts = event.ts_event

    def _on_disconnected(self) -> None:
        self._lost = self._lost or "connection to TWS / IB Gateway lost"
        self._wake.set()

    def _on_error(self, req_id: int, code: int, message: str, contract: object) -> None:
        sub = self.subscriptions.get(req_id)
        if code in LIMITS or code in PERMISSIONS:
            self._refuse(req_id, sub, code, message)
        elif code == CONNECTIVITY_LOST:
            self._begin_outage(f"IB Gateway lost its connection to IB ({code})")
        elif code == RESTORED:
            self._end_outage()
        elif code == DATA_LOST:
            self._lost = f"IB lost the market data subscriptions ({code}): resubscribing"
            self._wake.set()
        elif code == CLIENT_ID_IN_USE:
            self.counters.errors += 1
            log.error("ibkr client id in use client_id=%d: pass another --client-id",
                      self.config.client_id)
        elif code != NO_SECURITY_DEFINITION and not 2100 <= code < 2200:  # 21xx: notices
            self.counters.errors += 1
            log.warning("ibkr error code=%d req_id=%d symbol=%s message=%r", code, req_id,
                        sub.symbol if sub else "-", message)

    def _refuse(self, req_id: int, sub: Subscription | None, code: int, message: str) -> None:
        name, why = LIMITS.get(code) or ("permission", PERMISSIONS[code])
        self.counters.refused[name] = self.counters.refused.get(name, 0) + 1
        what = f"{sub.symbol} {sub.kind}" if sub else f"request {req_id}"
        text = f"IB refused {what}: {why} (IB error {code}: {message})"
        if sub is not None:
            sub.refused = text
        log.warning("ibkr subscription refused symbol=%s data=%s code=%d limit=%s: %s (IB: %s)",
                    sub.symbol if sub else "-", sub.kind if sub else "-", code, name, why,
                    message)
        self._publish_health()


async def _wait_any(events: Iterable[asyncio.Event], timeout_s: float) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


async def _stopped_within(stop: asyncio.Event, timeout_s: float) -> bool:
    try:
        await asyncio.wait_for(stop.wait(), timeout_s)
    except TimeoutError:
        return False
    return True


def _explain(exc: BaseException, cfg: IbkrConfig) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused: is TWS / IB Gateway running with the API enabled on this port?"
    if isinstance(exc, TimeoutError):
        return (f"no API handshake within {cfg.connect_timeout_s:.0f} s: is client id "
                f"{cfg.client_id} already in use, or is this another application's port?")
    return str(exc) or type(exc).__name__
