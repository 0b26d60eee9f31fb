"""Positions and portfolio valuation per account, from fills and bar closes, exactly.

Inputs: market.executions (our fills, re-keyed to the account by the runtime) and
market.bars.1m (marks: a bar's close). The bars carry no account, and every account needs
every symbol's marks, so the engine reads them as a broadcast input (`processors.base`):
every instance gets every bar and applies it to the accounts it holds.

Accounting, per account, netting (one position per symbol), in Decimal, nothing rounded but
the cost basis given up by a partial reduce (half-even to 9 decimals):
- a fill that opens or adds moves `quantity` and the cost basis (signed, `sum(q * price)`;
  the average price is cost / quantity and excludes fees);
- a fill that reduces realizes (fill - average) * closed quantity on the closed part (short:
  (average - fill) * closed), removing the closed part's share of the cost basis (all of it
  on a close); a flip closes the whole position and opens the rest at the fill price;
- the fee (`commission`) is paid in cash and charged to realized P&L at the fill;
- cash -= signed quantity * price + fee; unrealized = quantity * mark - cost basis;
  equity = cash + sum(quantity * mark), so equity - starting cash = realized + unrealized
  holds exactly (the rounding of a removed cost share moves realized and unrealized by the
  same amount). `realized_pnl` of a position is its symbol's since the account's first fill
  (NautilusTrader resets it per netting cycle and keeps the closed cycles in snapshots; the
  sum over cycles is this), and the account's is the sum over its symbols.

Marks: the mark of a position is the price of the newest event of its symbol by event time,
a bar's close or the account's own fill, a bar winning over a fill of the same ts_event (a
bar-model fill is dated at the bar's end but priced at its open). So a bar older than the
mark, or one already applied, changes nothing: re-reading the bars is harmless, and the
marks do not depend on how the two inputs interleave. The newest close of every symbol is
kept (broadcast state, not a key's: rebuilt by re-reading the topic), so a position opened
after its symbol's bar of the same or a later time is marked by that bar.

Outputs, partitioned by account: logic.positions, one Position per fill of the symbol and
per bar that moves the mark of a non-zero position, keyed `<account>/<symbol>` (the topic is
compacted: it keeps each position's newest record); logic.portfolio, one PortfolioSnapshot per fill
and per such bar (a bar of a symbol the account holds; a flat position's mark does not move
equity, so it publishes nothing). Each is dated at the newest ts_event its position (or
account) has applied: the fill's or bar's in event-time order (replay); in a live worker an
account's fills of different symbols arrive from different partitions, so one may come
after a later one, and its records then keep the later date, so the newest record is always
the latest state.

A fill delivered twice (at least once: a worker killed between publishing a fill and saving
its state publishes it again) is applied once: each account remembers the executions it
applied by id (processors/kit/applied.py) and skips, with a log line, one it has.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from processors.base import Emit, Engine, State, handles
from processors.kit.applied import AppliedFills
from processors.prices import decimal_of, rounded
from streams.schema import PortfolioSnapshot, Position

log = logging.getLogger(__name__)

POSITIONS, PORTFOLIO = "logic.positions", "logic.portfolio"
# Decimal digits for the exact arithmetic: prices and fees are at most 15 significant digits
# (they travel through float64 columns), quantities int64; sums of products stay far below.
EXACT_DIGITS = 60
BAR, FILL = 1, 0  # a mark's source: at equal ts_event a bar's close wins over a fill price
Rank = tuple[int, int]  # (ts_event, source)


class PortfolioParams(BaseModel):
    """Parameters of the portfolio engine."""

    model_config = ConfigDict(frozen=True, extra="forbid",
                              json_schema_extra={"examples": [{"cash": "25000.50",
                                                               "currency": "EUR"}]})

    cash: Decimal = Field(default=Decimal(1_000_000), ge=0, allow_inf_nan=False,
                          description="starting cash of every account")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$",
                          description="the accounts' currency (ISO 4217), on every snapshot")


@dataclass(slots=True)
class _Holding:
    """One account's position in one symbol."""

    quantity: int = 0
    cost: Decimal = Decimal(0)  # signed cost basis of the open quantity, fees excluded
    realized: Decimal = Decimal(0)  # net of fees
    mark: Decimal = Decimal(0)
    mark_rank: Rank = (-1, FILL)
    ts: int = 0  # the newest ts_event applied: what its records are dated

    def fill(self, side: int, quantity: int, price: Decimal, fee: Decimal) -> None:
        self.realized -= fee
        held = self.quantity
        if held == 0 or (held > 0) == (side > 0):
            self.quantity += side * quantity
            self.cost += side * quantity * price
            return
        closed = min(quantity, abs(held))
        if closed == abs(held):
            removed = self.cost
        else:
            removed = rounded(Fraction(self.cost) * closed / abs(held))
        direction = 1 if held > 0 else -1
        self.realized += direction * closed * price - removed
        self.cost -= removed
        self.quantity += side * closed
        rest = quantity - closed
        if rest:
            self.quantity += side * rest
            self.cost += side * rest * price

    def remark(self, price: Decimal, rank: Rank) -> bool:
        """Take `price` as the mark if it is newer than the mark held; whether it was."""
        if rank <= self.mark_rank:
            return False
        self.mark, self.mark_rank = price, rank
        return True

    @property
    def value(self) -> Decimal:
        return self.quantity * self.mark

    @property
    def unrealized(self) -> Decimal:
        return self.value - self.cost


