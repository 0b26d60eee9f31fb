"""Market-data feeds: where events enter the `market.*` topics.

- `sim`: a seeded synthetic market (trades, quotes, 10-level depth, informed-flow episodes).
- `files`: market files (our CSV / Parquet columns of trades, quotes, depth or 1-minute
  bars, other CSVs through a column map, LOBSTER pairs) read in chunks into time-ordered
  columns and back into wire models; its parts are `tables` (chunked reading), `cells` and
  `columns` (parsing), `mapping` (column maps, times), `lobster`, `bars` (only 1-minute
  bars), `chunks` (time order, merging), `badrows` and `progress`.
- `publish`: paced, keyed publishing of market events to the broker.

This module holds only what the three share, so it imports none of them.
"""

from __future__ import annotations

from streams.schema import Bar, DepthSnapshot, Quote, Trade

MarketEvent = Trade | Quote | DepthSnapshot | Bar

# The one place feeds name their topics; tests check these against topics.yaml.
TOPIC_BY_MODEL: dict[type[MarketEvent], str] = {
    Trade: "market.trades",
    Quote: "market.quotes",
    DepthSnapshot: "market.depth",
    Bar: "market.bars.1m",  # bar files: bars go to the bars engine's topic directly
}

__all__ = ["TOPIC_BY_MODEL", "MarketEvent"]
