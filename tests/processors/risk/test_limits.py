"""Limit alerts with hysteresis (processors/risk/limits.py), and the limits' parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from processors.risk.limits import Check, transitions
from processors.risk.params import RiskParams

LIMIT, RATIO = 100.0, 0.9  # raise above 100, clear below 90


def walk(figures: list[float | None], limit: float | None = LIMIT) -> list[tuple[int, str, int]]:
    """(report number, raised/cleared, episode) over reports 1, 2, ... with these figures."""
    raised: dict[str, int] = {}
    moves = []
    for n, figure in enumerate(figures, start=1):
        for move in transitions(raised, [Check("var_limit", figure, limit)], n, RATIO):
            moves.append((n, "raised" if move.raised else "cleared", move.episode_ts))
    return moves


def test_raised_over_the_limit_and_cleared_only_below_the_clear_level() -> None:
    # 1: 100 is not over; 2 raises; 3 over again: nothing; 4 at 95, 5 at 90 (not below 90)
    # stay raised; 6 clears; 7 between the levels: stays cleared; 8 raises a new episode
    figures = [100.0, 100.5, 130.0, 95.0, 90.0, 89.99, 99.0, 101.0]

    assert walk(figures) == [(2, "raised", 2), (6, "cleared", 2), (8, "raised", 8)]


def test_a_missing_figure_changes_nothing_and_a_limit_switched_off_clears() -> None:
    assert walk([120.0, None, 95.0, None]) == [(1, "raised", 1)]

    raised = {"var_limit": 7}
    (move,) = transitions(raised, [Check("var_limit", 500.0, None)], 9, RATIO)
    assert (move.raised, move.episode_ts, raised) == (False, 7, {})
    assert transitions(raised, [Check("var_limit", 500.0, None)], 10, RATIO) == []


def test_each_kind_keeps_its_own_episode() -> None:
    raised: dict[str, int] = {}
    checks = [Check("var_limit", 150.0, 100.0), Check("drawdown_limit", 0.01, 0.05)]
    assert [m.kind for m in transitions(raised, checks, 1, RATIO)] == ["var_limit"]

    checks = [Check("var_limit", 50.0, 100.0), Check("drawdown_limit", 0.06, 0.05)]
    moves = transitions(raised, checks, 2, RATIO)

    assert [(m.kind, m.raised, m.episode_ts) for m in moves] == [
        ("var_limit", False, 1), ("drawdown_limit", True, 2)]


def test_limits_are_per_account_with_a_default() -> None:
    params = RiskParams(var_limit={"default": 50_000, "ACC1": 20_000}, drawdown_limit=0.1)

    assert params.limit("var_limit", "ACC1") == 20_000
    assert params.limit("var_limit", "ACC2") == 50_000
    assert params.limit("drawdown_limit", "ACC9") == 0.1
    assert params.limit("stress_limit", "ACC1") is None
    assert RiskParams(var_limit={"ACC1": 1.0}).limit("var_limit", "ACC2") is None


def test_params_from_text_and_what_they_refuse(tmp_path: Path) -> None:
    assert RiskParams(scenarios="equity_crash").scenarios == ("equity_crash",)
    assert RiskParams(scenarios="").scenarios == ()
    assert RiskParams(var_limit="2500.5").var_limit == {"default": 2500.5}
    with pytest.raises(ValidationError, match="min_bars 30 must not exceed window 20"):
        RiskParams(window=20, min_bars=30)
    with pytest.raises(ValidationError, match="greater than 0"):
        RiskParams(var_limit={"ACC1": -5})
    with pytest.raises(ValidationError, match="var_measure"):
        RiskParams(var_measure="var_hist_90")
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios: {a: {groups: {nope: -0.1}}}\n")
    with pytest.raises(ValidationError, match=f"stress scenarios {bad}: scenario 'a' shocks "
                                              "group 'nope'"):
        RiskParams(scenarios=str(bad))
