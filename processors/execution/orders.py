"""An order at the paper venue, and its states as NautilusTrader's order state machine.

States and the transitions allowed between them (NautilusTrader's `OrderStatus` and its order
FSM, restricted to what a venue reports): submitted -> accepted | rejected; accepted ->
partially_filled | filled | canceled | expired; partially_filled -> partially_filled | filled
| canceled | expired. Rejected, filled, canceled and expired are closed: nothing follows them.

Every change is an `OrderEvent` numbered from 1 (`<order_id>#<n>`), every fill an `Execution`
numbered from 1 (`<order_id>-<n>`), so a re-run gives the same ids and the sink upserts.
`filled_quantity`, `leaves_quantity` and `avg_fill_price` are the order's totals after the
event; `avg_fill_price` is the filled notional / filled quantity rounded half-even to 9
decimals (a report: accounting uses the executions' exact prices and commissions).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from processors.prices import rounded
from streams.schema import Execution, OrderEvent
from streams.schema.logic import OrderState

Model = Literal["bar", "book", "trade"]
VENUE_NAME = "paper"
DAY_NS = 86_400 * 1_000_000_000

TRANSITIONS: dict[OrderState, frozenset[OrderState]] = {
    "submitted": frozenset({"accepted", "rejected"}),
    "accepted": frozenset({"partially_filled", "filled", "canceled", "expired"}),
    "partially_filled": frozenset({"partially_filled", "filled", "canceled", "expired"}),
    "rejected": frozenset(), "filled": frozenset(), "canceled": frozenset(),
    "expired": frozenset(),
}


class InvalidTransitionError(ValueError):
    """An order event the state machine does not allow from the order's state (a bug)."""


@dataclass(slots=True)
class Fill:
    """One execution against the market: price, quantity and whether it took liquidity."""

    price: Decimal
    quantity: int
    taker: bool


@dataclass(slots=True)
class WorkingOrder:
    """An order the venue holds, from submitted until it closes.

    `venue_ns`: when it is at the venue (max(ts_event + latency, the receipt time)); `model`:
    the fill model chosen at acceptance; `day_end_ns`: when a DAY order expires (else None);
    `resting_since_ns`: a limit order resting for trades fills only on trades after this
    instant (None until it rests); `bars_seen`: bar-model orders, bars past the venue time.
    """

    order_id: str
    strategy: str
    account: str
    symbol: str
    side: Literal["buy", "sell"]
    quantity: int
    order_type: Literal["market", "limit"]
    limit_price: str | None
    time_in_force: Literal["GTC", "IOC", "DAY"]
    venue_ns: int
    model: Model
    day_end_ns: int | None = None
    state: OrderState = "submitted"
    filled: int = 0
    notional: str = "0"  # exact sum of price * quantity over the fills
    events: int = 0
    executions: int = 0
    resting_since_ns: int | None = None
    bars_seen: int = 0

    @property
    def leaves(self) -> int:
        """What is still working (0 once the order is closed)."""
        return 0 if self.is_closed else self.quantity - self.filled

    @property
    def is_closed(self) -> bool:
        return not TRANSITIONS[self.state]

    @property
    def limit(self) -> Decimal | None:
        return None if self.limit_price is None else Decimal(self.limit_price)

    @property
    def buys(self) -> bool:
        return self.side == "buy"

    def marketable(self, price: Decimal) -> bool:
        """Whether `price` is at or better than the limit (always, for a market order)."""
        limit = self.limit
        if limit is None:
            return True
        return price <= limit if self.buys else price >= limit

    def to_state(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict) -> WorkingOrder:  # type: ignore[type-arg]
        return cls(**state)

    # ---- transitions: each returns what it publishes ------------------------------------

    def event(self, state: OrderState, ts_ns: int, init_ns: int,
              reason: str | None = None) -> OrderEvent:
        """Move to `state` at `ts_ns` and describe it (`init_ns`: this system's time)."""
        if state not in TRANSITIONS[self.state]:
            raise InvalidTransitionError(f"order {self.order_id}: {self.state} -> {state}")
        self.state = state
        self.events += 1
        return OrderEvent(
            ts_event=ts_ns, ts_init=init_ns, event_id=f"{self.order_id}#{self.events}",
            order_id=self.order_id, strategy=self.strategy, account=self.account,
            symbol=self.symbol, state=state, filled_quantity=self.filled,
            leaves_quantity=self.leaves, avg_fill_price=self.avg_fill_price, reason=reason,
        )

    def submitted(self, ts_ns: int, init_ns: int) -> OrderEvent:
        """The first event: the venue has the order (no transition leads here)."""
        self.events += 1
        return OrderEvent(
            ts_event=ts_ns, ts_init=init_ns, event_id=f"{self.order_id}#{self.events}",
            order_id=self.order_id, strategy=self.strategy, account=self.account,
            symbol=self.symbol, state="submitted", filled_quantity=0,
            leaves_quantity=self.quantity,
        )

    def fill(self, fill: Fill, ts_ns: int, init_ns: int,
             fee_bps: Decimal) -> tuple[Execution, OrderEvent]:
        """Apply one execution: the Execution and the partially_filled / filled event."""
        if not 0 < fill.quantity <= self.leaves:
            raise InvalidTransitionError(
                f"order {self.order_id}: fill of {fill.quantity} with {self.leaves} left")
        self.filled += fill.quantity
        self.notional = str(Decimal(self.notional) + fill.price * fill.quantity)
        self.executions += 1
        execution = Execution(
            ts_event=ts_ns, ts_init=init_ns, exec_id=f"{self.order_id}-{self.executions}",
            order_id=self.order_id, account=self.account, symbol=self.symbol, side=self.side,
            price=fill.price, quantity=fill.quantity,
            commission=commission(fill.price, fill.quantity, fee_bps), venue=VENUE_NAME,
        )
        state: OrderState = "filled" if self.filled == self.quantity else "partially_filled"
        return execution, self.event(state, ts_ns, init_ns)

    @property
    def avg_fill_price(self) -> Decimal | None:
        if not self.filled:
            return None
        return rounded(Fraction(Decimal(self.notional)) / self.filled)


def commission(price: Decimal, quantity: int, fee_bps: Decimal) -> Decimal:
    """price * quantity * fee_bps / 1e4, exact: every factor is a finite decimal, and so is
    the product (computed with as many digits as it needs, never rounded)."""
    exact = Fraction(price) * quantity * Fraction(fee_bps) / 10_000
    if not exact:
        return Decimal(0)
    digits = 0
    while exact.denominator != 1:  # a power of ten's divisor: terminates
        exact *= 10
        digits += 1
    return Decimal(exact.numerator).scaleb(-digits)


def day_end_ns(venue_ns: int) -> int:
    """The end of the UTC day of `venue_ns` (the next 00:00:00 UTC)."""
    return (venue_ns // DAY_NS + 1) * DAY_NS
