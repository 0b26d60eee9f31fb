"""A strategy's own position and orders in one symbol, from its own fills and order events.

The position is the net quantity of the strategy's executions (market.executions whose order
id starts with `<strategy>:`). An order is open from the moment the strategy submits it
(before any event comes back) until an order event says filled, canceled, expired or
rejected (NautilusTrader's closed states).

`exposure` is the position plus what the strategy's orders will still add to it: an open
order's quantity less its executions so far, and a closed order's fills that the venue
reported (`filled_quantity` of its last event) but whose executions have not arrived yet.
So exposure is the same whichever of a fill, its order event and a bar of the same instant
the strategy sees first: a strategy that targets exposure sends no duplicate order while
one is pending, and none because a fill overtook its order event or the other way round.
A fill delivered twice (at least once) counts once (processors/kit/applied.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from processors.kit.applied import AppliedFills
from streams.schema import Order

CLOSED_STATES = frozenset({"filled", "canceled", "expired", "rejected"})


@dataclass(slots=True)
class OwnOrder:
    """One order of the strategy and what is known of its fills."""

    order: Order
    executed: int = 0  # quantity of its executions seen
    reported: int = 0  # filled_quantity of its newest order event
    closed: bool = False

    @property
    def sign(self) -> int:
        return 1 if self.order.side == "buy" else -1

    @property
    def pending(self) -> int:
        """Signed quantity this order will still add to the position."""
        committed = max(self.reported, self.executed) if self.closed else self.order.quantity
        return self.sign * max(committed - self.executed, 0)


@dataclass(slots=True)
class Ledger:
    """The strategy's position and orders in one symbol."""

    position: int = 0
    orders: dict[str, OwnOrder] = field(default_factory=dict)
    applied: AppliedFills = field(default_factory=AppliedFills)

    @property
    def exposure(self) -> int:
        """Position plus what open orders and reported, not yet executed fills will add."""
        return self.position + sum(o.pending for o in self.orders.values())

    @property
    def open_orders(self) -> list[Order]:
        """Orders submitted and not yet filled, canceled, expired or rejected, oldest first."""
        return [o.order for o in self.orders.values() if not o.closed]

    def submitted(self, order: Order) -> None:
        if order.order_id in self.orders:
            raise ValueError(f"order {order.order_id} was submitted already")
        self.orders[order.order_id] = OwnOrder(order)

    def executed(self, exec_id: str, order_id: str, side: str, quantity: int) -> bool:
        """One execution of the strategy's order `order_id`; False (and nothing changes) for
        one counted already."""
        if not self.applied.first_time(exec_id, order_id):
            return False
        self.position += quantity if side == "buy" else -quantity
        own = self.orders.get(order_id)
        if own is not None:
            own.executed += quantity
            self._settle(order_id, own)
        return True

    def order_event(self, order_id: str, state: str, filled_quantity: int) -> None:
        """The venue's news of an order; one the ledger does not know is ignored."""
        own = self.orders.get(order_id)
        if own is None:
            return
        own.reported = max(own.reported, filled_quantity)
        own.closed = own.closed or state in CLOSED_STATES
        self._settle(order_id, own)

    def _settle(self, order_id: str, own: OwnOrder) -> None:
        """A closed order whose fills have all arrived is done: only the position keeps it."""
        if own.closed and own.executed >= own.reported:
            del self.orders[order_id]

    def snapshot(self) -> dict:
        return {
            "position": self.position,
            "orders": [[o.order.model_dump(mode="json"), o.executed, o.reported, o.closed]
                       for o in self.orders.values()],
            "applied": self.applied.snapshot(),
        }

    @classmethod
    def restore(cls, state: dict) -> Ledger:
        orders = {}
        for doc, executed, reported, closed in state["orders"]:
            order = Order.model_validate(doc)
            orders[order.order_id] = OwnOrder(order, int(executed), int(reported), bool(closed))
        return cls(position=int(state["position"]), orders=orders,
                   applied=AppliedFills(state.get("applied")))
