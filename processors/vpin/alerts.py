"""Toxicity alerts with hysteresis.

A symbol's alert is raised when its VPIN CDF reaches `alert_cdf` and stays raised, however
often the CDF is high again, until the CDF falls below `clear_cdf`; then it is cleared and
can be raised again. The alert id is `vpin:<symbol>:<bucket that raised it>`, on the raise
and on its clear: deterministic (a re-delivered batch repeats the same ids) and one id per
episode, so a sink that upserts by id holds each episode's latest state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from processors.vpin.segments import ends_of, last_index, previous, starts_of
from processors.vpin.state import SlotField, SymbolTable

# The bucket that raised the symbol's open alert; 0 while none is raised.
ALERT_FIELDS = {"alert_bucket": SlotField(torch.int64, 0)}


@dataclass(frozen=True, slots=True)
class Transitions:
    """Per completed bucket: did it raise or clear the alert, and which episode it is."""

    raised: Tensor
    cleared: Tensor
    episode: Tensor


class Hysteresis:
    def __init__(self, table: SymbolTable, alert_cdf: float, clear_cdf: float) -> None:
        self._t = table
        self._alert_cdf = alert_cdf
        self._clear_cdf = clear_cdf

    def update(self, slot: Tensor, bucket: Tensor, cdf: Tensor) -> Transitions:
        """Walk each slot's buckets in order (a CDF of NaN leaves the state as it is)."""
        raised_at = self._t["alert_bucket"][slot]
        level = torch.where(cdf >= self._alert_cdf, 1, torch.where(cdf < self._clear_cdf, -1, 0))
        starts = starts_of(slot)
        initial = torch.where(raised_at > 0, 1, -1)
        decided = last_index(level != 0, starts)
        state = torch.where(decided >= 0, level[decided.clamp(min=0)], initial)
        before = previous(state, starts, initial)
        raised = (state == 1) & (before == -1)
        cleared = (state == -1) & (before == 1)
        last_raise = last_index(raised, starts)
        episode = torch.where(last_raise >= 0, bucket[last_raise.clamp(min=0)], raised_at)
        ends = ends_of(starts)
        self._t["alert_bucket"][slot[ends]] = torch.where(state[ends] == 1, episode[ends], 0)
        return Transitions(raised, cleared, episode)
