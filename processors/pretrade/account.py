"""One account as pre-trade risk keeps it: trading state, positions and working orders, the
newest margin state, and each strategy's order token bucket.

Positions and working orders are a `Ledger` per symbol (processors/strategies/ledger.py),
fed by the account's executions and order events: the position is the net quantity of its
fills, an approved order works from its approval until an order event closes it, and an
order's quantity counts as working until its executions arrive, so position plus working
orders is the same whichever of a fill and its order event comes first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from processors.execution.seen import SeenOrders
from processors.strategies.ledger import Ledger
from streams.schema.logic import TradingState

Side = Literal["buy", "sell"]
NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Holding:
    """An account's symbol as the checks see it: the position and what its working orders
    will still add on each side (both >= 0)."""

    position: int
    working_buy: int
    working_sell: int

    def after(self, side: Side, quantity: int) -> int:
        """The position if this order and every working order on its side filled."""
        if side == "buy":
            return self.position + self.working_buy + quantity
        return self.position - self.working_sell - quantity

    def reduces(self, side: Side, quantity: int) -> bool:
        """Whether the order only reduces the position: on the other side of it, and not
        past flat even with the working orders on its side."""
        after = self.after(side, quantity)
        if side == "sell":
            return self.position > 0 and after >= 0
        return self.position < 0 and after <= 0

    @property
    def widest(self) -> int:
        """The position the side of working orders that leaves the larger |position| would
        leave (signed)."""
        long, short = self.position + self.working_buy, self.position - self.working_sell
        return long if abs(long) >= abs(short) else short

    def with_order(self, side: Side, quantity: int) -> Holding:
        if side == "buy":
            return Holding(self.position, self.working_buy + quantity, self.working_sell)
        return Holding(self.position, self.working_buy, self.working_sell + quantity)


@dataclass(slots=True)
class TradingMode:
    """ACTIVE, REDUCING or HALTED, and the episode away from ACTIVE (its alert id)."""

    state: TradingState = "ACTIVE"
    episode: str | None = None  # alert id of the episode since the account left ACTIVE
    command_id: str = ""  # the command that set the state
    reason: str = ""


@dataclass(slots=True)
class MarginView:
    """The account's newest MarginState (logic.margin) by event time."""

    ts: int
    equity: Decimal
    maintenance: Decimal
    excess: Decimal
    method: Literal["reg_t", "portfolio"]


@dataclass(slots=True)
class TokenBucket:
    """Orders a strategy may still send: `tokens` (exact), refilled at the rate per second
    of event time since `last_ts`, up to the burst."""

    tokens: Fraction
    last_ts: int

    def take(self, ts: int, rate: Decimal, burst: int) -> bool:
        """Refill up to `ts` and take one token; False (nothing taken) when none is left.
        Time never runs backwards: an order older than the newest one refills nothing."""
        if ts > self.last_ts:
            self.tokens = min(Fraction(burst),
                              self.tokens + Fraction(ts - self.last_ts, NS_PER_S) * Fraction(rate))
            self.last_ts = ts
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass(slots=True)
class Account:
    mode: TradingMode = field(default_factory=TradingMode)
    ledgers: dict[str, Ledger] = field(default_factory=dict)
    fill_prices: dict[str, tuple[int, Decimal]] = field(default_factory=dict)  # newest own fill
    margin: MarginView | None = None
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    seen: SeenOrders = field(default_factory=SeenOrders)

    def ledger(self, symbol: str) -> Ledger:
        return self.ledgers.setdefault(symbol, Ledger())

    def holding(self, symbol: str) -> Holding:
        ledger = self.ledgers.get(symbol)
        if ledger is None:
            return Holding(0, 0, 0)
        pending = [o.pending for o in ledger.orders.values()]
        return Holding(ledger.position, sum(p for p in pending if p > 0),
                       -sum(p for p in pending if p < 0))

    def holdings(self) -> dict[str, Holding]:
        """Every symbol with a position or working orders."""
        held = {symbol: self.holding(symbol) for symbol in self.ledgers}
        return {s: h for s, h in held.items() if h.position or h.working_buy or h.working_sell}

    def open_orders(self) -> list[tuple[str, str]]:
        """(symbol, order id) of every approved order not yet closed, in that order."""
        return sorted((symbol, order_id) for symbol, ledger in self.ledgers.items()
                      for order_id, own in ledger.orders.items() if not own.closed)

    def filled(self, symbol: str, ts: int, price: Decimal) -> None:
        """Remember the newest price of the account's own fills in `symbol` (a mark)."""
        if symbol not in self.fill_prices or ts >= self.fill_prices[symbol][0]:
            self.fill_prices[symbol] = (ts, price)

    # ---- state ----------------------------------------------------------------------------

    def snapshot(self) -> dict:
        m = self.margin
        return {
            "mode": [self.mode.state, self.mode.episode, self.mode.command_id,
                     self.mode.reason],
            "ledgers": {s: ledger.snapshot() for s, ledger in self.ledgers.items()},
            "fill_prices": {s: [ts, str(p)] for s, (ts, p) in self.fill_prices.items()},
            "margin": None if m is None else [m.ts, str(m.equity), str(m.maintenance),
                                               str(m.excess), m.method],
            "buckets": {s: [str(b.tokens), b.last_ts] for s, b in self.buckets.items()},
            "seen": self.seen.to_state(),
        }

    @classmethod
    def restore(cls, state: dict) -> Account:
        margin = state["margin"]
        return cls(
            mode=TradingMode(*state["mode"]),
            ledgers={s: Ledger.restore(doc) for s, doc in state["ledgers"].items()},
            fill_prices={s: (int(ts), Decimal(p)) for s, (ts, p) in state["fill_prices"].items()},
            margin=None if margin is None else MarginView(
                int(margin[0]), Decimal(margin[1]), Decimal(margin[2]), Decimal(margin[3]),
                margin[4]),
            buckets={s: TokenBucket(Fraction(tokens), int(ts))
                     for s, (tokens, ts) in state["buckets"].items()},
            seen=SeenOrders.from_state(state["seen"]),
        )
