"""The features engine's macro features (processors/kit/macro.py), as of each bar's end:
yield-curve level, slope, curvature and their changes, and the stress composite, from the
market.macro vintages known at the bar's end only.

Expected values come from the definitions, computed here by other means (statistics' mean
and stdev for the z-scores); the vintages are hand-built, released in the evening (UTC) of
the day after their observation date, as FRED's daily series are.
"""

from __future__ import annotations

import random
import statistics
from datetime import UTC, date, datetime, timedelta

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from processors.base import Emit
from processors.features import FeatureParams, FeaturesEngine
from streams.clock import TestClock
from streams.schema import Bar, Event
from tests.factories import MINUTE_NS, event
from tests.processors.test_features_join import feed

CURVE = ("DGS3MO", "DGS2", "DGS10")
STRESS = ("BAMLH0A0HYM2", "VIXCLS")
MONDAY = date(2024, 3, 4)


def make_engine(**params: object) -> FeaturesEngine:
    return FeaturesEngine(FeatureParams(**params), TestClock(0), torch.device("cpu"))


def at(day: date, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC).timestamp()) \
        * 1_000_000_000


def bar(end_ns: int, symbol: str = "AAPL") -> tuple[str, Bar]:
    start = end_ns - MINUTE_NS
    return "market.bars.1m", Bar(
        ts_event=end_ns, ts_init=end_ns, bar_id=f"{symbol}@1m@{start}", symbol=symbol,
        start_ns=start, open="100", high="100", low="100", close="100", volume=1,
        trade_count=1, vwap="100")


def macro(series: str, day: date, value: float, known: date | None = None,
          hour: int = 21) -> tuple[str, Event]:
    """`series`' value for `day`, released at `hour` UTC of `known` (default: the next day);
    that day is its vintage's realtime_start."""
    known = known or day + timedelta(days=1)
    return "market.macro", event("MacroObservation", ts_event=at(known, hour),
                                 ts_init=at(known, hour), series=series, date=day,
                                 realtime_start=known, value=value)


def curve(day: date, short: float, middle: float, long: float,
          known: date | None = None) -> list[tuple[str, Event]]:
    return [macro(s, day, v, known) for s, v in zip(CURVE, (short, middle, long), strict=True)]


def macro_values(emits: list[Emit]) -> list[dict[str, float]]:
    return [{k: v for k, v in e.value.values.items() if k.startswith("macro_")}
            for e in emits]


def in_event_time(stream: list[tuple[str, Event]]) -> list[tuple[str, Event]]:
    """As a replay delivers it: by ts_event, macro before a bar of the same time."""
    return sorted(stream, key=lambda item: (item[1].ts_event, item[0] != "market.macro"))


def test_level_slope_and_curvature_are_those_of_the_latest_curve_known() -> None:
    engine = make_engine(macro_stress=())
    stream = [*curve(MONDAY, 5.40, 4.60, 4.20), bar(at(MONDAY + timedelta(days=1), 22))]

    [values] = macro_values(feed(engine, stream))

    assert values == {
        "macro_level": pytest.approx((5.40 + 4.60 + 4.20) / 3),
        "macro_slope": pytest.approx(4.20 - 5.40),
        "macro_curvature": pytest.approx(2 * 4.60 - 5.40 - 4.20),
    }


def test_changes_are_against_the_curve_dated_change_days_before_the_bar() -> None:
    # Arrange: curves on 40 days before the bar, 31, and 29 (the latest on or before the bar's
    # date less 30 days is the one 31 days before)
    engine = make_engine(macro_stress=())
    bar_day = MONDAY + timedelta(days=40)
    stream = [*curve(MONDAY, 5.0, 4.0, 3.0), *curve(bar_day - timedelta(days=31), 5.3, 4.5, 4.1),
              *curve(bar_day - timedelta(days=29), 5.2, 4.4, 4.3),
              *curve(bar_day - timedelta(days=1), 5.1, 4.6, 4.9), bar(at(bar_day, 22))]

    [values] = macro_values(feed(engine, in_event_time(stream)))

    now, then = (5.1, 4.6, 4.9), (5.3, 4.5, 4.1)
    assert values["macro_level_change_30d"] == pytest.approx(sum(now) / 3 - sum(then) / 3)
    assert values["macro_slope_change_30d"] == pytest.approx((4.9 - 5.1) - (4.1 - 5.3))
    assert values["macro_curvature_change_30d"] == pytest.approx(
        (2 * 4.6 - 5.1 - 4.9) - (2 * 4.5 - 5.3 - 4.1))


