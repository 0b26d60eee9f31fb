"""The VPIN engine: market.trades (+ market.quotes for Lee-Ready) -> logic.vpin, alerts."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import torch

from processors.base import Emit, Engine, State, handles
from processors.kit.keyed import key_codes
from processors.kit.tensors import KeyTable, SlotField
from processors.kit.timebars import BAR_FIELDS, Trades
from processors.vpin.alerts import ALERT_FIELDS, Hysteresis, Transitions
from processors.vpin.buckets import SCALE, Buckets, bucket_fields
from processors.vpin.classify import (
    TICK_FIELDS,
    BulkVolume,
    Classifier,
    TickRule,
    bvc_fields,
)
from processors.vpin.params import VpinParams
from processors.vpin.quotes import PENDING_COLUMNS, QUOTE_COLUMNS, QUOTE_FIELDS, LeeReady
from processors.vpin.rows import Completed, Pours
from streams.clock import Clock
from streams.schema import Alert, VpinReading

log = logging.getLogger(__name__)

TRADES = "market.trades"
QUOTES = "market.quotes"
VPIN_TOPIC = "logic.vpin"
ALERT_TOPIC = "logic.risk.alerts"


class VpinEngine(Engine):
    """Per-symbol VPIN over volume buckets, with toxicity alerts (processors/vpin/__init__)."""

    name = "vpin"
    outputs = (VPIN_TOPIC, ALERT_TOPIC)
    params_model = VpinParams

    def __init__(self, params: VpinParams, clock: Clock, device: torch.device) -> None:
        super().__init__(params, clock, device)
        self.params: VpinParams = params
        self._table = KeyTable(_fields(params), device)
        self._classifier = _classifier(params, self._table)
        self._lee_ready = self._classifier if isinstance(self._classifier, LeeReady) else None
        self._buckets = Buckets(self._table)
        self._alerts = Hysteresis(self._table, params.alert_cdf, params.clear_cdf)

    @property
    def late_trades(self) -> int:
        """Trades dropped because their bar had closed (BVC)."""
        return self._table.total("late_trades")

    @property
    def unquoted_trades(self) -> int:
        """Lee-Ready trades classified without a quote (by the tick rule)."""
        return self._table.total("unquoted_trades")

    @property
    def stale_quotes(self) -> int:
        """Lee-Ready quotes dropped because a newer quote of their symbol came first."""
        return self._table.total("stale_quotes")

    # ---- input ----------------------------------------------------------------------------

    @handles(TRADES)
    def on_trades(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        if not len(columns["symbol"]):
            return []
        if not self.params.include_unreported and columns["unreported"].any():
            regular = ~columns["unreported"]
            columns = {name: column[regular] for name, column in columns.items()}
            if not len(columns["symbol"]):
                return []
        slot, order = self._group(columns["symbol"])
        trades = Trades(slot, self._tensor(columns["ts_event"], order),
                        self._tensor(columns["price"], order, self._table.float_dtype),
                        self._tensor(columns["size"], order))
        return self._emit(self._classifier.add_trades(trades))

    @handles(QUOTES)
    def on_quotes(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        if self._lee_ready is None or not len(columns["symbol"]):
            return []
        slot, order = self._group(columns["symbol"])
        floats = self._table.float_dtype
        mid = (self._tensor(columns["bid_price"], order, floats)
               + self._tensor(columns["ask_price"], order, floats)) * 0.5
        ts = self._tensor(columns["ts_event"], order)
        return self._emit(self._lee_ready.add_quotes(slot, ts, mid))  # type: ignore[union-attr]

    def _group(self, symbols: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """Slots of a batch's rows, grouped by symbol (arrival order kept), and that order."""
        codes, names = key_codes(symbols)
        slots, new = self._table.slots(names)
        for symbol in new:
            self._table["bucket_volume"][self._table.slot_of[symbol]] = (
                self.params.bucket_volume_for(symbol))
        for symbol in names:
            self.mark_dirty(symbol)
        row_slot = slots[codes]
        order = np.argsort(row_slot, kind="stable")
        return torch.from_numpy(row_slot[order]).to(self.device), order

    def _tensor(self, column: np.ndarray, order: np.ndarray,
                dtype: torch.dtype | None = None) -> torch.Tensor:
        return torch.from_numpy(column[order]).to(self.device, dtype)

    # ---- time -----------------------------------------------------------------------------

    def on_time(self, now_ns: int) -> list[Emit]:
        return self._settle(now_ns)

    def flush(self) -> list[Emit]:
        return self._settle(None)

    def _settle(self, now_ns: int | None) -> list[Emit]:
        """Close due bars (BVC) or classify trades whose quote is settled (Lee-Ready)."""
        pours, touched = self._classifier.settle(now_ns)
        names = self._table.key_array()
        for slot in torch.unique(touched).tolist():
            self.mark_dirty(names[slot])
        return self._emit(pours)

    # ---- output ---------------------------------------------------------------------------

    def _emit(self, pours: Pours) -> list[Emit]:
        if len(pours) == 0:
            return []
        done = self._buckets.pour(pours)
        if len(done) == 0:
            return []
        # Alerts ignore the CDF until the symbol has `alert_min_history` VPIN values.
        trusted = torch.where(done.history >= self.params.alert_min_history, done.cdf, torch.nan)
        moves = self._alerts.update(done.slot, done.bucket, done.ts, trusted)
        return self._events(done, moves)

    def _events(self, done: Completed, moves: Transitions) -> list[Emit]:
        now = self.clock.timestamp_ns()
        symbols = self._table.key_array()[done.slot.cpu().numpy()]
        volumes = self._table["bucket_volume"][done.slot].tolist()
        n = self.params.window
        emits = []
        episodes = zip(moves.episode_ts.tolist(), moves.episode.tolist(), strict=True)
        for symbol, bucket, ts, buy, window_sum, cdf, volume, raised, cleared, episode in zip(
            symbols, done.bucket.tolist(), done.ts.tolist(), done.buy.tolist(),
            done.window_sum.tolist(), done.cdf.tolist(), volumes, moves.raised.tolist(),
            moves.cleared.tolist(), episodes, strict=True,
        ):
            full = volume * SCALE
            vpin = None if window_sum < 0 else window_sum / (n * full)
            reading = VpinReading(
                ts_event=ts, ts_init=now, symbol=symbol, bucket=bucket, bucket_volume=volume,
                buy_volume=buy / SCALE, sell_volume=(full - buy) / SCALE,
                vpin=vpin, vpin_cdf=None if vpin is None else cdf,
            )
            emits.append(Emit(VPIN_TOPIC, symbol, reading))
            if raised or cleared:
                emits.append(Emit(ALERT_TOPIC, symbol, self._alert(reading, raised, episode)))
        return emits

    def _alert(self, reading: VpinReading, raised: bool, episode: tuple[int, int]) -> Alert:
        """The transition of the episode raised by bucket `episode` = (ts_event, bucket)."""
        p = self.params
        vpin, cdf = reading.vpin or 0.0, reading.vpin_cdf or 0.0
        if raised:
            message = f"VPIN {vpin:.4f} at CDF {cdf:.3f} reached {p.alert_cdf}: toxic flow"
        else:
            message = f"VPIN {vpin:.4f} at CDF {cdf:.3f} fell below {p.clear_cdf}"
        return Alert(
            ts_event=reading.ts_event, ts_init=reading.ts_init,
            alert_id=f"vpin:{reading.symbol}:{episode[0]}:{episode[1]}", kind="vpin",
            state="raised" if raised else "cleared",
            severity="warning" if raised else "info", symbol=reading.symbol, message=message,
            values={"vpin": vpin, "vpin_cdf": cdf, "bucket": float(reading.bucket)},
        )

    # ---- state ----------------------------------------------------------------------------

    def keys(self) -> list[str]:
        return list(self._table.slot_of)

    def snapshot(self, key: str) -> State:
        slot = self._table.slot_of[key]
        state: State = self._table.snapshot(slot)
        if self._lee_ready is not None:
            state["quotes"] = self._lee_ready.quotes.rows_of(slot, QUOTE_COLUMNS)
            state["pending"] = self._lee_ready.pending.rows_of(slot, PENDING_COLUMNS)
        return state

    def restore(self, key: str, state: State) -> None:
        slot = int(self._table.slots([key])[0][0])
        self._table.restore(slot, state)
        configured = self.params.bucket_volume_for(key)
        if int(self._table["bucket_volume"][slot]) != configured:
            self._restart_buckets(key, slot, configured)
        if self._lee_ready is not None:
            self._lee_ready.quotes.replace_slot(slot, state.get("quotes", []), QUOTE_COLUMNS)
            self._lee_ready.pending.replace_slot(slot, state.get("pending", []), PENDING_COLUMNS)

    def _restart_buckets(self, key: str, slot: int, volume: int) -> None:
        """State saved under another V: its buckets are not comparable; start a new series
        (bucket numbers go on, so ids stay unique; classification state is kept)."""
        t = self._table
        log.warning("vpin bucket volume changed, restarting buckets symbol=%s old=%d new=%d",
                    key, int(t["bucket_volume"][slot]), volume)
        t["bucket_volume"][slot] = volume
        t["fill"][slot] = 0
        t["fill_buy"][slot] = 0
        t["series_start"][slot] = t["buckets"][slot]
        t["vpin_count"][slot] = 0

    def forget(self, key: str) -> None:
        slot = self._table.release(key)
        if slot is not None and self._lee_ready is not None:
            self._lee_ready.quotes.replace_slot(slot, [], QUOTE_COLUMNS)
            self._lee_ready.pending.replace_slot(slot, [], PENDING_COLUMNS)
        self._dirty.discard(key)


def _classifier(params: VpinParams, table: KeyTable) -> Classifier:
    if params.classification == "bvc":
        return BulkVolume(table, params.bar_seconds, params.grace_ms)
    tick = TickRule(table)
    if params.classification == "tick":
        return tick
    return LeeReady(table, tick, params.quote_lag_ms, params.grace_ms)


def _fields(params: VpinParams) -> dict[str, SlotField]:
    """The per-slot state this configuration needs."""
    fields = {**bucket_fields(params.window, params.cdf_window), **ALERT_FIELDS}
    if params.classification == "bvc":
        return {**BAR_FIELDS, **bvc_fields(params.sigma_bars), **fields}
    if params.classification == "tick":
        return {**TICK_FIELDS, **fields}
    return {**TICK_FIELDS, **QUOTE_FIELDS, **fields}
