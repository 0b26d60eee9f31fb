"""A backtest that trades on a macro feature gives the same result whether the macro records
come before the tape (a feed's history, published first with the times it became known) or
among it: the replay hands every input to the features engine in event-time order, and the
engine joins into each bar only what was known at its end (processors/kit/macro.py).

The strategy (tests/streams/macro_strategy.py) is long while `macro_slope` > 0. The curve's
slope changes sign every five days and one 10y yield is revised, so the positions follow
the vintages known at each bar, not the values that came to be known later.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from processors.strategies.engine import engine_class
from streams import codec
from streams.backtest import AccountSummary, backtest_engines, summarize
from streams.codec import event_columns
from streams.params import apply_overrides
from streams.replay import ReplayResult, Source, replay_runs
from streams.schema import Bar, Event, MacroObservation
from streams.settings import EngineParams, with_engines
from tests.streams.macro_strategy import SlopeLong
from tests.streams.runtime.workers import produce

DAY0 = date(2031, 3, 3)
MINUTE_NS, HOUR_NS, DAY_NS = 60 * 10**9, 3600 * 10**9, 86_400 * 10**9
DAYS = 20
RELEASE_HOUR = 21
REVISED_DAY, REVISION_DAY = 6, 9  # day 6's 10y, revised on day 9 to flip the slope's sign


def ns(day: date, hours: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 10**9 \
        + hours * HOUR_NS


def macro_records(curve: tuple[str, str, str]) -> list[MacroObservation]:
    """Daily curves from 35 days before the tape, each released the next evening; the slope
    is positive in even five-day spans, negative in odd ones; day 6's 10y revised on day 9."""
    records = []
    for offset in range(-35, DAYS):
        day = DAY0 + timedelta(days=offset)
        slope = 0.5 if (offset // 5) % 2 == 0 else -0.5
        known = day + timedelta(days=1)
        records += [_observation(series, day, known, value) for series, value in
                    zip(curve, (4.0, 4.1, 4.0 + slope + offset / 100), strict=True)]
        if offset == REVISED_DAY:
            records.append(_observation(curve[2], day, DAY0 + timedelta(days=REVISION_DAY),
                                        4.0 - slope))
    return sorted(records, key=lambda r: r.ts_event)


def _observation(series: str, day: date, known: date, value: float) -> MacroObservation:
    ts = ns(known, RELEASE_HOUR)
    return MacroObservation(ts_event=ts, ts_init=ts, source="fred", series=series, date=day,
                            realtime_start=known, value=value, unit="percent")


def bars(symbols: tuple[str, ...]) -> list[Bar]:
    """A random-walk bar every three hours of the tape, per symbol."""
    rng = np.random.default_rng(7)
    out = []
    for symbol in symbols:
        close = 10_000 + np.cumsum(rng.integers(-30, 31, DAYS * 8))
        for i, cents in enumerate(close.tolist()):
            end = ns(DAY0, 3 * i + 3)  # 21:00 among them: the instant of a release
            price = f"{cents / 100:.2f}"
            out.append(Bar(ts_event=end, ts_init=end, bar_id=f"{symbol}@1m@{end - MINUTE_NS}",
                           symbol=symbol, start_ns=end - MINUTE_NS, open=price, high=price,
                           low=price, close=price, volume=100, trade_count=1, vwap=price))
    return sorted(out, key=lambda b: (b.ts_event, b.symbol))


def _source(events: list[Event]) -> Source:
    topic = "market.macro" if isinstance(events[0], MacroObservation) else "market.bars.1m"
    return Source(topic, event_columns(type(events[0]).__name__, events))


def _interleaved(records: list[MacroObservation], tape: list[Bar]) -> list[Source]:
    """One run per stretch of one topic, in event-time order (a record before a bar of its
    time), as a merged file or topic read gives them."""
    merged = sorted([*records, *tape],
                    key=lambda e: (e.ts_event, not isinstance(e, MacroObservation)))
    runs: list[list[Event]] = []
    for ev in merged:
        if runs and type(runs[-1][0]) is type(ev):
            runs[-1].append(ev)
        else:
            runs.append([ev])
    return [_source(run) for run in runs]


def _overrides(curve: tuple[str, str, str]) -> list[str]:
    return [f"features.macro_curve={','.join(curve)}", "features.macro_stress=",
            "execution.fill_model=bar"]


def _backtest(runs: list[Source], curve: tuple[str, str, str]) -> ReplayResult:
    engines = backtest_engines(engine_class(SlopeLong))
    params = apply_overrides(with_engines(EngineParams(), engines), _overrides(curve))
    return replay_runs(runs, engines, params)


def _summaries(result: ReplayResult) -> list[AccountSummary]:
    """The backtest's summary of the strategy's account (streams.backtest_run)."""
    return summarize(result.outputs, EngineParams().portfolio.cash, ("paper",))


def test_the_backtest_is_the_same_with_the_macro_history_first_or_among_the_bars() -> None:
    curve = ("DGS3MO", "DGS2", "DGS10")
    records, tape = macro_records(curve), bars(("AAA", "BBB"))

    first = _backtest([_source(records), _source(tape)], curve)
    among = _backtest(_interleaved(records, tape), curve)

    # Assert: every output the same, strategies saw the same features
    assert {t: first.rows(t) for t in first.outputs} == {t: among.rows(t) for t in among.outputs}
    assert _summaries(first) == _summaries(among)
    # ... and they are the as-of ones, which the strategy traded on
    seen = _macro(first.rows("logic.features"))
    assert [slope for *_, slope in seen] == pytest.approx([_known_slope(ts) for _, ts, _ in seen])
    assert len(first.rows("market.executions")) >= 6


def _known_slope(ts: int) -> float:
    """The slope a bar at `ts` must see: the newest date released by then (the day before,
    or two before the evening release), with the revision from its release on."""
    day = datetime.fromtimestamp(ts // 10**9, UTC).date()
    released = day - timedelta(days=1 if ts >= ns(day, RELEASE_HOUR) else 2)
    offset = (released - DAY0).days
    slope = 0.5 if (offset // 5) % 2 == 0 else -0.5
    if offset == REVISED_DAY and ts >= ns(DAY0 + timedelta(days=REVISION_DAY), RELEASE_HOUR):
        return -slope
    return slope + offset / 100


def test_a_backtest_of_the_topics_with_the_history_published_first(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: series and a symbol of this test's own on the shared topics (one symbol: a
    # topic read orders bars of one time by partition, a merge by input order, and the
    # drawdown over snapshots of one time depends on that order); the whole macro history
    # produced before the first bar
    tag = uuid.uuid4().hex[:6].upper()
    curve = (f"Y3M{tag}", f"Y2Y{tag}", f"Y10Y{tag}")
    records, tape = macro_records(curve), bars((f"A{tag}",))
    produce(kafka_brokers, [(r.series, codec.encode(r)) for r in records], "market.macro")
    produce(kafka_brokers, [(b.symbol, codec.encode(b)) for b in tape], "market.bars.1m")
    expected = _backtest(_interleaved(records, tape), curve)

    # Act
    sets = [arg for override in _overrides(curve) for arg in ("--set", override)]
    result = subprocess.run(
        [sys.executable, "-m", "streams", "backtest", "--topic", "market.bars.1m,market.macro",
         "--from", str(records[0].ts_event), "--to", str(tape[-1].ts_event + 1),
         "--params", "defaults", "--strategy", "tests.streams.macro_strategy:SlopeLong",
         *sets, "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=services_env,
    )

    # Assert: the same features, fills and summary as the interleaved replay
    assert result.returncode == 0, result.stderr
    features = pd.read_parquet(tmp_path / "logic.features.parquet")
    fills = pd.read_parquet(tmp_path / "market.executions.parquet")
    assert _macro(features.to_dict("records")) == _macro(expected.rows("logic.features"))
    assert [(r["symbol"], r["ts_event"], Decimal(str(r["price"])), r["quantity"])
            for r in fills.to_dict("records")] == [
        (r["symbol"], r["ts_event"], Decimal(r["price"]), r["quantity"])
        for r in expected.rows("market.executions")]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["accounts"] == [s.as_json() for s in _summaries(expected)]
    assert summary["accounts"][0]["fills"] >= 4


def _macro(rows: list[dict]) -> list[tuple[str, int, float]]:
    """Each feature vector's symbol, end and slope (the files hold `values` as JSON)."""
    values = [json.loads(r["values"]) if isinstance(r["values"], str) else r["values"]
              for r in rows]
    return [(r["symbol"], r["ts_event"], v["macro_slope"])
            for r, v in zip(rows, values, strict=True)]
