"""Where a model's inputs come from: logic.features and logic.factors.

A model's inputs are named values of one symbol's bar: the features engine's (lower-case,
`ret_1`, `rsi_14`) and the factor catalog's (upper-case, `KMID`, `ROC5`), joined by symbol
and ts_event (both date a bar at its end). model.json's `input_topics` maps each input to
its topic; a model registered before factors could be inputs has none, and reads
logic.features only. Importing this module imports no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FEATURES_TOPIC = "logic.features"
FACTORS_TOPIC = "logic.factors"
INPUT_TOPICS = (FEATURES_TOPIC, FACTORS_TOPIC)


def input_topics(meta: Mapping[str, Any]) -> dict[str, str]:
    """Each input of a model (model.json) -> the topic it comes from."""
    given: dict[str, str] = meta.get("input_topics") or {}
    return {name: given.get(name, FEATURES_TOPIC) for name in meta["features"]}
