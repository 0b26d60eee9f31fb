"""A synthetic daily market for the factor model's tests: closes driven by a market, sector
and noise, and reference data with every sector, a spread of market caps and value
descriptors. Seeded: the same arguments give the same files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SECTORS = ("Energy", "Financials", "Health", "Technology")


def write_market(directory: Path, *, days: int, symbols: int, seed: int = 7) -> tuple[Path, Path]:
    """bars.csv (date, symbol, close) and reference.csv; returns their paths."""
    rng = np.random.default_rng(seed)
    names = [f"S{i:03d}" for i in range(symbols)]
    sector = np.array([SECTORS[i % len(SECTORS)] for i in range(symbols)])
    market = rng.normal(0.0003, 0.01, days)
    by_sector = {s: rng.normal(0, 0.005, days) for s in SECTORS}
    returns = (market[:, None] + np.stack([by_sector[s] for s in sector], axis=1)
               + rng.standard_t(4, (days, symbols)) * 0.01)
    close = 50 * np.cumprod(1 + returns, axis=0)
    dates = pd.bdate_range("2022-01-03", periods=days)
    bars = pd.DataFrame({"date": np.repeat(dates.strftime("%Y-%m-%d"), symbols),
                         "symbol": np.tile(names, days), "close": close.ravel()})
    reference = pd.DataFrame({
        "symbol": names, "sector": sector,
        "market_cap": np.exp(rng.normal(23, 1.5, symbols)),
        "book_to_price": np.exp(rng.normal(-0.7, 0.5, symbols)),
        "sales_to_price": np.exp(rng.normal(-0.3, 0.6, symbols)),
        "cash_flow_to_price": rng.normal(0.06, 0.04, symbols),
    })
    bars_path, reference_path = directory / "bars.csv", directory / "reference.csv"
    bars.to_csv(bars_path, index=False)
    reference.to_csv(reference_path, index=False)
    return bars_path, reference_path
