"""A contract's liquid (regular) trading hours, from IB's contract details.

IB gives `liquidHours` for the coming days in the contract's `timeZoneId`, in one of two forms:
`20261207:0930-20261207:1600;20261208:CLOSED` (since API 9.72) or the older
`20261207:0930-1600,1700-1800;20261208:CLOSED`; a session may end on a later day
(`20261206:1700-20261207:1600`). Outside them a silent subscription is normal.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.feeds.ibkr.mapping import NS_PER_S


class LiquidHours:
    """Sessions as [open, close) in ns since the epoch, sorted."""

    def __init__(self, sessions: list[tuple[int, int]]) -> None:
        self.sessions = sorted(sessions)
        self._opens = [start for start, _ in self.sessions]

    @classmethod
    def parse(cls, text: str, zone: str) -> LiquidHours | None:
        """IB's hours in `zone`; None when either is missing or not understood."""
        try:
            tz = ZoneInfo(zone.strip())
        except (ZoneInfoNotFoundError, ValueError):
            return None
        sessions = []
        try:
            for day_text in filter(None, (d.strip() for d in text.split(";"))):
                day, _, ranges = day_text.partition(":")
                if ranges == "CLOSED":
                    continue
                for span in ranges.split(","):
                    start, _, end = span.partition("-")
                    end_day, _, end_time = end.rpartition(":")
                    opened, closed = _at(day, start, tz), _at(end_day or day, end_time, tz)
                    if closed <= opened:  # old form, a session past midnight
                        closed += int(timedelta(days=1).total_seconds()) * NS_PER_S
                    sessions.append((opened, closed))
        except ValueError:
            return None
        return cls(sessions) if sessions else None

    def open_since(self, now_ns: int) -> int | None:
        """When the session that `now_ns` is in opened; None when the market is closed."""
        i = bisect_right(self._opens, now_ns) - 1
        if i >= 0 and now_ns < self.sessions[i][1]:
            return self.sessions[i][0]
        return None


def _at(day: str, hhmm: str, tz: ZoneInfo) -> int:
    local = datetime.strptime(day + hhmm, "%Y%m%d%H%M").replace(tzinfo=tz)
    return int(local.timestamp()) * NS_PER_S
