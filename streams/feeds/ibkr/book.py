"""One depth subscription's order book, kept from IB's row updates as IB's own sample client
keeps it.

IB addresses depth by row position (updateMktDepth / updateMktDepthL2): operation 0 inserts a
row at `position` and shifts the rows below it down, 1 updates the row at `position` in place,
2 deletes it and shifts the rows below it up (IB's DeepBook sample: `rows.add(position, ...)`,
`rows.get(position).update(...)`, `rows.remove(position)`). Error 317 says the book was reset:
empty it before applying new rows. An operation on a row that does not exist is refused and
changes nothing (the caller counts it).

Smart depth lists one price once per exchange (the row's market maker is the exchange), and a
market maker's book once per market maker: such rows are summed by price. Plain exchange depth
rows are the exchange's price levels, taken in row order; a book whose rows are not strictly
ordered is no book (None).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from streams.feeds.ibkr.mapping import price_of, size_of
from streams.schema import DepthSnapshot

INSERT, UPDATE, DELETE = 0, 1, 2  # IB's depth operations
ASK, BID = 0, 1  # IB's depth sides


@dataclass(frozen=True, slots=True)
class Row:
    price: float
    size: float
    market_maker: str = ""


class DepthBook:
    """Rows per side, best first, as IB's operations leave them."""

    def __init__(self, smart: bool = False) -> None:
        self.smart = smart
        self._sides: dict[int, list[Row]] = {ASK: [], BID: []}

    def rows(self, side: int) -> list[Row]:
        return list(self._sides[side])

    def apply(self, position: int, operation: int, side: int, price: float, size: float,
              market_maker: str = "") -> bool:
        """Apply one of IB's row operations; False (nothing changed) for a row that does not
        exist, an unknown side or an unknown operation."""
        rows = self._sides.get(side)
        if rows is None or position < 0:
            return False
        if operation == INSERT and position <= len(rows):
            rows.insert(position, Row(price, size, market_maker))
        elif operation == UPDATE and position < len(rows):
            rows[position] = Row(price, size, market_maker)
        elif operation == DELETE and position < len(rows):
            del rows[position]
        else:
            return False
        return True

    def clear(self) -> None:
        for rows in self._sides.values():
            rows.clear()

    def levels(self, side: int, depth: int) -> list[tuple[Decimal, int]] | None:
        """Up to `depth` (price, size) levels, best first; None when exchange rows are out of
        order. Rows without a price or a whole positive size are left out."""
        priced = [(p, s) for r in self._sides[side]
                  if (p := price_of(r.price)) is not None and (s := size_of(r.size))]
        if self.smart or any(r.market_maker for r in self._sides[side]):
            total: dict[Decimal, int] = {}
            for p, s in priced:
                total[p] = total.get(p, 0) + s
            return sorted(total.items(), reverse=side == BID)[:depth]
        better = (lambda a, b: a > b) if side == BID else (lambda a, b: a < b)
        if any(not better(a[0], b[0]) for a, b in zip(priced, priced[1:], strict=False)):
            return None
        return priced[:depth]

    def snapshot(self, symbol: str, depth: int, venue: str, ts_event: int,
                 ts_init: int) -> DepthSnapshot | None:
        """The book's best `depth` levels per side; None when empty, crossed or out of order."""
        bids, asks = self.levels(BID, depth), self.levels(ASK, depth)
        if bids is None or asks is None or not (bids or asks):
            return None
        if bids and asks and bids[0][0] >= asks[0][0]:
            return None
        return DepthSnapshot(
            ts_event=ts_event, ts_init=ts_init, symbol=symbol,
            bid_prices=[p for p, _ in bids], bid_sizes=[s for _, s in bids],
            ask_prices=[p for p, _ in asks], ask_sizes=[s for _, s in asks],
            venue=venue or None,
        )
