"""Toxicity alerts: raised once when the VPIN CDF reaches alert_cdf, cleared once below
clear_cdf, with ids from symbol and the raising bucket (its event time and number)."""

from __future__ import annotations

import pytest

from streams.schema import Trade
from tests.factories import T0, tape
from tests.processors.test_vpin import alerts, by_symbol, feed, make_engine, readings, restored, run

SEC = 1_000_000_000
V = 20
# Buy shares per bucket of 20 -> VPIN (n = 1) = |20 - 2·buy| / 20:
#   12 -> 0.2, 14 -> 0.4, 10 -> 0.0, 16 -> 0.6, 14 -> 0.4, 12 -> 0.2, 15 -> 0.5, 18 -> 0.8
BUYS = [12, 14, 10, 16, 14, 12, 15, 18]
VPINS = [0.2, 0.4, 0.0, 0.6, 0.4, 0.2, 0.5, 0.8]
# CDF over the last 5 values, this one included:
#   b1 [.2] 1 | b2 [.2 .4] 1 | b3 [.2 .4 0] 1/3 | b4 [.2 .4 0 .6] 1 | b5 [.2 .4 0 .6 .4] 4/5
#   b6 [.4 0 .6 .4 .2] 2/5 | b7 [0 .6 .4 .2 .5] 4/5 | b8 [.6 .4 .2 .5 .8] 1
CDFS = [1.0, 1.0, 1 / 3, 1.0, 0.8, 0.4, 0.8, 1.0]
# alert 0.9, clear 0.8: b1 raises; b2 is high again: nothing; b3 clears; b4 raises;
# b5 at 0.8 is not below 0.8: stays raised; b6 clears; b7 at 0.8 is below 0.9: stays
# cleared; b8 raises.


def episode(bucket: int) -> str:
    """The id of the alert raised by `bucket`: bucket k is completed by the sell at 2k s."""
    return f"vpin:AAA:{T0 + 2 * bucket * SEC}:{bucket}"


EXPECTED_ALERTS = [
    (episode(1), "raised", 1), (episode(1), "cleared", 3),
    (episode(4), "raised", 4), (episode(4), "cleared", 6),
    (episode(8), "raised", 8),
]


def hysteresis_tape() -> list[Trade]:
    """A seed trade (no side), then per bucket an uptick buy and a downtick sell."""
    rows = [(T0, "AAA", "100.00", 1)]
    for k, buy in enumerate(BUYS):
        rows += [(T0 + (2 * k + 1) * SEC, "AAA", "101.00", buy),
                 (T0 + (2 * k + 2) * SEC, "AAA", "100.00", V - buy)]
    return tape(*rows)


def engine_for_alerts():  # type: ignore[no-untyped-def]
    return make_engine(classification="tick", bucket_volume=V, window=1, cdf_window=5)


def test_vpin_and_cdf_of_the_hysteresis_tape() -> None:
    got = readings(run(engine_for_alerts(), hysteresis_tape()))

    assert [r.vpin for r in got] == pytest.approx(VPINS)
    assert [r.vpin_cdf for r in got] == pytest.approx(CDFS)


@pytest.mark.parametrize("single_trades", [False, True], ids=["one-batch", "trade-by-trade"])
def test_alerts_are_raised_and_cleared_once_per_crossing(single_trades: bool) -> None:
    # Arrange
    trades = hysteresis_tape()
    cuts = range(1, len(trades)) if single_trades else ()

    # Act
    emits = run(engine_for_alerts(), trades, cuts)

    # Assert
    bucket_ts = {r.bucket: r.ts_event for r in readings(emits)}
    got = alerts(emits)
    assert [(a.alert_id, a.state, int(a.values["bucket"])) for a in got] == EXPECTED_ALERTS
    assert [a.ts_event for a in got] == [bucket_ts[b] for _, _, b in EXPECTED_ALERTS]
    assert [a.severity for a in got] == ["warning", "info", "warning", "info", "warning"]
    assert [a.values["vpin_cdf"] for a in got] == pytest.approx([1.0, 1 / 3, 1.0, 0.4, 1.0])


@pytest.mark.parametrize("split", [3, 8, 9, 11, 13])
def test_hysteresis_state_survives_a_restore(split: int) -> None:
    # Arrange: cuts inside raised (3, 8, 9) and cleared (11, 13) stretches
    trades = hysteresis_tape()
    expected = by_symbol(run(engine_for_alerts(), trades))
    before = engine_for_alerts()
    first = feed(before, trades[:split])

    # Act
    after = restored(before, classification="tick", bucket_volume=V, window=1, cdf_window=5)
    rest = run(after, trades[split:])

    # Assert: the same alerts with the same ids, none repeated
    assert by_symbol(first + rest) == expected


def test_alert_levels_can_be_set() -> None:
    # alert 0.3 / clear 0.2 on the same CDFs: raised at b1, never cleared (the lowest is 1/3).
    engine = make_engine(classification="tick", bucket_volume=V, window=1, cdf_window=5,
                         alert_cdf=0.3, clear_cdf=0.2)

    got = alerts(run(engine, hysteresis_tape()))

    assert [(a.alert_id, a.state) for a in got] == [(episode(1), "raised")]


@pytest.mark.parametrize("single_trades", [False, True], ids=["one-batch", "trade-by-trade"])
def test_no_alert_before_the_minimum_history(single_trades: bool) -> None:
    # With 4 VPIN values required, b1-b3 (history 1-3) cannot raise even at CDF 1; b4 is the
    # first that can (CDF 1 -> raise), then the crossings continue as without warm-up.
    engine = make_engine(classification="tick", bucket_volume=V, window=1, cdf_window=5,
                         alert_min_history=4)
    trades = hysteresis_tape()

    got = alerts(run(engine, trades, range(1, len(trades)) if single_trades else ()))

    assert [(a.alert_id, a.state, int(a.values["bucket"])) for a in got] == [
        (episode(4), "raised", 4), (episode(4), "cleared", 6), (episode(8), "raised", 8),
    ]


def test_warm_up_counts_history_across_a_restore() -> None:
    # Three values before the restart, the fourth after it: b4 raises as without a restart.
    params = {"classification": "tick", "bucket_volume": V, "window": 1, "cdf_window": 5,
              "alert_min_history": 4}
    trades = hysteresis_tape()
    before = make_engine(**params)
    feed(before, trades[:7])  # seed + buckets 1-3

    got = alerts(run(restored(before, **params), trades[7:]))

    assert [(a.alert_id, a.state) for a in got][:1] == [(episode(4), "raised")]