def test_without_a_curve_that_old_there_is_no_change() -> None:
    engine = make_engine(macro_stress=(), macro_change_days=7)
    stream = [*curve(MONDAY, 5.0, 4.0, 3.0), bar(at(MONDAY + timedelta(days=6), 22))]

    [values] = macro_values(feed(engine, stream))

    assert set(values) == {"macro_level", "macro_slope", "macro_curvature"}


def test_the_curve_is_of_one_date_on_which_every_yield_is_known() -> None:
    # Arrange: Tuesday's 10y is out, its 3m and 2y are not yet
    engine = make_engine(macro_stress=())
    tuesday = MONDAY + timedelta(days=1)
    stream = [*curve(MONDAY, 5.0, 4.0, 3.0), macro("DGS10", tuesday, 3.5),
              bar(at(tuesday + timedelta(days=1), 22))]

    [values] = macro_values(feed(engine, stream))

    assert values["macro_slope"] == pytest.approx(3.0 - 5.0)  # Monday's, not 3.5 - 5.0


def test_stress_is_the_mean_of_the_z_scores_over_the_trailing_window() -> None:
    # Arrange: 15 days of two series; the window (10 days) holds the last 10 of them
    engine = make_engine(macro_curve=("A", "B", "C"), macro_stress=STRESS,
                         macro_stress_window_days=10, macro_stress_min_observations=3)
    days = [MONDAY + timedelta(days=i) for i in range(15)]
    hy = [3.1, 3.4, 3.0, 3.9, 4.4, 3.8, 4.1, 4.6, 5.2, 4.9, 5.5, 6.1, 5.8, 6.4, 7.0]
    vix = [14.0, 13.5, 15.2, 16.8, 14.9, 19.3, 22.5, 18.1, 17.0, 21.4, 25.3, 23.9, 19.8, 20.2,
           18.7]
    stream = [m for d, h, v in zip(days, hy, vix, strict=True)
              for m in (macro(STRESS[0], d, h), macro(STRESS[1], d, v))]
    end = days[-1] + timedelta(days=1)

    [values] = macro_values(feed(engine, [*stream, bar(at(end, 22))]))

    def z(xs: list[float]) -> float:  # the window: dates in (end - 10 days, end]
        window = xs[-9:]
        return (window[-1] - statistics.mean(window)) / statistics.stdev(window)

    assert values == {"macro_stress": pytest.approx((z(hy) + z(vix)) / 2)}


def test_stress_is_absent_while_a_component_has_no_z_score() -> None:
    # Arrange: VIX has two observations in its window, fewer than the three needed
    engine = make_engine(macro_curve=("A", "B", "C"), macro_stress=STRESS,
                         macro_stress_window_days=10, macro_stress_min_observations=3)
    stream = [macro(STRESS[0], MONDAY + timedelta(days=i), 3.0 + i % 3) for i in range(5)]
    stream += [macro(STRESS[1], MONDAY + timedelta(days=i), 15.0 + i) for i in (3, 4)]

    emits = feed(engine, [*in_event_time(stream), bar(at(MONDAY + timedelta(days=6), 22))])

    assert macro_values(emits) == [{}]


def test_a_flat_component_has_no_z_score() -> None:
    engine = make_engine(macro_curve=("A", "B", "C"), macro_stress=STRESS[:1],
                         macro_stress_window_days=10, macro_stress_min_observations=3)
    stream = [macro(STRESS[0], MONDAY + timedelta(days=i), 3.0) for i in range(5)]

    emits = feed(engine, [*stream, bar(at(MONDAY + timedelta(days=6), 22))])

    assert macro_values(emits) == [{}]


