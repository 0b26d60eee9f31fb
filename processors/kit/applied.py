"""Which executions a consumer has applied, so a fill delivered twice is applied once.

Delivery is at least once: a worker killed after publishing a fill and before saving the
state that produced it publishes the same fill again after its restart, under the same
`exec_id`, and a consumer's input may be re-read the same way. The execution engine names an
order's executions `<order_id>-<n>`, n = 1, 2, ... in the order it publishes them, on the
order's symbol's partition, so they arrive in that order: per order, the highest n applied
says which are new. An id of another form (another venue's) is remembered as it is.

Memory is bounded: the newest `capacity` orders (or other ids) are kept, oldest dropped first.
A re-delivery reaches back one batch of a producer's outputs, far fewer orders than that.
"""

from __future__ import annotations

from collections import OrderedDict

DEFAULT_CAPACITY = 1024


class AppliedFills:
    """The executions one key (an account, a strategy's symbol) has applied."""

    def __init__(self, applied: list[list] | None = None,
                 capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._newest: OrderedDict[str, int] = OrderedDict(
            (str(key), int(n)) for key, n in applied or [])

    def first_time(self, exec_id: str, order_id: str) -> bool:
        """Whether execution `exec_id` of `order_id` is new; it counts as applied from now."""
        prefix, dash, number = exec_id.rpartition("-")
        if prefix == order_id and dash and number.isdigit():
            key, n = order_id, int(number)
        else:
            key, n = exec_id, 0
        seen = self._newest.get(key)
        if seen is not None and n <= seen:
            return False
        self._newest[key] = n
        self._newest.move_to_end(key)
        while len(self._newest) > self._capacity:
            self._newest.popitem(last=False)
        return True

    def snapshot(self) -> list[list]:
        """JSON-able: [[order id or exec id, highest n], ...], oldest first."""
        return [[key, n] for key, n in self._newest.items()]