@dataclass(slots=True)
class _Account:
    cash: Decimal
    fills: int = 0
    ts: int = 0  # the newest ts_event applied: what its snapshots are dated
    holdings: dict[str, _Holding] = field(default_factory=dict)
    applied: AppliedFills = field(default_factory=AppliedFills)  # fills delivered twice


class PortfolioEngine(Engine):
    """market.executions + market.bars.1m (marks) -> logic.positions, logic.portfolio."""

    name = "portfolio"
    outputs = (POSITIONS, PORTFOLIO)
    key_field = "account"
    params_model = PortfolioParams

    def __init__(self, params: PortfolioParams, clock, device) -> None:  # type: ignore[no-untyped-def]
        super().__init__(params, clock, device)
        self._cash, self._currency = params.cash, params.currency
        self._accounts: dict[str, _Account] = {}
        self._holders: dict[str, set[str]] = {}  # symbol -> accounts with a non-zero position
        self._closes: dict[str, tuple[Rank, Decimal]] = {}  # symbol -> newest bar close

    @handles("market.bars.1m", broadcast=True)
    def on_bars(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        emits: list[Emit] = []
        with localcontext(prec=EXACT_DIGITS):
            for symbol, ts, close in zip(columns["symbol"].tolist(), columns["ts_event"].tolist(),
                                         columns["close"].tolist(), strict=True):
                rank, price = (ts, BAR), decimal_of(close)
                if rank > self._closes.get(symbol, ((-1, FILL), price))[0]:
                    self._closes[symbol] = (rank, price)
                for account in sorted(self._holders.get(symbol, ())):
                    if self._accounts[account].holdings[symbol].remark(price, rank):
                        self.mark_dirty(account)
                        emits += self._publish(account, symbol, ts)
        return emits

    @handles("market.executions")
    def on_executions(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        emits: list[Emit] = []
        rows = zip(columns["account"].tolist(), columns["symbol"].tolist(),
                   columns["ts_event"].tolist(), columns["side"].tolist(),
                   columns["quantity"].tolist(), columns["price"].tolist(),
                   columns["commission"].tolist(), columns["exec_id"].tolist(),
                   columns["order_id"].tolist(), strict=True)
        with localcontext(prec=EXACT_DIGITS):
            for account, symbol, ts, side, quantity, price, commission, exec_id, order_id in rows:
                book = self._accounts.setdefault(account, _Account(cash=self._cash))
                if not book.applied.first_time(exec_id, order_id):
                    log.info("execution applied already, skipped account=%s exec_id=%s",
                             account, exec_id)
                    continue
                emits += self._fill(book, account, symbol, ts, side, quantity,
                                    decimal_of(price), decimal_of(commission))
        return emits

    def _fill(self, book: _Account, account: str, symbol: str, ts: int, side: int,
              quantity: int, price: Decimal, fee: Decimal) -> list[Emit]:
        holding = book.holdings.setdefault(symbol, _Holding())
        holding.fill(side, quantity, price, fee)
        book.cash -= side * quantity * price + fee
        book.fills += 1
        holding.remark(price, (ts, FILL))
        newest = self._closes.get(symbol)
        if newest is not None:
            holding.remark(newest[1], newest[0])
        self._index(account, symbol, holding)
        self.mark_dirty(account)
        return self._publish(account, symbol, ts)

    def _date(self, book: _Account, holding: _Holding, ts: int) -> tuple[int, int]:
        """The dates of the records of `holding` and `book` after an event at `ts`."""
        holding.ts, book.ts = max(holding.ts, ts), max(book.ts, ts)
        return holding.ts, book.ts

    def _index(self, account: str, symbol: str, holding: _Holding) -> None:
        holders = self._holders.setdefault(symbol, set())
        if holding.quantity:
            holders.add(account)
        else:
            holders.discard(account)

    def _publish(self, account: str, symbol: str, ts: int) -> list[Emit]:
        book, now = self._accounts[account], self.clock.timestamp_ns()
        holding = book.holdings[symbol]
        position_ts, account_ts = self._date(book, holding, ts)
        position = Position(
            ts_event=position_ts, ts_init=now, account=account, symbol=symbol,
            quantity=holding.quantity,
            avg_price=rounded(Fraction(holding.cost) / holding.quantity) if holding.quantity
            else Decimal(0),
            realized_pnl=holding.realized, mark=holding.mark, unrealized_pnl=holding.unrealized,
        )
        net = gross = unrealized = realized = Decimal(0)
        for h in book.holdings.values():  # one pass, the sums in holding order
            value = h.quantity * h.mark
            net += value
            gross += abs(value)
            unrealized += value - h.cost
            realized += h.realized
        snapshot = PortfolioSnapshot(
            ts_event=account_ts, ts_init=now, account=account, currency=self._currency,
            equity=book.cash + net, cash=book.cash, gross_exposure=gross, net_exposure=net,
            unrealized_pnl=unrealized, realized_pnl=realized,
        )
        return [Emit(POSITIONS, f"{account}/{symbol}", position, partition_key=account),
                Emit(PORTFOLIO, account, snapshot)]

    # ---- state ------------------------------------------------------------------------

    def keys(self) -> list[str]:
        return list(self._accounts)

    def snapshot(self, key: str) -> State:
        book = self._accounts[key]
        return {
            "cash": str(book.cash),
            "fills": book.fills,
            "ts": book.ts,
            "applied": book.applied.snapshot(),
            "holdings": {
                symbol: {"quantity": h.quantity, "cost": str(h.cost), "realized": str(h.realized),
                         "mark": str(h.mark), "mark_rank": list(h.mark_rank), "ts": h.ts}
                for symbol, h in book.holdings.items()
            },
        }

    def restore(self, key: str, state: State) -> None:
        self.forget(key)
        book = _Account(cash=Decimal(state["cash"]), fills=int(state["fills"]),
                        ts=int(state["ts"]), applied=AppliedFills(state.get("applied")))
        for symbol, h in state["holdings"].items():
            holding = _Holding(quantity=int(h["quantity"]), cost=Decimal(h["cost"]),
                               realized=Decimal(h["realized"]), mark=Decimal(h["mark"]),
                               mark_rank=(int(h["mark_rank"][0]), int(h["mark_rank"][1])),
                               ts=int(h["ts"]))
            newest = self._closes.get(symbol)
            if holding.quantity and newest is not None:  # a bar read while it was elsewhere
                holding.remark(newest[1], newest[0])
            book.holdings[symbol] = holding
            self._index(key, symbol, holding)
        self._accounts[key] = book

    def forget(self, key: str) -> None:
        book = self._accounts.pop(key, None)
        if book is not None:
            for symbol in book.holdings:
                self._holders.get(symbol, set()).discard(key)
        self._dirty.discard(key)
