"""A session's subscriptions: planned within the line budget, requested when IB's pacing allows,
asked for again after a refusal, and reported when data is missing.

A refused subscription (a limit, a permission, no security definition) waits `retry_s` and is
requested again on the same connection, so lines another application gives back are taken up
without a reconnect. In `auto` quote mode, tick-by-tick quotes refused for want of lines
(10190) fall back to reqMktData at once. Tick-by-tick requests keep IB's 15 s per instrument
and tick type (`lines.TickByTickPacer`), across reconnects.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from streams.feeds.ibkr.book import DepthBook
from streams.feeds.ibkr.client import FeedIB
from streams.feeds.ibkr.config import IbkrConfig
from streams.feeds.ibkr.lines import TickByTickPacer, plan_lines
from streams.feeds.ibkr.mapping import NS_PER_S
from streams.feeds.ibkr.qualify import Qualified
from streams.feeds.ibkr.state import Subscription, TopOfBook

log = logging.getLogger(__name__)

TBT_LIMIT = 10190
ACCEPTED_AFTER_NS = 5 * NS_PER_S  # IB refuses within a second or two; later silence is consent


class Subscriptions:
    """The planned subscriptions of the current session, by IB request id once requested."""

    def __init__(self, config: IbkrConfig) -> None:
        self._config = config
        self._pacer = TickByTickPacer(gap_ns=int(config.tick_by_tick_gap_s * NS_PER_S))
        self.planned: list[Subscription] = []
        self.by_req: dict[int, Subscription] = {}
        self.plan_lacking: dict[str, dict[str, str]] = {}

    def plan(self, qualified: Sequence[Qualified]) -> None:
        """A new session's subscriptions, none requested yet."""
        cfg = self._config
        plan = plan_lines([(q.symbol, q.contract.secType != "CASH") for q in qualified],
                          tick_by_tick=cfg.tick_by_tick_lines, depth=cfg.depth_lines,
                          quotes=cfg.quotes, depth_rows=cfg.depth_rows)
        contracts = {q.symbol: q.contract for q in qualified}
        self.planned = [Subscription(w.symbol, w.kind, w.source, contracts[w.symbol])
                        for w in plan.wants]
        self.by_req = {}
        self.plan_lacking = plan.lacking

    def end_session(self) -> None:
        """The connection is gone, and every subscription with it."""
        for sub in self.planned:
            sub.req_id = None
        self.by_req = {}

    def request_due(self, ib: FeedIB, now_ns: int) -> None:
        """Request every subscription that is not live and may be requested now."""
        for sub in self.planned:
            if sub.req_id is None and now_ns >= max(sub.due_ns, self._allowed_at(sub)):
                self._request(ib, sub, now_ns)

    def refuse(self, sub: Subscription, code: int, text: str, now_ns: int) -> bool:
        """IB refused `sub`; True when it falls back to reqMktData instead of waiting."""
        self.by_req.pop(sub.req_id or -1, None)
        sub.req_id = None
        fallback = (code == TBT_LIMIT and sub.kind == "quotes" and sub.source == "tick-by-tick"
                    and self._config.quotes == "auto")
        if fallback:
            sub.source, sub.due_ns = "market-data", now_ns
        else:
            sub.refused, sub.due_ns = text, now_ns + int(self._config.retry_s * NS_PER_S)
        return fallback

    def confirm(self, now_ns: int) -> list[Subscription]:
        """Retried subscriptions IB has not refused for a while: accepted. Returned."""
        done = [s for s in self.planned if s.refused and s.req_id is not None
                and now_ns - s.requested_ns >= ACCEPTED_AFTER_NS]
        for sub in done:
            sub.refused = None
        return done

    def waiting(self) -> bool:
        """Some subscription is neither live nor refused: the session is not complete yet."""
        return any(s.req_id is None and not s.refused for s in self.planned)

    def refused(self) -> list[str]:
        return [s.refused for s in self.planned if s.refused]

    def lacking(self, now_ns: int) -> dict[str, dict[str, str]]:
        """symbol -> kind -> why no data of that kind is coming."""
        out = {symbol: dict(kinds) for symbol, kinds in self.plan_lacking.items()}
        for sub in self.planned:
            if sub.refused:
                wait_s = max(0, sub.due_ns - now_ns) / NS_PER_S
                why = (sub.refused if sub.req_id is not None
                       else f"{sub.refused}; asking again in {wait_s:.0f} s")
            elif sub.req_id is None and self._allowed_at(sub) > now_ns:
                why = "waiting for IB's 15 s between tick-by-tick requests for one instrument"
            elif sub.req_id is None:
                why = "not subscribed (yet)"
            else:
                continue
            out.setdefault(sub.symbol, {})[sub.kind] = why
        return out

    def _allowed_at(self, sub: Subscription) -> int:
        if sub.source != "tick-by-tick":
            return 0
        return self._pacer.allowed_at(sub.contract.conId, _tick_type(sub))

    def _request(self, ib: FeedIB, sub: Subscription, now_ns: int) -> None:
        contract, cfg = sub.contract, self._config
        if sub.source == "tick-by-tick":
            req_id = ib.request_tick_by_tick(contract, _tick_type(sub))
            self._pacer.requested(contract.conId, _tick_type(sub), now_ns)
        elif sub.source == "depth":
            smart = cfg.smart_depth and contract.exchange == "SMART"
            req_id = ib.request_depth(contract, cfg.depth_rows, smart)
            sub.book = DepthBook(smart)
        else:
            req_id = ib.request_market_data(contract)
            sub.top = TopOfBook()
        sub.req_id, sub.requested_ns, sub.last_data_ns = req_id, now_ns, now_ns
        sub.changed_ns = None
        self.by_req[req_id] = sub
        log.info("ibkr subscribed symbol=%s data=%s source=%s req_id=%d venue=%s", sub.symbol,
                 sub.kind, sub.source, req_id, sub.venue)


def _tick_type(sub: Subscription) -> str:
    return "AllLast" if sub.kind == "trades" else "BidAsk"
