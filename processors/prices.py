"""Prices that engines publish, as exact decimals.

Engines compute with float64 columns (the codec reads decimal text as float64), but what
they publish as a price is a decimal (`streams.schema.Price`, a string on the wire):

- a price an engine was given (a bar's open, high, low, close) is written with the decimals
  its input had (`written`): `5012.50` stays `5012.50`, `99` stays `99`;
- a price computed from others is exact where the arithmetic is (a spread, a mid) and
  rounded half-even to `NANO_SCALE` decimals where it is not (a VWAP, a microprice), in its
  shortest form (`rounded`).

Exact, because a float64 holds any decimal of up to 15 significant digits closely enough that
its shortest text (or its text at the input's decimals) is that decimal again.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np

from streams.codec import MAX_PRICE_SCALE

NANO_SCALE = MAX_PRICE_SCALE  # 9: prices are exact to the nano unit


def written(value: float, scale: int) -> Decimal:
    """A price read from text with `scale` decimals, as that text (`5012.5`, 2 -> `5012.50`)."""
    return Decimal(f"{value:.{scale}f}")


def decimal_of(value: float) -> Decimal:
    """The decimal a float64 price was read from: its shortest round-trip text."""
    return Decimal(np.format_float_positional(value, unique=True, trim="-"))


def exact(value: float) -> Fraction:
    """The decimal a float64 price was read from, exactly."""
    return Fraction(decimal_of(value))


def rounded(value: Fraction, min_scale: int = 0) -> Decimal:
    """`value` rounded half-even to NANO_SCALE decimals, without trailing zeros beyond
    `min_scale` decimals (`Fraction(401, 8)` -> `50.125`; 1/3 -> `0.333333333`)."""
    units, scale = round(value * 10**NANO_SCALE), NANO_SCALE  # round(Fraction): half-even
    while scale > min_scale and units % 10 == 0:
        units //= 10
        scale -= 1
    return Decimal(units).scaleb(-scale)