def test_a_value_published_on_day_d_is_invisible_to_the_bars_before_its_release() -> None:
    # Arrange: Monday's curve is released Tuesday 21:00; bars on Monday, Tuesday before and
    # at the release; the records arrive first (a worker that read the topic whole)
    engine = make_engine(macro_stress=())
    tuesday = MONDAY + timedelta(days=1)
    bars = [bar(at(MONDAY, 22)), bar(at(tuesday, 20, 59)), bar(at(tuesday, 21)),
            bar(at(tuesday, 21, 1))]

    values = macro_values(feed(engine, [*curve(MONDAY, 5.0, 4.0, 3.0), *bars]))

    assert [bool(v) for v in values] == [False, False, True, True]


def test_a_revision_changes_the_bars_after_its_release_only_in_any_arrival_order() -> None:
    # Arrange: Monday's 10y is 3.0 on Tuesday, revised to 3.3 on Thursday
    tuesday, thursday = MONDAY + timedelta(days=1), MONDAY + timedelta(days=3)
    records = [*curve(MONDAY, 5.0, 4.0, 3.0), macro("DGS10", MONDAY, 3.3, known=thursday)]
    bars = [bar(at(tuesday + timedelta(days=1), 12)), bar(at(thursday, 20)),
            bar(at(thursday, 21)), bar(at(thursday + timedelta(days=1), 12))]

    replayed = macro_values(feed(make_engine(macro_stress=()), in_event_time(records + bars)))
    records_first = macro_values(feed(make_engine(macro_stress=()), records + bars))

    # Assert: the revision from its release on, never before; the same in both orders
    assert [v["macro_slope"] for v in replayed] == pytest.approx([-2.0, -2.0, -1.7, -1.7])
    assert records_first == replayed


def test_a_record_from_the_future_is_not_leaked_into_the_bars_before_it() -> None:
    # A worker reads market.macro whole before the bars it resumes: records released after a
    # bar (within the horizon) are held, but the bar gets only what was known at its end,
    # even of dates on or before the bar's date: Tuesday's curve, released Wednesday evening,
    # and a revision of Monday's 10y, released a week later.
    tuesday = MONDAY + timedelta(days=1)
    stream = [*curve(MONDAY, 5.0, 4.0, 3.0), *curve(tuesday, 9.0, 9.0, 1.0),
              macro("DGS10", MONDAY, 7.0, known=MONDAY + timedelta(days=8)),
              bar(at(tuesday, 22)), bar(at(tuesday + timedelta(days=1), 20)),
              bar(at(tuesday + timedelta(days=1), 22))]

    values = macro_values(feed(make_engine(macro_stress=()), stream))

    assert [v["macro_slope"] for v in values] == pytest.approx([-2.0, -2.0, -8.0])


def test_a_bar_further_behind_the_macro_records_than_the_horizon_gets_none() -> None:
    # Arrange: records known 40 days after the bar, further than the 30-day horizon; their
    # older vintages may have been dropped, so the bar gets no macro feature, never a newer
    engine = make_engine(macro_stress=(), macro_horizon_days=30)
    later = MONDAY + timedelta(days=40)
    stream = [*curve(MONDAY, 5.0, 4.0, 3.0), *curve(later, 5.5, 4.5, 4.0),
              bar(at(MONDAY + timedelta(days=2), 12)), bar(at(later + timedelta(days=1), 22))]

    values = macro_values(feed(engine, stream))

    assert values[0] == {}
    assert values[1]["macro_slope"] == pytest.approx(-1.5)


