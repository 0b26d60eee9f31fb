"""Out-of-sample figures by hand: MSE, Spearman's IC (average ranks for ties), hit rate."""

from __future__ import annotations

import numpy as np
import pytest

from processors.ml.evaluation import scores


def test_figures_of_a_small_forecast_by_hand() -> None:
    forecast = np.array([0.1, 0.2, 0.2, -0.1, 0.0])
    outcome = np.array([1.0, 3.0, 2.0, -1.0, 5.0])
    figures = scores(forecast, outcome)
    # ranks: forecast 3, 4.5, 4.5, 1, 2; outcome 2, 4, 3, 1, 5 -> Pearson of the ranks
    f, o = np.array([3, 4.5, 4.5, 1, 2]), np.array([2, 4, 3, 1, 5])
    assert figures["ic"] == pytest.approx(np.corrcoef(f, o)[0, 1])
    assert figures["mse"] == pytest.approx(np.mean((forecast - outcome) ** 2))
    assert figures["hit_rate"] == 1.0  # the zero forecast of the last sample takes no side


def test_undefined_figures_are_none() -> None:
    figures = scores(np.zeros(3), np.array([1.0, -1.0, 2.0]))
    assert figures == {"mse": pytest.approx(2.0), "ic": None, "hit_rate": None}
