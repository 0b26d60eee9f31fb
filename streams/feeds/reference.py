"""Reference data per symbol for the daily factor model (`factors model --reference`).

A CSV file with a header: `symbol`, `sector`, `market_cap` (positive, in any currency unit,
the same for every symbol) and optionally `book_to_price`, `sales_to_price`,
`cash_flow_to_price` (value descriptors; an empty cell is a missing value). One row per
symbol; the values hold for every day (fundamentals by date come with the data-source
issue). The README's "Factor model" section has an example.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from processors.factor_model import VALUE_DESCRIPTORS
from streams.exceptions import InputFileError

REQUIRED = ("symbol", "sector", "market_cap")


def read_reference(path: Path) -> pd.DataFrame:
    """The file's rows indexed by symbol: sector, market_cap and the value descriptors it
    has."""
    try:
        frame = pd.read_csv(path, dtype={"symbol": str, "sector": str})
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{path}: cannot read: {exc}") from None
    missing = [c for c in REQUIRED if c not in frame]
    if missing:
        raise InputFileError(f"{path}: reference file without column(s) {', '.join(missing)}")
    columns = [*REQUIRED, *(c for c in VALUE_DESCRIPTORS if c in frame)]
    frame = frame[columns]
    for column in columns[2:]:
        try:
            frame[column] = pd.to_numeric(frame[column], errors="raise").astype(float)
        except (ValueError, TypeError):
            raise InputFileError(f"{path}: column {column} is not numeric") from None
    checks = {
        "a symbol": frame["symbol"].isna(),
        "a sector": frame["sector"].isna(),
        "a positive market_cap": ~(np.isfinite(frame["market_cap"]) & (frame["market_cap"] > 0)),
    }
    for what, bad in checks.items():
        if bad.any():
            line = int(np.flatnonzero(bad)[0]) + 2
            raise InputFileError(f"{path}:{line}: row without {what}")
    twice = frame["symbol"].duplicated()
    if twice.any():
        line = int(np.flatnonzero(twice)[0]) + 2
        raise InputFileError(f"{path}:{line}: symbol {frame['symbol'][twice].iloc[0]} "
                             "listed twice")
    return frame.set_index("symbol")
