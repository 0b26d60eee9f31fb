"""Adjusted closes against CRSP's cumulative adjustment, computed by hand from its definition:
an action on day t rescales every earlier price by (1 - D_t / C_{t-1}) / S_t."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.kit.adjustment import adjusted_closes, adjustment_factors

NAN = float("nan")


def test_a_dividend_and_a_later_split_rescale_every_earlier_close() -> None:
    close = [100.0, 102.0, 51.0, 52.0]
    dividend = [0.0, 1.0, 0.0, 0.0]  # ex on day 1: m = 1 - 1/100 = 0.99
    split = [1.0, 1.0, 2.0, 1.0]  # two for one on day 2: m = 1/2
    assert adjustment_factors(close, dividend, split) == pytest.approx([0.495, 0.5, 1.0, 1.0])
    assert adjusted_closes(close, dividend, split) == pytest.approx([49.5, 51.0, 51.0, 52.0])


def test_a_reverse_split_raises_earlier_closes() -> None:
    # one for four on day 1: S = 0.25, earlier prices times 4
    assert adjusted_closes([2.0, 8.4], [0.0, 0.0], [1.0, 0.25]) == pytest.approx([8.0, 8.4])


def test_the_latest_day_is_its_close_and_a_dividend_on_the_first_day_rescales_nothing() -> None:
    closes = adjusted_closes([50.0, 51.0], [0.5, 0.0], [1.0, 1.0])
    assert closes == pytest.approx([50.0, 51.0])


def test_an_unknown_action_makes_every_earlier_adjusted_close_unknown() -> None:
    closes = adjusted_closes([10.0, 11.0, 12.0, 13.0], [0.0, 0.0, NAN, 0.0],
                             [1.0, 1.0, 1.0, 1.0])
    assert np.isnan(closes[:2]).all() and closes[2:] == pytest.approx([12.0, 13.0])


def test_no_days_and_mismatched_lengths() -> None:
    assert adjusted_closes([], [], []).size == 0
    with pytest.raises(ValueError, match="one length"):
        adjustment_factors([1.0, 2.0], [0.0], [1.0, 1.0])


@given(st.lists(st.tuples(st.floats(1.0, 1e4), st.floats(0.0, 0.5),
                         st.sampled_from([1.0, 2.0, 3.0, 0.5])), min_size=2, max_size=30))
def test_adjusted_day_on_day_ratio_is_the_close_against_the_ex_dividend_prior_close(
        days: list[tuple[float, float, float]]) -> None:
    """Day on day, adjusted closes move as C_t * S_t / (C_{t-1} - D_t): the CRSP price
    relative of a holder of one share before the day."""
    close = np.array([d[0] for d in days])
    dividend = np.array([0.0] + [d[1] * c for d, c in zip(days[1:], close[:-1], strict=True)])
    split = np.array([1.0] + [d[2] for d in days[1:]])
    adjusted = adjusted_closes(close, dividend, split)
    expected = close[1:] * split[1:] / (close[:-1] - dividend[1:])
    np.testing.assert_allclose(adjusted[1:] / adjusted[:-1], expected, rtol=1e-9)
    assert adjusted[-1] == close[-1]
