"""Argument types the commands share."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def positive(kind: type[float] | type[int]) -> Callable[[str], float]:
    """An argparse type: `kind(text)`, which must be > 0 and finite."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0 or not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse
