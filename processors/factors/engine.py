"""market.bars.1m -> logic.factors: the catalog's factors on every closed bar of a symbol."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from processors.base import Emit, Engine, State, handles
from processors.factors.catalog import load_catalog
from processors.factors.expressions import FIELDS
from processors.factors.params import FactorParams
from processors.factors.program import Program
from processors.kit.keyed import group_by_key
from streams.schema import FactorVector

INPUT_TOPIC = "market.bars.1m"
OUTPUT_TOPIC = "logic.factors"
BarValues = list[float]  # one bar's FIELDS in that order; NaN: none ($vwap of an OHLCV file)


class FactorsEngine(Engine):
    """market.bars.1m -> logic.factors (see processors/factors/__init__.py)."""

    name = "factors"
    outputs = (OUTPUT_TOPIC,)
    params_model = FactorParams

    def __init__(self, params: FactorParams, clock, device) -> None:  # type: ignore[no-untyped-def]
        super().__init__(params, clock, device)
        self._catalog = load_catalog(params.catalog_path)
        self._program = Program([f.tree for f in self._catalog.factors])
        self._names = self._catalog.names
        # per symbol its last `history` bars, oldest first
        self._bars: dict[str, list[BarValues]] = {}

    @property
    def history(self) -> int:
        """Bars kept per symbol: the most any factor reads, the current one included."""
        return self._program.history

    @handles(INPUT_TOPIC)
    def on_bars(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        """Each symbol's bars one at a time in arrival order; the n-th bars of the batch's
        symbols are evaluated together (one evaluation for every symbol of a minute)."""
        symbols = columns["symbol"]
        if len(symbols) == 0:
            return []
        groups = group_by_key(symbols)
        fields = np.column_stack([columns[f].astype(np.float64) for f in FIELDS]).tolist()
        ends = columns["ts_event"].tolist()
        counts = np.diff(groups.bounds)
        emits: list[Emit] = []
        for turn in range(int(counts.max())):
            rows = [int(groups.order[groups.bounds[code] + turn])
                    for code in np.flatnonzero(counts > turn).tolist()]
            for row in rows:
                self._add(str(symbols[row]), fields[row])
            values = self._evaluate([str(symbols[row]) for row in rows])
            for row, row_values in zip(rows, values.tolist(), strict=True):
                emits.append(self._emit(str(symbols[row]), int(ends[row]), row_values))
        return emits

    def _add(self, symbol: str, bar: BarValues) -> None:
        bars = self._bars.setdefault(symbol, [])
        bars.append(bar)
        del bars[:-self.history]
        self.mark_dirty(symbol)

    def _evaluate(self, symbols: list[str]) -> np.ndarray:
        """The factors at each symbol's newest bar: shape (symbols, factors)."""
        window = np.full((len(symbols), self.history, len(FIELDS)), np.nan)
        for i, symbol in enumerate(symbols):
            bars = self._bars[symbol]
            window[i, self.history - len(bars):] = bars
        return self._program.evaluate({f: window[:, :, j] for j, f in enumerate(FIELDS)})

    def _emit(self, symbol: str, end_ns: int, values: list[float]) -> Emit:
        named = {name: v for name, v in zip(self._names, values, strict=True)
                 if math.isfinite(v)}
        return Emit(OUTPUT_TOPIC, symbol, FactorVector(
            ts_event=end_ns, ts_init=self.clock.timestamp_ns(), symbol=symbol, values=named))

    def keys(self) -> list[str]:
        return list(self._bars)

    def snapshot(self, key: str) -> State:
        return {"bars": [[None if math.isnan(v) else v for v in bar]
                         for bar in self._bars[key]]}

    def restore(self, key: str, state: State) -> None:
        bars = [[math.nan if v is None else float(v) for v in bar] for bar in state["bars"]]
        self._bars[key] = bars[-self.history:]

    def forget(self, key: str) -> None:
        self._bars.pop(key, None)
        self._dirty.discard(key)
