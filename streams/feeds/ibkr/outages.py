"""The feed's open outages: what is down, since when, for which symbols.

An outage has a key (one per cause: `connection`, `farm:usfarm`, `stale:<symbol>:quotes`,
...), a start, a reason and the symbols it affects. It is raised on logic.risk.alerts as one
`feed_outage` alert per symbol when it begins, and each symbol's alert is cleared under the
same id when the outage ends or when that symbol is known to be back (fresh data), whichever
comes first. Connection outages end only as a whole; data outages (farm and server notices, a
competing session, silent subscriptions) also end symbol by symbol as data flows again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from streams.feeds.ibkr.mapping import outage_alerts
from streams.schema import Alert

CONNECTION = "connection"


@dataclass(slots=True)
class Outage:
    start_ns: int
    reason: str
    symbols: list[str]  # still affected
    by_data: bool  # fresh data of a symbol ends it for that symbol


class Outages:
    """Open outages by key; every change goes out through `publish` as alerts."""

    def __init__(self, feed_id: str, publish: Callable[[list[Alert]], None]) -> None:
        self.feed_id = feed_id
        self.open: dict[str, Outage] = {}
        self._publish = publish
        self._data_symbols: set[str] = set()  # symbols in some outage that data can end

    def begin(self, key: str, reason: str, symbols: Iterable[str], now_ns: int, *,
              by_data: bool) -> bool:
        """Open an outage unless one with `key` is open; True when it was opened."""
        names = list(dict.fromkeys(symbols))
        if key in self.open or not names:
            return False
        self.open[key] = Outage(now_ns, reason, names, by_data)
        if by_data:
            self._data_symbols.update(names)
        self._publish(outage_alerts(self.feed_id, names, now_ns, reason, now_ns))
        return True

    def end(self, key: str, now_ns: int) -> Outage | None:
        """Close the outage `key` for every symbol it still affects."""
        outage = self.open.pop(key, None)
        if outage is not None:
            self._clear(outage, outage.symbols, now_ns)
            self._recount()
        return outage

    def end_where(self, wanted: Callable[[str], bool], now_ns: int) -> None:
        for key in [k for k in self.open if wanted(k)]:
            self.end(key, now_ns)

    def data_arrived(self, symbol: str, keys: Iterable[str], now_ns: int) -> None:
        """Fresh data of `symbol`: it is back in every data outage, and the outages `keys`
        (its subscription's own) end. Cheap when nothing is open for it."""
        for key in keys:
            if key in self.open:
                self.end(key, now_ns)
        if symbol not in self._data_symbols:
            return
        for key, outage in list(self.open.items()):
            if outage.by_data and symbol in outage.symbols:
                outage.symbols.remove(symbol)
                self._clear(outage, [symbol], now_ns)
                if not outage.symbols:
                    del self.open[key]
        self._recount()

    def _clear(self, outage: Outage, symbols: list[str], now_ns: int) -> None:
        self._publish(outage_alerts(self.feed_id, symbols, outage.start_ns, outage.reason,
                                    now_ns, end_ns=now_ns))

    def _recount(self) -> None:
        self._data_symbols = {s for o in self.open.values() if o.by_data for s in o.symbols}
