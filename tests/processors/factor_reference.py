"""Factor expressions evaluated the plain way: pandas over a symbol's whole series of bars.

Written apart from the engine (processors/factors) to check it: the expression is Python
once each `$field` is a name, so Python parses it and each operator is pandas' rolling
method of the same meaning (np.polyfit for the regressions). Windows need all N values
(pandas' default min_periods); a comparison with a missing value is missing, not False.
Std, Var, Corr and Cov are numpy's over each window instead: pandas' rolling ones keep
running sums whose rounding is more than the 1e-9 compared (a flat window's std at a price
of 50 came out 1.3e-7, a correlation of exactly 0 as -3e-12).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

FLAT_STD = 2e-5  # Qlib: Corr and Rsquare are NaN where a window's std is this close to 0


class Series:
    """A pandas Series whose operators keep NaN as NaN (comparisons give 1.0, 0.0 or NaN)."""

    def __init__(self, values: pd.Series) -> None:
        self.values = values.astype(np.float64)

    def _binary(self, other: object, op: Callable, reflected: bool = False) -> Series:
        right = other.values if isinstance(other, Series) else other
        left, right = (right, self.values) if reflected else (self.values, right)
        return Series(op(left, right))

    def _compare(self, other: object, op: Callable) -> Series:
        right = other.values if isinstance(other, Series) else pd.Series(other,
                                                                         self.values.index)
        return Series(op(self.values, right).astype(np.float64)
                      .where(self.values.notna() & right.notna()))

    def __add__(self, o: object) -> Series: return self._binary(o, lambda a, b: a + b)
    def __radd__(self, o: object) -> Series: return self._binary(o, lambda a, b: a + b, True)
    def __sub__(self, o: object) -> Series: return self._binary(o, lambda a, b: a - b)
    def __rsub__(self, o: object) -> Series: return self._binary(o, lambda a, b: a - b, True)
    def __mul__(self, o: object) -> Series: return self._binary(o, lambda a, b: a * b)
    def __rmul__(self, o: object) -> Series: return self._binary(o, lambda a, b: a * b, True)
    def __truediv__(self, o: object) -> Series: return self._binary(o, lambda a, b: a / b)
    def __rtruediv__(self, o: object) -> Series: return self._binary(o, lambda a, b: a / b,
                                                                     True)
    def __neg__(self) -> Series: return Series(-self.values)
    def __gt__(self, o: object) -> Series: return self._compare(o, lambda a, b: a > b)
    def __lt__(self, o: object) -> Series: return self._compare(o, lambda a, b: a < b)
    def __ge__(self, o: object) -> Series: return self._compare(o, lambda a, b: a >= b)
    def __le__(self, o: object) -> Series: return self._compare(o, lambda a, b: a <= b)
    def __eq__(self, o: object) -> Series: return self._compare(o, lambda a, b: a == b)  # type: ignore[override]
    def __ne__(self, o: object) -> Series: return self._compare(o, lambda a, b: a != b)  # type: ignore[override]


def _values(x: Series | float, index: pd.Index) -> pd.Series:
    return x.values if isinstance(x, Series) else pd.Series(float(x), index)


def _fit(window: np.ndarray) -> np.ndarray:
    return np.polyfit(np.arange(1, len(window) + 1), window, 1)


def _rsquare(window: np.ndarray) -> float:
    """The share of the variance the line explains."""
    fitted = np.polyval(_fit(window), np.arange(1, len(window) + 1))
    return ((fitted - window.mean()) ** 2).sum() / ((window - window.mean()) ** 2).sum()


def _flat(x: pd.Series, n: int) -> pd.Series:
    return x.rolling(n).apply(lambda w: np.std(w, ddof=1), raw=True) <= FLAT_STD


def _apply(x: Series, n: int, function: Callable[[np.ndarray], float]) -> Series:
    return Series(x.values.rolling(n).apply(function, raw=True))


def _pairs(x: Series, y: Series, n: int,
           function: Callable[[np.ndarray, np.ndarray], float]) -> pd.Series:
    """function(x's window, y's window) at every bar with n values of both before it."""
    a, b = x.values.to_numpy(), y.values.to_numpy()
    out = [function(a[i - n + 1:i + 1], b[i - n + 1:i + 1]) if i >= n - 1 else np.nan
           for i in range(len(a))]
    return pd.Series(out, x.values.index)


def _namespace(index: pd.Index) -> dict[str, Callable[..., Series]]:
    def elementwise(function: Callable) -> Callable[..., Series]:
        return lambda *args: Series(function(*(_values(a, index) for a in args)))

    return {
        "Ref": lambda x, n: Series(x.values.shift(n)),
        "Delta": lambda x, n: Series(x.values - x.values.shift(n)),
        "Mean": lambda x, n: Series(x.values.rolling(n).mean()),
        "Sum": lambda x, n: Series(x.values.rolling(n).sum()),
        "Std": lambda x, n: _apply(x, n, lambda w: np.std(w, ddof=1)),
        "Var": lambda x, n: _apply(x, n, lambda w: np.var(w, ddof=1)),
        "Max": lambda x, n: Series(x.values.rolling(n).max()),
        "Min": lambda x, n: Series(x.values.rolling(n).min()),
        "Med": lambda x, n: Series(x.values.rolling(n).median()),
        "Mad": lambda x, n: _apply(x, n, lambda w: np.abs(w - w.mean()).mean()),
        "Quantile": lambda x, n, q: Series(x.values.rolling(n).quantile(q)),
        "Rank": lambda x, n: Series(x.values.rolling(n).rank(pct=True)),
        "IdxMax": lambda x, n: _apply(x, n, lambda w: w.argmax() + 1),
        "IdxMin": lambda x, n: _apply(x, n, lambda w: w.argmin() + 1),
        "Slope": lambda x, n: _apply(x, n, lambda w: _fit(w)[0]),
        "Rsquare": lambda x, n: Series(_apply(x, n, _rsquare).values
                                       .mask(_flat(x.values, n))),
        "Resi": lambda x, n: _apply(x, n, lambda w: w[-1] - np.polyval(_fit(w), len(w))),
        "Corr": lambda x, y, n: Series(_pairs(x, y, n, lambda a, b: np.corrcoef(a, b)[0, 1])
                                       .mask(_flat(x.values, n) | _flat(y.values, n))),
        "Cov": lambda x, y, n: Series(_pairs(x, y, n, lambda a, b: np.cov(a, b)[0, 1])),
        "Abs": elementwise(np.abs),
        "Log": elementwise(np.log),
        "Sign": elementwise(np.sign),
        "Power": elementwise(np.power),
        "Greater": elementwise(np.maximum),
        "Less": elementwise(np.minimum),
        "If": lambda c, x, y: Series(_values(x, index).where(_values(c, index) != 0,
                                                             _values(y, index))
                                     .where(_values(c, index).notna())),
    }


def evaluate(expression: str, bars: pd.DataFrame) -> pd.Series:
    """The expression at every bar of `bars` (columns open, high, low, close, volume, vwap,
    one row per bar, oldest first); NaN where it has no value."""
    fields = {f"field_{name}": Series(bars[name]) for name in bars.columns}
    python = re.sub(r"\$(\w+)", r"field_\1", expression)
    with np.errstate(all="ignore"):  # flat windows: the guard or the arithmetic says NaN
        result = eval(python, {"__builtins__": {}},  # noqa: S307 (our own test expressions)
                      {**_namespace(bars.index), **fields})
    return _values(result, bars.index)