def _year_of_releases() -> list[tuple[str, Event]]:
    """Two years of weekday curves and stress series, each date revised a week later, with a
    bar every weekday evening, in event time."""
    stream: list[tuple[str, Event]] = []
    for i in range(730):
        day = MONDAY + timedelta(days=i)
        if day.weekday() >= 5:
            continue
        level = 4.0 + (i % 17) / 10
        stream += curve(day, level + 1, level, level - 1 + (i % 5) / 10)
        stream += [macro(STRESS[0], day, 3 + (i % 11) / 7), macro(STRESS[1], day, 15 + i % 13)]
        stream.append(macro("DGS10", day, level - 0.95, known=day + timedelta(days=7)))
        stream.append(bar(at(day, 23)))
    return in_event_time(stream)


def test_state_stays_within_the_windows() -> None:
    engine = make_engine(macro_stress=STRESS, macro_stress_window_days=90,
                         macro_horizon_days=10)

    emits = feed(engine, _year_of_releases())

    history = engine._macro
    spans = {s: (h.dates[-1] - h.dates[0]) for s, h in history._series.items()}
    # the curve series keep the change's 30 days and the horizon (a few days beyond for
    # weekends), the stress series their 90-day window and the horizon
    assert max(spans[s] for s in CURVE) <= 30 + 10 + 4
    assert max(spans[s] for s in STRESS) <= 90 + 10
    vintages = sum(len(v.ts) for h in history._series.values() for v in h.vintages.values())
    dates = sum(len(h.dates) for h in history._series.values())
    assert vintages <= dates + 10  # the revisions still due within the horizon, no more
    assert len(history._times) == vintages
    assert all("macro_stress" in e.value.values for e in emits[100:])


def test_results_do_not_depend_on_batching_or_on_the_macro_records_arriving_first() -> None:
    stream = _year_of_releases()[:1500]
    records = [item for item in stream if item[0] == "market.macro"]
    bars = [item for item in stream if item[0] == "market.bars.1m"]
    params = {"macro_stress": STRESS, "macro_stress_window_days": 90,
              "macro_horizon_days": 400}

    whole = feed(make_engine(**params), stream)
    one_by_one = feed(make_engine(**params), stream, one_by_one=True)
    records_first = feed(make_engine(**params), records + bars)

    assert [e.value for e in one_by_one] == [e.value for e in whole]
    assert [e.value for e in records_first] == [e.value for e in whole]
    assert all(v for v in macro_values(whole)[30:])


def test_the_snapshot_of_a_symbol_holds_no_macro_state() -> None:
    # market.macro is a broadcast input: its state is rebuilt by the re-read on a start
    engine = make_engine(macro_stress=())
    feed(engine, [*curve(MONDAY, 5.0, 4.0, 3.0), bar(at(MONDAY + timedelta(days=2), 12))])

    assert engine.take_dirty() == {"AAPL"}
    assert not any("macro" in name for name in engine.snapshot("AAPL"))


def test_series_lists_are_read_from_text_and_the_curve_takes_three() -> None:
    params = FeatureParams(macro_curve="DTB3, DGS5,DGS30", macro_stress="")

    assert params.macro_curve == ("DTB3", "DGS5", "DGS30")
    assert params.macro_stress == ()
    with pytest.raises(ValidationError):
        FeatureParams(macro_curve="DGS2,DGS10")


# ---- property: the bounded state answers as the whole history would -------------------------

SERIES = (*CURVE, *STRESS)
Record = tuple[str, int, int, float]  # series, day offset, release offset in hours, value


def _after(hours: int) -> int:
    return at(MONDAY) + hours * 3_600_000_000_000


