"""Technical features per symbol from closed 1-minute bars, equal to TA-Lib.

One FeatureVector per closed bar, dated at the bar's end (`ts_event`), with `values` named by
indicator and period. A first subset of issue 13's list:

- `sma_<n>`: SMA of the last n closes, computed as TA-Lib does (a running total: add the new
  close, divide by n, take away the oldest), so the values are TA-Lib's to the last bit.
- `ema_<n>`: EMA with k = 2 / (n + 1), seeded as TA-Lib seeds it: the first EMA is the SMA
  of the first n closes (summed in order), then `ema = (close - ema) * k + ema`.
- `ret_1`: close / previous close - 1.

A value is absent from the record (not NaN, not 0) until TA-Lib would give one: `sma_n` and
`ema_n` from the n-th bar of the symbol, `ret_1` from the second. State per symbol is O(1) in
the number of bars: the last max(sma periods) closes, one total per SMA, one value per EMA.
Bars are applied one at a time in arrival order per symbol, so results do not depend on how
the stream was batched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from processors.base import Emit, Engine, State, handles
from processors.kit.keyed import group_by_key
from streams.schema import FeatureVector

OUTPUT_TOPIC = "logic.features"


class FeatureParams(BaseModel):
    """Parameters of the features engine: the indicator periods (names follow them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sma: tuple[int, ...] = Field(default=(10, 20), description="SMA periods (sma_<n>)")
    ema: tuple[int, ...] = Field(default=(12,), description="EMA periods (ema_<n>)")

    @field_validator("sma", "ema", mode="before")
    @classmethod
    def _periods(cls, value: object) -> object:
        """`--set features.sma=10,20,50` and `NAUTILUS_FEATURES__SMA=10,20` give text."""
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return (value,) if isinstance(value, int) else value

    @field_validator("sma", "ema")
    @classmethod
    def _positive_distinct(cls, periods: tuple[int, ...]) -> tuple[int, ...]:
        if any(p < 1 for p in periods):
            raise ValueError("periods must be at least 1")
        if len(set(periods)) != len(periods):
            raise ValueError("periods must differ")
        return periods


@dataclass(slots=True)
class _SymbolState:
    bars: int = 0  # closes applied so far
    last_close: float | None = None
    # the last max(sma) closes, oldest first: what the running totals take away
    window: list[float] = field(default_factory=list)
    sma_totals: dict[int, float] = field(default_factory=dict)  # TA-Lib's periodTotal
    ema_values: dict[int, float] = field(default_factory=dict)  # the seed sum until n closes


class FeaturesEngine(Engine):
    """market.bars.1m -> logic.features."""

    name = "features"
    outputs = (OUTPUT_TOPIC,)
    params_model = FeatureParams

    def __init__(self, params: FeatureParams, clock, device) -> None:  # type: ignore[no-untyped-def]
        super().__init__(params, clock, device)
        self._sma, self._ema = params.sma, params.ema
        self._window_len = max(self._sma, default=0)
        self._state: dict[str, _SymbolState] = {}

    @handles("market.bars.1m")
    def on_bars(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        symbols = columns["symbol"]
        if len(symbols) == 0:
            return []
        groups = group_by_key(symbols)
        ts, close = columns["ts_event"], columns["close"]
        emits = []
        for row, code in zip(groups.order.tolist(), groups.sorted_codes.tolist(), strict=True):
            symbol = groups.keys[code]
            values = self._apply(symbol, float(close[row]))
            emits.append(Emit(OUTPUT_TOPIC, symbol, FeatureVector(
                ts_event=int(ts[row]), ts_init=self.clock.timestamp_ns(), symbol=symbol,
                values=values)))
        return emits

    def _apply(self, symbol: str, close: float) -> dict[str, float]:
        state = self._state.setdefault(symbol, _SymbolState())
        self.mark_dirty(symbol)
        index = state.bars  # this close's index in the symbol's series
        values: dict[str, float] = {}
        for n in self._sma:
            total = state.sma_totals.get(n, 0.0) + close
            if index >= n - 1:
                values[f"sma_{n}"] = total / n
                # the oldest close of this n-window: index - n + 1, or the new close when n == 1
                total -= state.window[len(state.window) - n + 1] if n > 1 else close
            state.sma_totals[n] = total
        for n in self._ema:
            previous = state.ema_values.get(n, 0.0)
            if index < n - 1:
                state.ema_values[n] = previous + close  # summing the seed
                continue
            k = 2.0 / (n + 1)
            ema = (previous + close) / n if index == n - 1 else (close - previous) * k + previous
            state.ema_values[n] = ema
            values[f"ema_{n}"] = ema
        if state.last_close is not None:
            values["ret_1"] = close / state.last_close - 1
        state.bars, state.last_close = index + 1, close
        if self._window_len > 1:
            state.window.append(close)
            del state.window[:-(self._window_len - 1)]
        return dict(sorted(values.items()))

    def keys(self) -> list[str]:
        return list(self._state)

    def snapshot(self, key: str) -> State:
        state = self._state[key]
        return {
            "bars": state.bars,
            "last_close": state.last_close,
            "window": list(state.window),
            "sma_totals": {str(n): v for n, v in state.sma_totals.items()},
            "ema_values": {str(n): v for n, v in state.ema_values.items()},
        }

    def restore(self, key: str, state: State) -> None:
        self._state[key] = _SymbolState(
            bars=int(state["bars"]),
            last_close=state["last_close"],
            window=[float(v) for v in state["window"]],
            sma_totals={int(n): float(v) for n, v in state["sma_totals"].items()},
            ema_values={int(n): float(v) for n, v in state["ema_values"].items()},
        )

    def forget(self, key: str) -> None:
        self._state.pop(key, None)
        self._dirty.discard(key)
