"""The margin engine's book: every account's positions as one row of slot x instrument
columns, and its newest valuation (PortfolioSnapshot), with the rule that says when the two
describe one state of the account.

Rows are host arrays (numpy): they change one record at a time, in event order, and the
figures are computed from copies of the rows that are due, stacked, on the device
(processors/margin/figures.py). A column is an instrument, added when its symbol first
appears, with its multiplier and scan range from the instruments file.

Per account and symbol the newest Position by event time is kept (an older one, arriving
late, changes nothing; at equal times the later arrival wins), and per account the newest
PortfolioSnapshot likewise. The two topics arrive independently, so an account's newest
snapshot and positions may describe different moments: the snapshot reflects its positions
when it is at least as new as every one of them and its net and gross exposure equal
sum(quantity * mark) and sum(|quantity * mark|) over them (to 1e-9 of the gross, the
precision of float columns). Each snapshot is published once, when it first reflects the
positions (`published`); one replaced by a newer snapshot before that is never published.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from processors.base import State
from processors.margin.instruments import Instruments

MATCH_TOLERANCE = 1e-9  # relative to the gross exposure
NONE = -1  # no position record applied


@dataclass(slots=True)
class Valuation:
    """The fields of an account's newest PortfolioSnapshot the margin engine uses."""

    ts: int
    cash: float
    net: float
    gross: float
    currency: str


@dataclass(slots=True)
class Account:
    """One account: its row, newest valuation and alert episodes (ts of the raising state)."""

    slot: int
    valuation: Valuation | None = None
    published: bool = False
    positions_ts: int = NONE  # the newest ts_event of its positions applied
    call_since: int | None = None
    predicted_since: int | None = None


@dataclass(frozen=True, slots=True)
class Point:
    """A consistent state of one account, due to be published: its row then, and its
    valuation."""

    account: str
    state: Account
    quantity: np.ndarray
    mark: np.ndarray
    valuation: Valuation


class Book:
    """Accounts' rows over instrument columns; grows by doubling."""

    def __init__(self, instruments: Instruments) -> None:
        self.instruments = instruments
        self.accounts: dict[str, Account] = {}
        self.symbols: list[str] = []
        self.column_of: dict[str, int] = {}
        self._free: list[int] = []
        self._exposure: dict[int, tuple[float, float]] = {}  # slot -> (net, gross), cached
        self.quantity = np.zeros((0, 0), np.int64)
        self.mark = np.zeros((0, 0))
        self.ts = np.zeros((0, 0), np.int64)
        self.multiplier = np.zeros(0)
        self.scan_range = np.zeros(0)
        self._grow(16, 8)

    def account(self, name: str) -> Account:
        state = self.accounts.get(name)
        if state is None:
            if not self._free:
                self._grow(2 * self.quantity.shape[0], self.quantity.shape[1])
            state = self.accounts[name] = Account(slot=self._free.pop())
        return state

    def column(self, symbol: str) -> int:
        col = self.column_of.get(symbol)
        if col is None:
            col = len(self.symbols)
            if col == self.quantity.shape[1]:
                self._grow(self.quantity.shape[0], 2 * col)
            spec = self.instruments[symbol]
            self.multiplier[col], self.scan_range[col] = spec.multiplier, spec.scan_range
            self.symbols.append(symbol)
            self.column_of[symbol] = col
        return col

    def apply_position(self, state: Account, symbol: str, quantity: int, mark: float,
                       ts: int) -> bool:
        """Take a Position record unless the account holds a newer one of the symbol."""
        slot, col = state.slot, self.column(symbol)
        if ts < self.ts[slot, col]:
            return False
        self.quantity[slot, col], self.mark[slot, col], self.ts[slot, col] = quantity, mark, ts
        state.positions_ts = max(state.positions_ts, ts)
        self._exposure.pop(slot, None)
        return True

    @staticmethod
    def apply_valuation(state: Account, valuation: Valuation) -> bool:
        """Take a snapshot's valuation unless the account holds a newer one."""
        if state.valuation is not None and valuation.ts < state.valuation.ts:
            return False
        state.valuation, state.published = valuation, False
        return True

    def due(self, name: str, state: Account) -> Point | None:
        """The account's state to publish, if its valuation reflects its positions and was
        not published yet (then it is marked published)."""
        valuation = state.valuation
        if valuation is None or state.published or valuation.ts < state.positions_ts:
            return None
        net, gross = self.exposure(state.slot)
        tolerance = MATCH_TOLERANCE * max(1.0, gross, valuation.gross)
        if abs(net - valuation.net) > tolerance or abs(gross - valuation.gross) > tolerance:
            return None
        state.published = True
        n = len(self.symbols)
        return Point(name, state, self.quantity[state.slot, :n].copy(),
                     self.mark[state.slot, :n].copy(), valuation)

    def exposure(self, slot: int) -> tuple[float, float]:
        """(sum(quantity * mark), sum(|quantity * mark|)) of a row, kept until it changes."""
        sums = self._exposure.get(slot)
        if sums is None:
            n = len(self.symbols)
            values = self.quantity[slot, :n] * self.mark[slot, :n]
            sums = self._exposure[slot] = (float(values.sum()), float(np.abs(values).sum()))
        return sums

    # ---- state ----------------------------------------------------------------------------

    def snapshot(self, name: str) -> State:
        state = self.accounts[name]
        held = np.flatnonzero(self.ts[state.slot, :len(self.symbols)] != NONE)
        v = state.valuation
        return {
            "positions": {self.symbols[c]: [int(self.quantity[state.slot, c]),
                                            float(self.mark[state.slot, c]),
                                            int(self.ts[state.slot, c])] for c in held},
            "valuation": None if v is None else [v.ts, v.cash, v.net, v.gross, v.currency],
            "published": state.published,
            "alerts": {"margin_call": state.call_since,
                       "margin_call_predicted": state.predicted_since},
        }

    def restore(self, name: str, saved: State) -> None:
        self.forget(name)
        state = self.account(name)
        for symbol, (quantity, mark, ts) in saved["positions"].items():
            self.apply_position(state, symbol, int(quantity), float(mark), int(ts))
        if saved["valuation"] is not None:
            ts, cash, net, gross, currency = saved["valuation"]
            state.valuation = Valuation(int(ts), float(cash), float(net), float(gross), currency)
        state.published = bool(saved["published"])
        state.call_since = saved["alerts"]["margin_call"]
        state.predicted_since = saved["alerts"]["margin_call_predicted"]

    def forget(self, name: str) -> None:
        state = self.accounts.pop(name, None)
        if state is not None:
            self._exposure.pop(state.slot, None)
            self.quantity[state.slot] = 0
            self.mark[state.slot] = 0.0
            self.ts[state.slot] = NONE
            self._free.append(state.slot)

    def _grow(self, slots: int, columns: int) -> None:
        old_slots, old_columns = self.quantity.shape

        def grown(old: np.ndarray, fill: float) -> np.ndarray:
            new = np.full((slots, columns), fill, dtype=old.dtype)
            new[:old_slots, :old_columns] = old
            return new

        self.quantity = grown(self.quantity, 0)
        self.mark = grown(self.mark, 0.0)
        self.ts = grown(self.ts, NONE)
        self.multiplier = np.resize(self.multiplier, columns)
        self.scan_range = np.resize(self.scan_range, columns)
        self._free.extend(range(slots - 1, old_slots - 1, -1))
