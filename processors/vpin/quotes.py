"""Lee & Ready (1991) classification against market.quotes.

A trade is a buy when its price is above the midpoint of the symbol's latest quote at or
before its reference time `ts_event - quote_lag_ms` (of quotes with equal timestamps, the
last to arrive), a sell when below; at the midpoint, or when no such quote is known, the
tick rule decides (trades it cannot classify yet are not bucketed; `unquoted_trades` counts
trades classified without a quote). A quote older than one of its symbol that arrived
before it is stale: counted (`stale_quotes`) and dropped, since trades may have been
classified against the newer one already.

A trade whose quote may not have arrived yet waits: quotes and trades come on different
topics, so a trade is classified only once a quote of its symbol newer than its reference
time has arrived (a symbol's quotes arrive in event order, so no quote at or before it can
follow), once the clock passes the reference time plus `grace_ms` (`settle(now_ns)`), or at
the end of input. A symbol's waiting trades leave in arrival order. Quotes are kept for
`quote_lag_ms + grace_ms` behind the symbol's newest quote, plus the one before: a trade
that arrives later than that behind its quote stream finds none and takes the tick rule.
"""

from __future__ import annotations

import torch
from torch import Tensor

from processors.kit.segments import cumsum, ends_of, running_max_any, starts_of
from processors.kit.tensors import KeyTable, RowStore, SlotField
from processors.kit.timebars import Trades
from processors.vpin.classify import TickRule
from processors.vpin.rows import Pours

QUOTE_FIELDS = {
    "newest_quote": SlotField(torch.int64, -1),
    "unquoted_trades": SlotField(torch.int64, 0),
    "stale_quotes": SlotField(torch.int64, 0),
}
QUOTE_COLUMNS = ("ts", "mid")
PENDING_COLUMNS = ("ts", "price", "size", "tick")


class LeeReady:
    """Quotes and trades in; trades whose quote is settled out, classified."""

    def __init__(self, table: KeyTable, tick: TickRule, quote_lag_ms: int,
                 grace_ms: int) -> None:
        self._t = table
        self._tick = tick
        self._lag_ns = quote_lag_ms * 1_000_000
        self._grace_ns = grace_ms * 1_000_000
        floats, device = table.float_dtype, table.device
        self.quotes = RowStore({"ts": torch.int64, "mid": floats}, device)
        self.pending = RowStore(
            {"ts": torch.int64, "price": floats, "size": torch.int64, "tick": torch.int8}, device
        )

    def add_trades(self, trades: Trades) -> Pours:
        tick = self._tick.signs(trades.slot, trades.price)
        self.pending.append({"slot": trades.slot, "ts": trades.ts, "price": trades.price,
                             "size": trades.size, "tick": tick})
        return self._release(None, everything=False)[0]

    def add_quotes(self, slot: Tensor, ts: Tensor, mid: Tensor) -> Pours:
        """Quotes grouped by slot, in arrival order."""
        newest = torch.maximum(ts, self._t["newest_quote"][slot])
        fresh = ts >= running_max_any(newest, starts_of(slot))
        stale = slot[~fresh]
        self._t["stale_quotes"].index_add_(0, stale, torch.ones_like(stale))
        slot, ts, mid = slot[fresh], ts[fresh], mid[fresh]
        self.quotes.append({"slot": slot, "ts": ts, "mid": mid}, sort_by="ts")
        self._t["newest_quote"].scatter_reduce_(0, slot, ts, "amax")
        pours, _ = self._release(None, everything=False)
        self._trim()
        return pours

    def settle(self, now_ns: int | None) -> tuple[Pours, Tensor]:
        return self._release(now_ns, everything=now_ns is None)

    def _release(self, now_ns: int | None, everything: bool) -> tuple[Pours, Tensor]:
        """Classify the waiting trades whose quote is settled (by a newer quote, or by the
        clock at `now_ns`), or all of them; also return the slots of the released trades."""
        slot, ts = self.pending["slot"], self.pending["ts"]
        reference = ts - self._lag_ns
        ready = reference < self._t["newest_quote"][slot]
        if now_ns is not None:
            ready |= reference + self._grace_ns <= now_ns
        if everything:
            ready = torch.ones_like(ready)
        blocked = cumsum((~ready).long(), starts_of(slot)) > 0
        released = self.pending.take(~blocked)
        return self._classify(released), released["slot"]

    def _classify(self, waiting: dict[str, Tensor]) -> Pours:
        trades = Trades(waiting["slot"], waiting["ts"], waiting["price"], waiting["size"])
        mid, found = self._latest_mid(trades.slot, trades.ts - self._lag_ns)
        by_quote = torch.sign(trades.price - mid).to(torch.int8)
        side = torch.where(found & (by_quote != 0), by_quote, waiting["tick"])
        unquoted = trades.slot[~found]
        self._t["unquoted_trades"].index_add_(0, unquoted, torch.ones_like(unquoted))
        return Pours.whole_trades(trades, side)

    def _latest_mid(self, slot: Tensor, reference: Tensor) -> tuple[Tensor, Tensor]:
        """Midpoint of each query's latest kept quote of its slot at or before `reference`."""
        q_slot, q_ts, q_mid = self.quotes["slot"], self.quotes["ts"], self.quotes["mid"]
        if q_slot.shape[0] == 0:
            return torch.zeros_like(reference, dtype=q_mid.dtype), torch.zeros_like(slot) > 0
        # Kept quotes are ordered by (slot, ts); with times as dense ranks, (slot, time) is one
        # sortable integer and the answer is the last quote key <= the query's key.
        times, rank = torch.unique(torch.cat([q_ts, reference]), return_inverse=True)
        span = times.shape[0]
        quote_key = q_slot * span + rank[: q_slot.shape[0]]
        query_key = slot * span + rank[q_slot.shape[0]:]
        latest = torch.searchsorted(quote_key, query_key, right=True) - 1
        at = latest.clamp(min=0)
        found = (latest >= 0) & (q_slot[at] == slot)
        return q_mid[at], found

    def _trim(self) -> None:
        """Keep each slot's quotes newer than newest - (lag + grace), and the one before."""
        slot, ts = self.quotes["slot"], self.quotes["ts"]
        cutoff = self._t["newest_quote"][slot] - (self._lag_ns + self._grace_ns)
        newer = ts > cutoff
        anchor = ~newer & (ends_of(starts_of(slot)) | newer.roll(-1))
        self.quotes.keep(newer | anchor)
