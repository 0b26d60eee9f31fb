"""One key's readings of one topic, to join the latest at or before a time (an as-of join).

`Readings` keeps readings sorted by ts_event (equal times in arrival order). `at(t)` is the
latest with ts_event <= t, the last to arrive among equal times; `prune(cutoff)` drops every
reading but the latest at or before `cutoff` and those after it, so `at(t)` stays exact for
every t >= cutoff and is None or exact below it, never a later reading. What is kept depends
only on which readings arrived, in what order, and the highest cutoff so far; an engine that
prunes after each event is therefore batch-invariant. Readings that arrive in event-time
order are appended and pruned from the front: O(1) amortized each.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

Reading = tuple[float | None, ...]


@dataclass(slots=True)
class Readings:
    ts: list[int] = field(default_factory=list)
    values: list[Reading] = field(default_factory=list)

    @property
    def newest_ns(self) -> int | None:
        return self.ts[-1] if self.ts else None

    def add(self, ts_ns: int, reading: Reading) -> None:
        """Keep `reading` dated `ts_ns`, after the readings of the same time."""
        if not self.ts or ts_ns >= self.ts[-1]:
            self.ts.append(ts_ns)
            self.values.append(reading)
            return
        i = bisect_right(self.ts, ts_ns)
        self.ts.insert(i, ts_ns)
        self.values.insert(i, reading)

    def at(self, ts_ns: int) -> Reading | None:
        """The latest reading dated at or before `ts_ns`, None if none is kept."""
        i = bisect_right(self.ts, ts_ns) - 1
        return self.values[i] if i >= 0 else None

    def prune(self, cutoff_ns: int) -> None:
        """Drop what no question at or after `cutoff_ns` needs."""
        drop = bisect_right(self.ts, cutoff_ns) - 1
        if drop > 0:
            del self.ts[:drop]
            del self.values[:drop]

    def snapshot(self) -> dict[str, list]:
        return {"ts": list(self.ts), "values": [list(v) for v in self.values]}

    @classmethod
    def restore(cls, state: dict[str, list]) -> Readings:
        return cls([int(t) for t in state["ts"]],
                   [tuple(None if v is None else float(v) for v in r) for r in state["values"]])
