"""Limit alerts of one account, with hysteresis.

A limit's alert is raised when its figure goes over the limit (figure > limit) and stays
raised, however often the figure is over again, until the figure falls below clear_ratio x
the limit; then it is cleared and can be raised again. A figure that is None (VaR before
enough bar returns) leaves the alert as it is; a limit switched off (a restart with other
parameters) clears a raised alert. The alert id is `<kind>:<account>:<ts_event>` of the
report that raised it, on the raise and on its clear: one id per episode, deterministic, so a
sink that upserts by id holds each episode's latest state.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("var_limit", "stress_limit", "drawdown_limit")


@dataclass(frozen=True, slots=True)
class Check:
    """One limit of one account at one report: its figure and its limit (None: off)."""

    kind: str
    figure: float | None
    limit: float | None


@dataclass(frozen=True, slots=True)
class Transition:
    kind: str
    raised: bool  # False: cleared
    episode_ts: int  # ts_event of the report that raised it
    figure: float | None
    limit: float | None


def transitions(raised: dict[str, int], checks: list[Check], ts: int,
                clear_ratio: float) -> list[Transition]:
    """Apply one report's checks to `raised` (kind -> ts of the raising report; changed in
    place) and return what was raised or cleared, in the order of `checks`."""
    moves = []
    for check in checks:
        episode = raised.get(check.kind)
        if check.limit is None:
            if episode is not None:
                del raised[check.kind]
                moves.append(Transition(check.kind, False, episode, check.figure, None))
            continue
        if check.figure is None:
            continue
        if episode is None and check.figure > check.limit:
            raised[check.kind] = ts
            moves.append(Transition(check.kind, True, ts, check.figure, check.limit))
        elif episode is not None and check.figure < clear_ratio * check.limit:
            del raised[check.kind]
            moves.append(Transition(check.kind, False, episode, check.figure, check.limit))
    return moves
