"""Macro series as they were known at each moment, and the features derived from them.

`MacroHistory` keeps, per series, each observation date's vintages by the time they became
known (market.macro's ts_event; `processors.kit.asof.Readings`). What is known at T is, for
each observation date, its newest vintage with ts_event <= T (a later vintage is released
later); a vintage stamped after T is never used at T, whatever order the records arrived in.

`features(T)`, for a bar ending at T, with D = T's UTC date, from what was known at T only:

- the curve as of a date: the yields of `curve` (short, middle, long: FRED's DGS3MO, DGS2,
  DGS10 by default, in percent) on the latest observation date on or before that date on
  which all three have a value known at T (one date, so a curve never mixes two days);
- `macro_level` = (short + middle + long) / 3, `macro_slope` = long - short and
  `macro_curvature` = 2 * middle - short - long, of the curve as of D (the level, slope and
  curvature factors of Diebold & Li (2006), J. Econometrics 130(2), in their empirical
  proxies: mean yield, 10y - 3m, 2 * 2y - 3m - 10y);
- `macro_<name>_change_<n>d`: that value less the same of the curve as of D - n days
  (`change_days`, 30: a change over observation dates, each curve with the vintages known
  at T);
- `macro_stress`: the mean of the z-scores of `stress`'s series (ICE BofA US high-yield OAS,
  VIX, Chicago Fed NFCI by default): a series' z-score is (x - mean) / sd of its
  observations dated in (D - `stress_window_days`, D] known at T, x the newest of them, sd
  the sample standard deviation (ddof 1). This is the variance-equal weighting of the IMF's
  financial stress index (Cardarelli, Elekdag & Lall (2011), "Financial stress and economic
  contractions", J. Financial Stability 7(2); Illing & Liu (2006) for Canada): each component
  demeaned and divided by its standard deviation, then averaged with equal weights, here
  over a trailing window instead of the whole sample, so no bar sees the future. A series
  with fewer than `stress_min_observations` observations in the window (none lately, or
  too short a history) or no dispersion has no z-score; then `macro_stress` is absent, not
  an average of the rest (configure fewer series to run without one).

A feature whose inputs are not all known at T is absent. State stays bounded by a cutoff,
the newest ts_event seen less `horizon_ns`: of each date the newest vintage at or before the
cutoff and every later one are kept; of each curve series the dates from the latest common
date on or before (cutoff's date - change_days) on; of each stress series the dates in its
window as of the cutoff's date. Everything a bar ending at or after the cutoff reads is
kept, so its features are exact; a bar ending before the cutoff (more than `horizon_ns`
behind the newest macro record) gets none. Records apply one at a time, each pruned at
once, so state and features depend only on the records' arrival order, not on batching.
The state is derived from market.macro alone, the same in every instance of an engine that
reads it as a broadcast input: it is rebuilt by re-reading the topic, never snapshotted.
"""

from __future__ import annotations

import math
from bisect import bisect_right, insort
from dataclasses import dataclass, field

from processors.kit.asof import Readings

DAY_NS = 86_400 * 1_000_000_000
EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()
CURVE_FEATURES = ("level", "slope", "curvature")
_REBUILD_TIMES = 64  # dropped vintages past which the time index is rebuilt, not edited


def utc_day(ts_ns: int) -> int:
    """The proleptic ordinal (`date.toordinal()`) of the UTC date of `ts_ns`."""
    return EPOCH_ORDINAL + ts_ns // DAY_NS


@dataclass(frozen=True, slots=True)
class MacroSpec:
    """Which series make the features, and how far back they look."""

    curve: tuple[str, str, str]  # short, middle, long
    change_days: int
    stress: tuple[str, ...]
    stress_window_days: int
    stress_min_observations: int
    horizon_ns: int

    @property
    def series(self) -> frozenset[str]:
        return frozenset((*self.curve, *self.stress))


