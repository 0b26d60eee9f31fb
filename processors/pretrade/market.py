"""What pre-trade risk knows of the market, from its two broadcast inputs.

- Reference prices (market.bars.1m): per symbol the close of its newest 1-minute bar, which
  is the last trade of that minute. The price collar, the notional of a market order and the
  valuation of positions use it. A broadcast of market.trades would give the very last trade,
  but every instance would then read the whole trade tape, the busiest topic, from its
  earliest record on every start, and in a replay every trade would reach the trading loop;
  the bar close is at most a minute (and the bars engine's grace) old.
- Toxicity (logic.risk.alerts, kind `vpin`): per symbol whether its VPIN alert is raised, from
  the newest raise or clear by (ts_event, bucket). Other kinds of alert are ignored.

Both are the same in every instance and belong to no account: rebuilt by re-reading the
topics on every start, never snapshotted. Applying a record again changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from processors.prices import decimal_of

VPIN_KIND = "vpin"


@dataclass(frozen=True, slots=True)
class Reference:
    """A symbol's reference price: the close of its bar ending at `ts`."""

    ts: int
    price: Decimal


@dataclass(frozen=True, slots=True)
class Toxicity:
    """A symbol's newest VPIN alert transition."""

    rank: tuple[int, float]  # (ts_event, bucket) of the transition
    raised: bool
    alert_id: str


@dataclass(slots=True)
class MarketView:
    references: dict[str, Reference] = field(default_factory=dict)
    toxicity: dict[str, Toxicity] = field(default_factory=dict)

    def on_bars(self, columns: Mapping[str, np.ndarray]) -> None:
        references = self.references
        for symbol, ts, close in zip(columns["symbol"].tolist(), columns["ts_event"].tolist(),
                                     columns["close"].tolist(), strict=True):
            held = references.get(symbol)
            if held is None or ts > held.ts:
                references[symbol] = Reference(ts, decimal_of(close))

    def on_alerts(self, columns: Mapping[str, np.ndarray]) -> None:
        rows = zip(columns["kind"].tolist(), columns["symbol"].tolist(),
                   columns["ts_event"].tolist(), columns["state"].tolist(),
                   columns["values"].tolist(), columns["alert_id"].tolist(), strict=True)
        for kind, symbol, ts, state, values, alert_id in rows:
            if kind != VPIN_KIND or symbol is None:
                continue
            rank = (ts, float((values or {}).get("bucket", 0.0)))
            held = self.toxicity.get(symbol)
            if held is None or rank > held.rank:
                self.toxicity[symbol] = Toxicity(rank, state == "raised", alert_id)

    def toxic_alert(self, symbol: str) -> str | None:
        """The id of the symbol's raised VPIN alert, or None when none is raised."""
        held = self.toxicity.get(symbol)
        return held.alert_id if held is not None and held.raised else None

    def reference(self, symbol: str) -> Reference | None:
        return self.references.get(symbol)
