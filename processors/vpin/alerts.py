"""Toxicity alerts with hysteresis.

A symbol's alert is raised when its VPIN CDF reaches `alert_cdf` and stays raised, however
often the CDF is high again, until the CDF falls below `clear_cdf`; then it is cleared and
can be raised again. The alert id is `vpin:<symbol>:<ts_event>:<bucket>` of the bucket that
raised it, on the raise and on its clear: deterministic (a re-delivered batch repeats the same
ids) and one id per episode, so a sink that upserts by id holds each episode's latest state.
The event time keeps the ids of different runs apart: buckets restart at 1 whenever the log
does (the embedded broker's on every `up`), and bucket 1 of today is not bucket 1 of
yesterday.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from processors.kit.segments import ends_of, last_index, previous, starts_of
from processors.kit.tensors import KeyTable, SlotField

# The bucket that raised the symbol's open alert and its ts_event; 0 while none is raised.
ALERT_FIELDS = {"alert_bucket": SlotField(torch.int64, 0), "alert_ts": SlotField(torch.int64, 0)}


@dataclass(frozen=True, slots=True)
class Transitions:
    """Per completed bucket: did it raise or clear the alert, and which episode it is (the
    bucket that raised it and that bucket's ts_event)."""

    raised: Tensor
    cleared: Tensor
    episode: Tensor
    episode_ts: Tensor


class Hysteresis:
    def __init__(self, table: KeyTable, alert_cdf: float, clear_cdf: float) -> None:
        self._t = table
        self._alert_cdf = alert_cdf
        self._clear_cdf = clear_cdf

    def update(self, slot: Tensor, bucket: Tensor, ts: Tensor, cdf: Tensor) -> Transitions:
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
        raising = last_raise.clamp(min=0)
        episode = torch.where(last_raise >= 0, bucket[raising], raised_at)
        episode_ts = torch.where(last_raise >= 0, ts[raising], self._t["alert_ts"][slot])
        ends = ends_of(starts)
        still = state[ends] == 1
        self._t["alert_bucket"][slot[ends]] = torch.where(still, episode[ends], 0)
        self._t["alert_ts"][slot[ends]] = torch.where(still, episode_ts[ends], 0)
        return Transitions(raised, cleared, episode, episode_ts)