@dataclass(slots=True)
class _Series:
    """One series' observation dates (ordinals, ascending), each date's vintages
    ((value, realtime_start ordinal) by ts_event), and the dates with more than one."""

    dates: list[int] = field(default_factory=list)
    vintages: dict[int, Readings] = field(default_factory=dict)
    revised: set[int] = field(default_factory=set)

    def value(self, day: int, ts_ns: int) -> float | None:
        """The newest vintage of `day` known at `ts_ns`, None if none is."""
        vintages = self.vintages.get(day)
        reading = vintages.at(ts_ns) if vintages is not None else None
        return None if reading is None else reading[0]


class MacroHistory:
    """The vintages of `spec`'s series, and the macro features of a time (module docstring)."""

    def __init__(self, spec: MacroSpec) -> None:
        self.spec = spec
        self.cutoff_ns = -1  # bars ending before it get no macro features
        self._newest_ns: int | None = None
        self._series: dict[str, _Series] = {}
        self._times: list[int] = []  # every kept vintage's ts_event, ascending
        self._first_day: dict[str, int] = {}  # per series, the oldest date still read
        self._curve_floor: int | None = None  # the curve's date for the change as of cutoff
        self._version = 0  # changes with every change of what is kept
        self._cached: tuple[tuple[int, int, int], dict[str, float]] | None = None

    def add(self, series: str, day: int, realtime_start: int, ts_ns: int, value: float) -> None:
        """Keep one vintage (dates as ordinals); a series no feature reads changes nothing,
        and neither does a vintage (date, realtime_start) already held; a vintage of a date
        older than any bar at or after the cutoff reads only moves the cutoff (as if kept
        and pruned at once: a revision of old history costs no insert)."""
        if series not in self.spec.series:
            return
        if self._newest_ns is None or ts_ns > self._newest_ns:
            self._newest_ns = ts_ns
        held = self._series.setdefault(series, _Series())
        if day >= self._first_day.get(series, day):
            self._keep(held, day, realtime_start, ts_ns, value)
        self._prune(held, day)

    def _keep(self, held: _Series, day: int, realtime_start: int, ts_ns: int,
              value: float) -> None:
        vintages = held.vintages.get(day)
        if vintages is None:
            insort(held.dates, day)
            vintages = held.vintages[day] = Readings()
        elif any(v[1] == realtime_start for v in vintages.values):
            return
        else:
            held.revised.add(day)
        vintages.add(ts_ns, (value, float(realtime_start)))
        insort(self._times, ts_ns)
        self._version += 1

    # ---- features ---------------------------------------------------------------------------

    def features(self, ts_ns: int) -> dict[str, float]:
        """The macro features of a bar ending at `ts_ns` (names as in the module docstring)."""
        if ts_ns < self.cutoff_ns or self._newest_ns is None:
            return {}
        key = (self._version, utc_day(ts_ns), bisect_right(self._times, ts_ns))
        if self._cached is None or self._cached[0] != key:
            self._cached = key, self._compute(ts_ns)
        return dict(self._cached[1])

    def _compute(self, ts_ns: int) -> dict[str, float]:
        spec, day = self.spec, utc_day(ts_ns)
        values: dict[str, float] = {}
        now = self._curve(day, ts_ns)
        if now is not None:
            values.update((f"macro_{name}", v) for name, v in zip(CURVE_FEATURES, now[1],
                                                                   strict=True))
            then = self._curve(day - spec.change_days, ts_ns)
            if then is not None:
                values.update((f"macro_{name}_change_{spec.change_days}d", a - b)
                              for name, a, b in zip(CURVE_FEATURES, now[1], then[1],
                                                    strict=True))
        if spec.stress:
            scores = [self._z_score(series, day, ts_ns) for series in spec.stress]
            if all(z is not None for z in scores):
                values["macro_stress"] = math.fsum(scores) / len(scores)  # type: ignore[arg-type]
        return values

    def _curve(self, day: int, ts_ns: int,
               above: int | None = None) -> tuple[int, tuple[float, float, float]] | None:
        """The latest date on or before `day` (and after `above`) on which every curve
        series has a value known at `ts_ns`, and the curve's level, slope and curvature
        then."""
        held = [self._series.get(s) for s in self.spec.curve]
        if any(s is None for s in held):
            return None
        short, middle, long = held  # type: ignore[misc]
        dates = short.dates
        lowest = 0 if above is None else bisect_right(dates, above)
        for i in range(bisect_right(dates, day) - 1, lowest - 1, -1):
            yields = [s.value(dates[i], ts_ns) for s in (short, middle, long)]
            if all(y is not None for y in yields):
                y3m, y2, y10 = yields  # type: ignore[misc]
                return dates[i], ((y3m + y2 + y10) / 3, y10 - y3m, 2 * y2 - y3m - y10)
        return None

    def _z_score(self, series: str, day: int, ts_ns: int) -> float | None:
        """`series`' newest value in its window ending on `day`, known at `ts_ns`, as a
        z-score against the window's values; None with too few of them or no dispersion."""
        held = self._series.get(series)
        if held is None:
            return None
        dates = held.dates
        window = dates[bisect_right(dates, day - self.spec.stress_window_days):
                       bisect_right(dates, day)]
        known = [v for d in window if (v := held.value(d, ts_ns)) is not None]
        if len(known) < self.spec.stress_min_observations:
            return None
        mean = math.fsum(known) / len(known)
        sd = math.sqrt(math.fsum((v - mean) ** 2 for v in known) / (len(known) - 1))
        return (known[-1] - mean) / sd if sd > 0 else None

    # ---- bounds -----------------------------------------------------------------------------

    def _prune(self, added: _Series, added_day: int) -> None:
        """Drop what no bar ending at or after the cutoff reads (module docstring), after a
        vintage of `added_day` joined `added`: when the cutoff has not moved, only that
        date's vintages can have become superfluous."""
        assert self._newest_ns is not None
        cutoff = max(self.cutoff_ns, self._newest_ns - self.spec.horizon_ns)
        moved, self.cutoff_ns = cutoff > self.cutoff_ns, cutoff
        revised = ([(held, day) for held in self._series.values() for day in held.revised]
                   if moved else [(added, added_day)] if added_day in added.revised else [])
        dropped: list[int] = []
        for held, day in revised:
            vintages = held.vintages[day]
            before = list(vintages.ts)
            vintages.prune(cutoff)  # drops the oldest
            dropped += before[:len(before) - len(vintages.ts)]
            if len(vintages.ts) == 1:
                held.revised.discard(day)
        self._move_curve_floor(moved, added_day)
        self._first_day = self._first_days(utc_day(cutoff))
        for series, first in self._first_day.items():
            held = self._series[series]
            cut = bisect_right(held.dates, first - 1)
            for day in held.dates[:cut]:
                dropped += held.vintages.pop(day).ts
                held.revised.discard(day)
            del held.dates[:cut]
        if len(dropped) > _REBUILD_TIMES:
            self._times = sorted(t for held in self._series.values()
                                 for vintages in held.vintages.values() for t in vintages.ts)
        else:
            for ts in dropped:
                del self._times[bisect_right(self._times, ts) - 1]
        if dropped:
            self._version += 1

    def _move_curve_floor(self, moved: bool, added_day: int) -> None:
        """The latest date on or before (cutoff's date - change_days) with the whole curve
        known at the cutoff: no bar at or after the cutoff reads an older curve date. It
        only moves up (the cutoff and what is known only grow), so only the dates above it
        are searched: all of them up to the target when the cutoff moved, else the date
        just added."""
        target = utc_day(self.cutoff_ns) - self.spec.change_days
        if moved:
            found = self._curve(target, self.cutoff_ns, above=self._curve_floor)
        elif added_day <= target and (self._curve_floor is None
                                      or added_day > self._curve_floor):
            found = self._curve(added_day, self.cutoff_ns, above=added_day - 1)
        else:
            return
        if found is not None:
            self._curve_floor = found[0]

    def _first_days(self, cutoff_day: int) -> dict[str, int]:
        """Per series, the first date a bar ending at or after the cutoff may read."""
        spec = self.spec
        first: dict[str, int] = {}
        for series in spec.stress:
            first[series] = cutoff_day - spec.stress_window_days + 1
        floor = self._curve_floor
        for series in spec.curve:
            if floor is None:
                first.pop(series, None)  # no common date yet: every date may be the one
            else:
                first[series] = min(first.get(series, floor), floor)
        return {s: d for s, d in first.items() if s in self._series}
