"""Which orders a venue has seen, so a re-delivered order is ignored (never filled twice).

Order ids are `<strategy>:<symbol>:<seq>` with seq counting up per strategy and symbol, and one
symbol's orders travel in order on one partition; so an id is seen when its seq is at most the
highest seq seen for its prefix, and the state is one number per strategy and symbol, not one
entry per order ever sent. Ids of any other form are kept one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class SeenOrders:
    highest: dict[str, int] = field(default_factory=dict)  # prefix -> highest seq seen
    other: set[str] = field(default_factory=set)

    def add(self, order_id: str) -> bool:
        """Record `order_id`; False when it was seen before (a re-delivery)."""
        prefix, _, seq = order_id.rpartition(":")
        if prefix and seq.isdigit() and seq.isascii():
            number = int(seq)
            if number <= self.highest.get(prefix, -1):
                return False
            self.highest[prefix] = number
            return True
        if order_id in self.other:
            return False
        self.other.add(order_id)
        return True

    def has(self, order_id: str) -> bool:
        """Whether `order_id` was seen (without recording it)."""
        prefix, _, seq = order_id.rpartition(":")
        if prefix and seq.isdigit() and seq.isascii():
            return int(seq) <= self.highest.get(prefix, -1)
        return order_id in self.other

    def to_state(self) -> dict[str, object]:
        return {"highest": dict(sorted(self.highest.items())), "other": sorted(self.other)}

    @classmethod
    def from_state(cls, state: dict) -> SeenOrders:  # type: ignore[type-arg]
        return cls({str(k): int(v) for k, v in state["highest"].items()},
                   {str(i) for i in state["other"]})
