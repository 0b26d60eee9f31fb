"""The live IB feed: connect, qualify, subscribe, publish, and keep it that way.

A session connects (read-only, no account sync), qualifies every instrument (`qualify`), plans
the subscriptions within the account's lines (`lines`, `subscriptions`) and requests them:
tick-by-tick `AllLast` trades (not for FX, which has no trades on IDEALPRO), quotes
(tick-by-tick `BidAsk`, or reqMktData when lines run out) and market depth (smart depth for
SMART-routed contracts), kept as IB's sample client keeps it (`book`). A session ends when
the socket drops, when nothing arrives for `stall_timeout_s` although a heartbeat
(`reqCurrentTime`) went out after `heartbeat_s` of silence, or when IB reports lost market
data (1101); the feed then reconnects with exponential backoff and jitter.

Outages (`outages`) are raised on logic.risk.alerts and make health `degraded`: a lost
connection (or IB's 1100) until every subscription is requested again (or 1102); broken data
farms (2103, 2157) and TWS's server link (2110) until their OK notices (2104 / 2106 / 2158) or
fresh data of the symbol; a competing live session (10197) until data flows; a subscription
without data for `stale_after_s` in the contract's liquid hours until its data returns. A
refused subscription leaves the feed `degraded` and is asked for again after `retry_s`.
Configuration errors stop the feed with the reason: an unknown or ambiguous contract, a
future past its last trading time, a client id in use (326) `client_id_tries` times.

Every event's ts_init is its arrival at the feed (strictly increasing); ts_event is IB's venue
time for tick-by-tick data (whole seconds) and the arrival for depth and reqMktData quotes.
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

from ib_async import StartupFetchNONE

from streams.clock import Clock, LiveClock
from streams.exceptions import BrokerError, ConfigError
from streams.feeds.ibkr.client import FeedIB
from streams.feeds.ibkr.config import IbkrConfig, backoff_s
from streams.feeds.ibkr.instruments import Instrument
from streams.feeds.ibkr.mapping import NS_PER_S, iso
from streams.feeds.ibkr.outages import CONNECTION, Outage, Outages
from streams.feeds.ibkr.publisher import ALERTS_TOPIC, HEALTH_TOPIC, METRICS_TOPIC, FeedPublisher
from streams.feeds.ibkr.qualify import Qualified, qualify
from streams.feeds.ibkr.receive import Receiver
from streams.feeds.ibkr.state import (
    BROKEN,
    CLIENT_ID_IN_USE,
    COMPETING_SESSION,
    CONNECTIVITY_LOST,
    DATA_LOST,
    DEPTH_RESET,
    FIXED,
    LIMITS,
    REFUSALS,
    RESTORED,
    FeedCounters,
    Subscription,
    farm_of,
    notice_ends,
)
from streams.feeds.ibkr.subscriptions import Subscriptions
from streams.schema import Alert, EngineHealth, EngineMetrics

log = logging.getLogger(__name__)

ENGINE = "feed.ibkr"
GATEWAY = "gateway"  # IB's 1100: TWS lost IB, our connection to TWS is fine


class _SessionError(Exception):
    """A session could not be set up; try again later."""


class IbkrFeed:
    """Publishes IB market data for `instruments` to `publisher` until `run`'s stop event is set."""

    def __init__(
        self,
        instruments: Sequence[Instrument],
        config: IbkrConfig,
        publisher: FeedPublisher,
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
        self.checked_ns = 0  # clock time of the last watch pass (staleness, retries, expiry)
        self._publisher = publisher
        self._clock = clock or LiveClock()
        self._rng = rng or random.Random()
        self._subs = Subscriptions(config)
        self._outages = Outages(self.feed_id, self._publish_alerts)
        self._receiver = Receiver(self._subs, self._outages, self.counters, publisher, self._stamp,
                                  config.depth_rows)
        self._ib = FeedIB(self._receiver)
        self._ib.errorEvent += self._on_error
        self._ib.disconnectedEvent += self._on_disconnected
        self._qualified: list[Qualified] = []
        self._last_stamp = 0
        self._lost: str | None = None  # why the current session must end
        self._resubscribing = False  # a session is up, its subscriptions not all requested
        self._id_in_use = asyncio.Event()
        self._id_refusals = 0
        self._wake = asyncio.Event()
        self._stopped = False
        self._published_status: str | None = None

    # ---- what the feed reports -----------------------------------------------------------

    @property
    def status(self) -> Literal["starting", "running", "degraded", "stopped"]:
        if self._stopped:
            return "stopped"
        if self._outages.open or self._subs.refused():
            return "degraded"
        return "running" if self.counters.sessions else "starting"

    @property
    def outage(self) -> Outage | None:
        """The connection outage in progress, if any (lost session or IB's 1100)."""
        return self._outages.open.get(CONNECTION) or self._outages.open.get(GATEWAY)

    @property
    def outages(self) -> dict[str, Outage]:
        """Every open outage by cause (connection, data farms, stale subscriptions, ...)."""
        return dict(self._outages.open)

    def refused(self) -> list[str]:
        """Why each refused subscription of the current session was refused."""
        return self._subs.refused()

    def lacking(self) -> dict[str, dict[str, str]]:
        """symbol -> kind of data -> why the feed gets none (lines, refusals, IB's pacing)."""
        return self._subs.lacking(self._clock.timestamp_ns())

    # ---- the loop ------------------------------------------------------------------------

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
                    self._give_up_on_client_id()
                    log.warning("ibkr connect failed host=%s port=%d client_id=%d: %s",
                                self.config.host, self.config.port, self.config.client_id,
                                _explain(exc, self.config))
                    continue
                failures = 0
                reason = await self._watch(stop)
                if reason is None:
                    break
                self._lose_session(reason)
        finally:
            health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await health
            self._ib.disconnect()
            self._stopped = True
            self._publish_health()
            log.info("ibkr feed stopped %s",
                     " ".join(f"{k}={v}" for k, v in self.counters.as_dict().items()))

    async def _open_session(self) -> None:
        cfg = self.config
        self._lost = None
        self._id_in_use.clear()
        log.info("ibkr connecting host=%s port=%d client_id=%d", cfg.host, cfg.port,
                 cfg.client_id)
        connect = asyncio.ensure_future(self._ib.connectAsync(
            cfg.host, cfg.port, cfg.client_id, timeout=cfg.connect_timeout_s, readonly=True,
            fetchFields=StartupFetchNONE))
        refused = asyncio.ensure_future(self._id_in_use.wait())
        await asyncio.wait({connect, refused}, return_when=asyncio.FIRST_COMPLETED)
        refused.cancel()
        if not connect.done():
            connect.cancel()
            with contextlib.suppress(BaseException):
                await connect
            self._id_refusals += 1
            raise _SessionError(f"client id {cfg.client_id} is in use by another API "
                                "connection (IB error 326)")
        connect.result()
        self._id_refusals = 0
        self._receiver.on_packet()
        log.info("ibkr connected server_version=%d accounts=%s",
                 self._ib.client.serverVersion(), ",".join(self._ib.managedAccounts()))
        self._qualified = await qualify(self._ib, self.instruments, cfg.connect_timeout_s,
                                        self._stamp())
        self.symbols = [q.symbol for q in self._qualified]
        self._subs.plan(self._qualified)
        if not self.counters.sessions:
            self._report_plan()
        self.counters.sessions += 1
        self._resubscribing = True
        self._service(self._clock.timestamp_ns())

    def _give_up_on_client_id(self) -> None:
        cfg = self.config
        if self._id_refusals >= cfg.client_id_tries:
            raise ConfigError(
                f"client id {cfg.client_id} is in use by another API connection to "
                f"{cfg.host}:{cfg.port} (IB error 326, {self._id_refusals} tries): pass "
                "another --client-id or NAUTILUS_IBKR_CLIENT_ID")

    def _report_plan(self) -> None:
        lacking = self._subs.plan_lacking
        if lacking:
            log.warning("ibkr symbols without some data by the line budget (tick-by-tick %d, "
                        "depth %d): %s", self.config.tick_by_tick_lines, self.config.depth_lines,
                        "; ".join(f"{s} {k}: {why}" for s, kinds in lacking.items()
                                  for k, why in kinds.items()))

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
            error = self._publisher.error
            if error is not None:
                raise BrokerError(f"publishing failed: {error}") from error
            self._service(self._clock.timestamp_ns())
            now = time.monotonic()
            idle = now - self._receiver.last_rx
            if idle >= cfg.stall_timeout_s:
                return f"stalled: no data and no heartbeat reply for {idle:.1f} s"
            if idle >= cfg.heartbeat_s and now - pinged >= cfg.heartbeat_s:
                self._ib.client.reqCurrentTime()
                pinged = now

    def _service(self, now_ns: int) -> None:
        """What time brings: due requests, the end of a resubscription, accepted retries,
        stale subscriptions, expired futures, dropped events; then health if it changed."""
        if self._ib.isConnected():
            self._subs.request_due(self._ib, now_ns)
        if self._resubscribing and not self._subs.waiting():
            self._resubscribing = False
            self._outages.end(CONNECTION, self._stamp())
            self._outages.end(GATEWAY, self._stamp())
        for sub in self._subs.confirm(now_ns):
            log.info("ibkr subscription accepted on retry symbol=%s data=%s", sub.symbol,
                     sub.kind)
        self._check_staleness(now_ns)
        for q in self._qualified:
            if q.expires_ns is not None and now_ns >= q.expires_ns:
                raise ConfigError(f"future {q.symbol} expired at {iso(q.expires_ns)}: the "
                                  "feed stops; give the next contract month")
        dropped = self._publisher.dropped
        if dropped > self.counters.dropped:
            log.warning("ibkr publish queue full, events dropped=%d (total %d): the broker "
                        "is not keeping up", dropped - self.counters.dropped, dropped)
            self.counters.dropped = dropped
        self.checked_ns = now_ns
        if self.status != self._published_status:
            self._publish_health()

    def _check_staleness(self, now_ns: int) -> None:
        stale_ns = int(self.config.stale_after_s * NS_PER_S)
        if not stale_ns:
            return
        hours = {q.symbol: q.hours for q in self._qualified}
        for sub in self._subs.by_req.values():
            market = hours.get(sub.symbol)
            opened = market.open_since(now_ns) if market is not None else None
            if opened is None:  # closed (or hours unknown): silence says nothing
                if sub.stale_key in self._outages.open:
                    self._outages.end(sub.stale_key, self._stamp())
            elif now_ns - max(sub.last_data_ns, opened) >= stale_ns:
                self._begin(sub.stale_key, f"no {sub.kind} for "
                            f"{self.config.stale_after_s:.0f} s in market hours", [sub.symbol],
                            by_data=False)

    def _lose_session(self, reason: str) -> None:
        self._subs.end_session()
        self._receiver.end_session()
        self._resubscribing = False
        if GATEWAY not in self._outages.open:
            self._begin(CONNECTION, reason, self.symbols, by_data=False)
        log.warning("ibkr session lost (%s): reconnecting", reason)
        self._publish_health()
        self._ib.disconnect()

    # ---- health --------------------------------------------------------------------------

    def _stamp(self) -> int:
        """Now on the feed's clock, strictly after every earlier stamp: arrival times."""
        self._last_stamp = max(self._clock.timestamp_ns(), self._last_stamp + 1)
        return self._last_stamp

    def _begin(self, key: str, reason: str, symbols: Sequence[str], *, by_data: bool) -> None:
        if self._outages.begin(key, reason, symbols, self._stamp(), by_data=by_data):
            self.counters.outages += 1

    def _publish_alerts(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self._publisher.control(ALERTS_TOPIC, alert.symbol or "", alert)
        if alerts:
            log.warning("ibkr outage %s symbols=%s: %s", alerts[0].state,
                        ",".join(a.symbol or "" for a in alerts), alerts[0].message)

    async def _health_loop(self) -> None:
        while True:
            self._publish_health()
            await asyncio.sleep(self.config.health_interval_s)

    def _publish_health(self) -> None:
        now = self._clock.timestamp_ns()
        c = self.counters
        self._published_status = self.status
        lacking = self._subs.lacking(now)
        counters = c.as_dict() | {
            f"lacking_{kind}": sum(kind in kinds for kinds in lacking.values())
            for kind in ("trades", "quotes", "depth")}
        self._publisher.control(HEALTH_TOPIC, ENGINE, EngineHealth(
            ts_event=now, ts_init=now, engine=ENGINE, worker=self.worker, status=self.status,
            lag=None, events_in=c.ticks_in, events_out=c.events_out, errors=c.errors,
            dead_letters=0, last_event_ts=c.last_event_ts,
        ))
        self._publisher.control(METRICS_TOPIC, ENGINE, EngineMetrics(
            ts_event=now, ts_init=now, engine=ENGINE, worker=self.worker, counters=counters,
        ))

    # ---- what ib_async reports besides data -------------------------------------------

    def _on_disconnected(self) -> None:
        self._lost = self._lost or "connection to TWS / IB Gateway lost"
        self._wake.set()

    def _on_error(self, req_id: int, code: int, message: str, contract: object) -> None:
        sub = self._subs.by_req.get(req_id)
        if code in LIMITS or (code in REFUSALS and sub is not None):
            self._refuse(req_id, sub, code, message)
        elif code == DEPTH_RESET and sub is not None:
            self._receiver.reset_book(sub)
        elif code in BROKEN or code in FIXED or code in (CONNECTIVITY_LOST, RESTORED,
                                                          COMPETING_SESSION):
            self._on_notice(sub, code, message)
        elif code == DATA_LOST:
            self._lost = f"IB lost the market data subscriptions ({code}): resubscribing"
            self._wake.set()
        elif code == CLIENT_ID_IN_USE:
            self.counters.errors += 1
            self._id_in_use.set()
        elif code not in REFUSALS and not 2100 <= code < 2200:  # other 21xx: notices
            self.counters.errors += 1
            log.warning("ibkr error code=%d req_id=%d symbol=%s message=%r", code, req_id,
                        sub.symbol if sub else "-", message)

    def _on_notice(self, sub: Subscription | None, code: int, message: str) -> None:
        """IB's connectivity notices: outages begin and end."""
        farm = farm_of(message)
        if code == CONNECTIVITY_LOST:
            self._begin(GATEWAY, f"IB Gateway lost its connection to IB ({code})",
                        self.symbols, by_data=False)
        elif code == COMPETING_SESSION:
            self._begin(f"competing:{sub.symbol}" if sub else "competing",
                        f"no market data during a competing live session ({code})",
                        [sub.symbol] if sub else self.symbols, by_data=True)
        elif code in BROKEN:
            prefix, what, _ = BROKEN[code]
            self._begin(f"{prefix}:{farm}", f"{what}{': ' + farm if farm else ''} ({code})",
                        self.symbols, by_data=True)
        now = self._stamp()
        if code == RESTORED:
            self._outages.end(GATEWAY, now)
        self._outages.end_where(lambda key: notice_ends(key, code, farm), now)
        self._publish_health()

    def _refuse(self, req_id: int, sub: Subscription | None, code: int, message: str) -> None:
        name, why = LIMITS.get(code) or (
            "no_definition" if code == 200 else "permission", REFUSALS[code])
        self.counters.refused[name] = self.counters.refused.get(name, 0) + 1
        if sub is None:
            log.warning("ibkr request limited req_id=%d code=%d limit=%s: %s (IB: %s)", req_id,
                        code, name, why, message)
            return
        text = f"IB refused {sub.symbol} {sub.kind}: {why} (IB error {code}: {message})"
        told = text == sub.refused
        if self._subs.refuse(sub, code, text, self._clock.timestamp_ns()):
            log.info("ibkr quotes from market data symbol=%s: no tick-by-tick line (IB error "
                     "%d)", sub.symbol, code)
        elif not told:
            log.warning("ibkr subscription refused symbol=%s data=%s code=%d limit=%s: %s "
                        "(IB: %s); asking again in %.0f s", sub.symbol, sub.kind, code, name,
                        why, message, self.config.retry_s)
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