def _naive(records: list[Record], end_ns: int, window_days: int,
           min_observations: int) -> dict[str, float]:
    """The macro features from their definitions over every record (no pruning), change
    days 7: what each (series, date) had as its newest vintage released by `end_ns`."""
    known: dict[tuple[str, date], tuple[int, float]] = {}
    for series, day, hours, value in records:
        released = _after(hours)
        key = (series, MONDAY + timedelta(days=day))
        if released <= end_ns and (key not in known or released >= known[key][0]):
            known[key] = (released, value)
    today = datetime.fromtimestamp(end_ns // 10**9, UTC).date()

    def curve_on(last: date) -> tuple[float, float, float] | None:
        days = sorted({d for s, d in known if s == CURVE[0] and d <= last}, reverse=True)
        for d in days:
            if all((s, d) in known for s in CURVE):
                y3m, y2, y10 = (known[(s, d)][1] for s in CURVE)
                return (y3m + y2 + y10) / 3, y10 - y3m, 2 * y2 - y3m - y10
        return None

    out: dict[str, float] = {}
    now, then = curve_on(today), curve_on(today - timedelta(days=7))
    names = ("level", "slope", "curvature")
    if now:
        out.update((f"macro_{n}", v) for n, v in zip(names, now, strict=True))
        if then:
            out.update((f"macro_{n}_change_7d", a - b)
                       for n, a, b in zip(names, now, then, strict=True))
    scores = []
    for series in STRESS:
        xs = [v for (s, d), (_, v) in sorted(known.items())
              if s == series and today - timedelta(days=window_days) < d <= today]
        if len(xs) >= min_observations and statistics.pstdev(xs) > 0:
            scores.append((xs[-1] - statistics.mean(xs)) / statistics.stdev(xs))
    if len(scores) == len(STRESS):
        out["macro_stress"] = statistics.mean(scores)
    return out


def _random_records(rng: random.Random) -> list[Record]:
    """Most series' values of days 0..20, each released the next day up to four days late,
    some revised later."""
    records = []
    for day in range(21):
        for series in SERIES:
            if rng.random() < 0.85:
                records.append((series, day, 24 * (day + 1) + rng.randint(0, 96),
                                round(rng.uniform(-5, 5), 2)))
            if rng.random() < 0.2:
                records.append((series, day, 24 * (day + 1) + rng.randint(0, 240),
                                round(rng.uniform(-5, 5), 2)))
    return records


@settings(max_examples=30, deadline=None)
@given(rng=st.randoms(use_true_random=False), horizon_days=st.integers(0, 30))
def test_the_pruned_history_answers_as_the_whole_history_in_any_arrival_order(
    rng: random.Random, horizon_days: int,
) -> None:
    # Arrange: each record a vintage released `hours` after Monday (realtime_start a serial
    # date, so vintages differ), in a shuffled arrival order among bars in time order
    records = _random_records(rng)
    bar_hours = [rng.randint(0, 24 * 26) for _ in range(30)]
    params = {"macro_change_days": 7, "macro_stress": STRESS, "macro_stress_window_days": 10,
              "macro_stress_min_observations": 3, "macro_horizon_days": horizon_days}
    pairs: list[tuple[Record, tuple[str, Event]]] = [
        (record, ("market.macro", event(
            "MacroObservation", ts_event=_after(h), ts_init=0, series=s,
            date=MONDAY + timedelta(days=d), realtime_start=date(2000, 1, 1) + timedelta(days=i),
            value=v)))
        for i, record in enumerate(records) for s, d, h, v in [record]]
    bars_ = [bar(_after(h)) for h in sorted(bar_hours)]
    rng.shuffle(pairs)
    stream = [item for _, item in pairs]
    cuts = sorted(rng.randint(0, len(stream)) for _ in bars_)
    mixed = [item for i, b in enumerate(bars_)
             for item in (*stream[cuts[i - 1] if i else 0:cuts[i]], b)]
    engine = make_engine(**params)

    # Act
    emits = feed(engine, mixed, one_by_one=True)

    # Assert: each bar has the features of every record arrived before it, or none when it
    # ends more than the horizon before the newest of them; the records' own arrival order
    # does not matter
    for i, (values, b) in enumerate(zip(macro_values(emits), bars_, strict=True)):
        arrived = [r for r, _ in pairs[:cuts[i]]]
        end = b[1].ts_event
        behind = bool(arrived) and end < max(_after(h) for _, _, h, _ in arrived) - \
            horizon_days * 86_400_000_000_000
        assert values == ({} if behind else pytest.approx(_naive(arrived, end, 10, 3))), i
