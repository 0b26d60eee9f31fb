"""Adjusted prices from unadjusted daily prices and the corporate actions on them, as CRSP
defines the cumulative adjustment (CRSP's cumulative factors to adjust price, CFACPR, and for
total returns the dividend factor; Yahoo's "Adj Close" follows the same standard).

For one symbol's days in date order, with close C_t, cash dividend D_t going ex on day t and
split coefficient S_t (2.0: two shares for one) on day t, an action on day t rescales every
price before t by

    m_t = (1 - D_t / C_{t-1}) / S_t

and the adjusted close of day t is C_t times the product of m_u over the later days u > t.
The latest day's adjusted close is its close; a day's adjusted close changes whenever a later
action happens, which is why market.prices.1d stores only the unadjusted days and actions
(streams.schema.DailyPrice): the adjusted prices as of an instant are these functions over
the records known at that instant.

A day whose actions are unknown (None: a vendor series without them) makes every earlier
adjusted close unknown (NaN). A dividend on the first day has no earlier close to measure it
against and earlier prices are not in the input, so it rescales nothing.
"""

from __future__ import annotations

import numpy as np


def adjustment_factors(close: np.ndarray, dividend: np.ndarray, split: np.ndarray
                       ) -> np.ndarray:
    """The factor that adjusts each day's prices for the actions of the days after it (1.0 on
    the latest day). `close`, `dividend`, `split`: one symbol's days in date order; NaN for
    an action the vendor does not give (then every earlier factor is NaN)."""
    close = np.asarray(close, dtype=np.float64)
    dividend = np.asarray(dividend, dtype=np.float64)
    split = np.asarray(split, dtype=np.float64)
    if not close.shape == dividend.shape == split.shape or close.ndim != 1:
        raise ValueError("close, dividend and split must be 1-d arrays of one length")
    if close.size == 0:
        return close.copy()
    multiplier = np.ones_like(close)
    multiplier[1:] = (1.0 - dividend[1:] / close[:-1]) / split[1:]
    multiplier[0] = 1.0
    # factor_t = prod(multiplier[t+1:]): a reversed cumulative product shifted by one day
    later = np.cumprod(multiplier[::-1])[::-1]
    return np.append(later[1:], 1.0)


def adjusted_closes(close: np.ndarray, dividend: np.ndarray, split: np.ndarray) -> np.ndarray:
    """Each day's close adjusted for the dividends and splits of the days after it."""
    return np.asarray(close, dtype=np.float64) * adjustment_factors(close, dividend, split)
