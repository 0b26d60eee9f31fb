"""Technical features per symbol from closed 1-minute bars, equal to TA-Lib, joined with the
symbol's latest VPIN and order-book readings and with the macro features known at the bar.

One FeatureVector per closed bar, dated at the bar's end (`ts_event`), with `values` named by
indicator and period (issue 13's list) and the joined readings. Each indicator
repeats TA-Lib's own arithmetic, operation for operation (tested against talib: SMA, EMA,
MACD and the middle band to the last bit; RSI, ATR, the MACD signal and the outer bands
within 1e-12 relative of the talib build tested, whose compiled recurrences round differently
in the last bits: neither plain nor fused multiply-adds reproduce them);
`rv_<n>` has no TA-Lib function:

- `sma_<n>`: SMA of the last n closes, as TA-Lib computes it (a running total: add the new
  close, divide by n, take away the oldest).
- `ema_<n>`: EMA with k = 2 / (n + 1), seeded as TA-Lib seeds it: the first EMA is the SMA of
  the first n closes (summed in order), then `ema = (close - ema) * k + ema`.
- `rsi_<n>`: RSI with Wilder's smoothing: the first average gain/loss is the mean of the
  first n changes, then `avg = (avg * (n - 1) + change) / n`; 0 where both are 0.
- `macd`, `macd_signal`, `macd_hist`: MACD (fast, slow, signal) as talib.MACD: both EMAs start
  at bar slow - 1 (the fast one seeded with the SMA of the fast closes ending there), the signal
  is the EMA of the MACD line, and all three appear from bar slow + signal - 2 (33 for 12/26/9).
- `bb_upper`, `bb_middle`, `bb_lower`: Bollinger bands over the SMA of the last n closes, at
  `bbands_dev` population standard deviations; TA-Lib takes the variance as a running total
  of squares / n less the squared SMA, and so does this engine (O(1); the same cancellation
  as TA-Lib's: at a price of 100 and a deviation of 0.1 the variance keeps ~10 digits).
- `atr_<n>`: ATR with Wilder's smoothing seeded with the SMA of the first n true ranges (the
  first true range needs a previous close, so the first ATR is at bar n).
- `ret_1`: close / previous close - 1.
- `rv_<n>`: sample standard deviation (ddof 1) of the last n log returns, computed two-pass
  over the n-value window (O(n) per bar; no running sum, so no drift).

A value is absent from the record (not NaN, not 0) until TA-Lib would give one. State per
symbol is O(1) in the number of bars: the last closes the running totals take away, one total
or average per indicator, the last max(rv) log returns. Bars are applied one at a time in
arrival order per symbol, so results do not depend on how the stream was batched.

Joined readings: a bar ending at T gets `vpin`, `vpin_cdf` of the symbol's latest logic.vpin
reading with ts_event <= T and `spread`, `imbalance_5` of its latest logic.microstructure
record with ts_event <= T (the last to arrive among equal times); a field that reading lacks
(VPIN before `window` buckets, the spread of a one-sided book) is absent, never taken from an
older reading, and so is every name of a topic without a reading at or before T. A reading
stamped after T is never joined into that bar, even when it arrived first
(`processors.kit.asof`). Per symbol the engine keeps, of each topic, the latest reading at
or before max(its last bar's end, its newest reading - `join_horizon_ms`) and every later
one: a minute of readings between bars, at most the horizon's worth for a symbol whose bars
stop or lag. A bar older than that cutoff joins the exact reading if still kept, else none.
Readings are applied one at a time in arrival order and pruned after each, so the state and
the joins do not depend on how the topics were batched.
Replay delivers a reading dated at T before the bar ending at T (`@handles(joined=True)`,
streams/graph.py). A live worker reads each topic on its own agent: a bar is joined with
the readings that arrived before it, and a reading dated at or before T that arrives after
the bar at T was published is not joined into it retroactively (the bar is never
republished); the next bar joins it if it is still the latest.

Macro features (processors/kit/macro.py has the definitions and their sources): market.macro
is a broadcast input (keyed by series, read whole by every instance), kept per series by
observation date and vintage, and a bar ending at T gets what was known at T (by ts_event,
the release; a vintage released after T is never used, even if it arrived first):
`macro_level`, `macro_slope`, `macro_curvature` of the latest curve (`macro_curve`: 3m, 2y,
10y Treasury yields, one observation date), `macro_level_change_30d`,
`macro_slope_change_30d`, `macro_curvature_change_30d` against the curve as of the bar's UTC
date less `macro_change_days`, and `macro_stress`, the mean of the z-scores of
`macro_stress`'s series (HY OAS, VIX, NFCI) over a trailing `macro_stress_window_days`,
absent unless every one has a z-score. A bar more than `macro_horizon_days` behind the newest
record gets none. The macro state is the topic's alone, the same in every instance: rebuilt
by re-reading the topic on a start (a broadcast input), never part of a symbol's snapshot;
replay delivers a record dated at T before the bar ending at T.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from processors.base import Emit, Engine, State, handles
from processors.kit.asof import Readings
from processors.kit.keyed import group_by_key
from processors.kit.macro import DAY_NS, MacroHistory, MacroSpec
from streams.schema import FeatureVector

OUTPUT_TOPIC = "logic.features"
VPIN_TOPIC, BOOK_TOPIC, MACRO_TOPIC = "logic.vpin", "logic.microstructure", "market.macro"
JOINED = {VPIN_TOPIC: ("vpin", "vpin_cdf"), BOOK_TOPIC: ("spread", "imbalance_5")}
MS = 1_000_000
_MIN_PERIOD = {"sma": 1, "ema": 1, "rsi": 2, "atr": 1, "rv": 2, "macd": 1}
_ZERO = 1e-14  # TA-Lib's TA_IS_ZERO threshold


class FeatureParams(BaseModel):
    """Parameters of the features engine: the indicator periods (names follow them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sma: tuple[int, ...] = Field(default=(10, 20, 50), description="SMA periods (sma_<n>)")
    ema: tuple[int, ...] = Field(default=(12, 26), description="EMA periods (ema_<n>)")
    rsi: tuple[int, ...] = Field(default=(14,), description="RSI periods (rsi_<n>)")
    macd: tuple[int, int, int] = Field(
        default=(12, 26, 9), description="MACD fast, slow, signal periods (macd, macd_signal, "
        "macd_hist)")
    bbands: int = Field(default=20, ge=2, description="Bollinger band period (bb_upper, "
                        "bb_middle, bb_lower)")
    bbands_dev: float = Field(default=2.0, gt=0, description="Bollinger band width in "
                              "population standard deviations")
    atr: tuple[int, ...] = Field(default=(14,), description="ATR periods (atr_<n>)")
    rv: tuple[int, ...] = Field(default=(20,), description="realised volatility periods "
                                "(rv_<n>: sample std of the last n log returns)")
    join_horizon_ms: int = Field(
        default=120_000, ge=0, description="how far (event time) a symbol's bars may lag its "
        "newest VPIN / order-book reading and still join exactly; older readings are dropped "
        "but the latest before that")
    macro_curve: tuple[str, str, str] = Field(
        default=("DGS3MO", "DGS2", "DGS10"), description="market.macro series of the short, "
        "middle and long yields (macro_level: their mean, macro_slope: long - short, "
        "macro_curvature: 2 * middle - short - long)")
    macro_change_days: int = Field(default=30, ge=1, description="days of observation dates "
                                   "the curve changes span (macro_level_change_<n>d, ...)")
    macro_stress: tuple[str, ...] = Field(
        default=("BAMLH0A0HYM2", "VIXCLS", "NFCI"), description="market.macro series whose "
        "z-scores macro_stress averages (empty: no macro_stress)")
    macro_stress_window_days: int = Field(default=365, ge=2, description="trailing window, "
                                          "in days of observation dates, of the z-scores")
    macro_stress_min_observations: int = Field(
        default=20, ge=2, description="observations a series needs in the window for a "
        "z-score")
    macro_horizon_days: int = Field(
        default=30, ge=0, description="how far (event time) bars may lag the newest "
        "market.macro record and still get macro features; older vintages are dropped")

    @field_validator("sma", "ema", "rsi", "macd", "atr", "rv", "macro_curve", "macro_stress",
                     mode="before")
    @classmethod
    def _periods(cls, value: object) -> object:
        """`--set features.sma=10,20,50` and `NAUTILUS_FEATURES__SMA=10,20` give text."""
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return (value,) if isinstance(value, int) else value

    @field_validator("sma", "ema", "rsi", "macd", "atr", "rv")
    @classmethod
    def _positive_distinct(cls, periods: tuple[int, ...], info: ValidationInfo) -> tuple[int, ...]:
        least = _MIN_PERIOD[info.field_name or ""]
        if any(p < least for p in periods):
            raise ValueError(f"periods must be at least {least}")
        if info.field_name != "macd" and len(set(periods)) != len(periods):
            raise ValueError("periods must differ")
        return periods

    @model_validator(mode="after")
    def _macd_fast_below_slow(self) -> FeatureParams:
        fast, slow, _ = self.macd
        if not 2 <= fast < slow:
            raise ValueError("macd needs 2 <= fast < slow (fast,slow,signal)")
        return self

    def macro_spec(self) -> MacroSpec:
        return MacroSpec(self.macro_curve, self.macro_change_days, self.macro_stress,
                         self.macro_stress_window_days, self.macro_stress_min_observations,
                         self.macro_horizon_days * DAY_NS)


@dataclass(slots=True)
class _SymbolState:
    bars: int = 0  # bars applied so far
    last_close: float | None = None
    # the last max(sma, bbands) - 1 closes, oldest first: what the running totals take away
    window: list[float] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)  # TA-Lib's periodTotal(2)s
    averages: dict[str, float] = field(default_factory=dict)  # EMAs, ATRs: the seed sum first
    rsi: dict[str, list[float]] = field(default_factory=dict)  # [average gain, average loss]
    log_returns: list[float] = field(default_factory=list)  # the last max(rv), oldest first
    last_end_ns: int | None = None  # the latest bar end seen
    readings: dict[str, Readings] = field(default_factory=dict)  # joined topic -> readings


def _wilder_or_ema(averages: dict[str, float], name: str, n: int, position: int, x: float,
                   wilder: bool) -> float | None:
    """TA-Lib's EMA (k = 2/(n+1)) or Wilder average of x at `position` (0-based) of its input:
    the plain sum until n - 1, the seed SMA at n - 1, then the smoothed value."""
    previous = averages.get(name, 0.0)
    if position < n - 1:
        averages[name] = previous + x
        return None
    if position == n - 1:
        value = (previous + x) / n
    elif wilder:
        value = (previous * (n - 1) + x) / n
    else:
        value = (x - previous) * (2.0 / (n + 1)) + previous
    averages[name] = value
    return value


class FeaturesEngine(Engine):
    """market.bars.1m -> logic.features."""

    name = "features"
    outputs = (OUTPUT_TOPIC,)
    params_model = FeatureParams

    def __init__(self, params: FeatureParams, clock, device) -> None:  # type: ignore[no-untyped-def]
        super().__init__(params, clock, device)
        self._p = params
        self._window_len = max((*params.sma, params.bbands), default=0)
        self._returns_len = max(params.rv, default=0)
        self._state: dict[str, _SymbolState] = {}
        self._macro = MacroHistory(params.macro_spec())

    @handles("market.bars.1m")
    def on_bars(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        symbols = columns["symbol"]
        if len(symbols) == 0:
            return []
        groups = group_by_key(symbols)
        ts, high, low, close = (columns[c] for c in ("ts_event", "high", "low", "close"))
        emits = []
        for row, code in zip(groups.order.tolist(), groups.sorted_codes.tolist(), strict=True):
            symbol, end = groups.keys[code], int(ts[row])
            values = self._apply(symbol, float(high[row]), float(low[row]), float(close[row]))
            self._join(self._state[symbol], end, values)
            values.update(self._macro.features(end))
            emits.append(Emit(OUTPUT_TOPIC, symbol, FeatureVector(
                ts_event=end, ts_init=self.clock.timestamp_ns(), symbol=symbol,
                values=dict(sorted(values.items())))))
        return emits

    @handles(VPIN_TOPIC, joined=True)
    def on_vpin(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        self._hold(VPIN_TOPIC, columns)
        return []

    @handles(BOOK_TOPIC, joined=True)
    def on_book(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        self._hold(BOOK_TOPIC, columns)
        return []

    @handles(MACRO_TOPIC, broadcast=True, joined=True)
    def on_macro(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        """Macro vintages, of no symbol (processors/kit/macro.py: state of the topic alone,
        rebuilt by the re-read, never snapshotted); they change no symbol's state."""
        for series, day, vintage, ts, value in zip(
                columns["series"].tolist(), columns["date"].tolist(),
                columns["realtime_start"].tolist(), columns["ts_event"].tolist(),
                columns["value"].tolist(), strict=True):
            self._macro.add(series, day.toordinal(), vintage.toordinal(), ts, value)
        return []

    def _hold(self, topic: str, columns: Mapping[str, np.ndarray]) -> None:
        """Keep each reading (NaN, the column's None, as None), in arrival order."""
        fields = [columns[name].tolist() for name in JOINED[topic]]
        for symbol, ts, *reading in zip(columns["symbol"].tolist(),
                                        columns["ts_event"].tolist(), *fields, strict=True):
            state = self._state.setdefault(symbol, _SymbolState())
            readings = state.readings.setdefault(topic, Readings())
            readings.add(ts, tuple(None if math.isnan(v) else v for v in reading))
            readings.prune(self._cutoff(state, readings))
            self.mark_dirty(symbol)

    def _cutoff(self, state: _SymbolState, readings: Readings) -> int:
        """Readings at or before this are needed no more, but the latest of them."""
        newest = readings.newest_ns
        behind = -1 if newest is None else newest - self._p.join_horizon_ms * MS
        return behind if state.last_end_ns is None else max(state.last_end_ns, behind)

    def _join(self, state: _SymbolState, end_ns: int, values: dict[str, float]) -> None:
        """Add the latest readings at or before the bar's end, then drop what no later bar
        needs."""
        for topic, readings in state.readings.items():
            reading = readings.at(end_ns)
            if reading is not None:
                values.update((name, v) for name, v in zip(JOINED[topic], reading, strict=True)
                              if v is not None)
        if state.last_end_ns is None or end_ns > state.last_end_ns:
            state.last_end_ns = end_ns
        for readings in state.readings.values():
            readings.prune(self._cutoff(state, readings))

    def _apply(self, symbol: str, high: float, low: float, close: float) -> dict[str, float]:
        state = self._state.setdefault(symbol, _SymbolState())
        self.mark_dirty(symbol)
        values: dict[str, float] = {}
        self._moving_averages(state, close, values)
        self._bollinger(state, close, values)
        self._macd(state, close, values)
        if state.last_close is not None:
            self._on_change(state, state.last_close, (high, low, close), values)
        state.bars, state.last_close = state.bars + 1, close
        if self._window_len > 1:
            state.window.append(close)
            del state.window[:-(self._window_len - 1)]
        return values

    def _oldest(self, state: _SymbolState, n: int, close: float) -> float:
        """The oldest close of the n-window ending at this close (this close when n == 1)."""
        return state.window[len(state.window) - n + 1] if n > 1 else close

    def _moving_averages(self, state: _SymbolState, close: float, values: dict[str, float]) -> None:
        index = state.bars  # this close's index in the symbol's series
        for n in self._p.sma:
            name = f"sma_{n}"
            total = state.totals.get(name, 0.0) + close
            if index >= n - 1:
                values[name] = total / n
                total -= self._oldest(state, n, close)
            state.totals[name] = total
        for n in self._p.ema:
            ema = _wilder_or_ema(state.averages, f"ema_{n}", n, index, close, wilder=False)
            if ema is not None:
                values[f"ema_{n}"] = ema

    def _bollinger(self, state: _SymbolState, close: float, values: dict[str, float]) -> None:
        """TA_BBANDS with an SMA: TA_INT_SMA and TA_INT_stddev_using_precalc_ma's totals."""
        n = self._p.bbands
        total = state.totals.get("bb", 0.0) + close
        squares = state.totals.get("bb_squares", 0.0) + close * close
        if state.bars >= n - 1:
            oldest = self._oldest(state, n, close)
            middle = total / n
            variance = squares / n - middle * middle
            deviation = math.sqrt(variance) if variance >= _ZERO else 0.0
            total, squares = total - oldest, squares - oldest * oldest
            width = deviation * self._p.bbands_dev
            values.update(bb_upper=middle + width, bb_middle=middle, bb_lower=middle - width)
        state.totals["bb"], state.totals["bb_squares"] = total, squares

    def _macd(self, state: _SymbolState, close: float, values: dict[str, float]) -> None:
        """TA_MACD: the fast EMA starts so that it gives its first value with the slow one."""
        fast, slow, signal = self._p.macd
        index, averages = state.bars, state.averages
        slow_ema = _wilder_or_ema(averages, "macd_slow", slow, index, close, wilder=False)
        if index < slow - fast:
            return
        fast_ema = _wilder_or_ema(averages, "macd_fast", fast, index - slow + fast, close,
                                  wilder=False)
        if fast_ema is None or slow_ema is None:
            return
        line = fast_ema - slow_ema
        trigger = _wilder_or_ema(averages, "macd_signal", signal, index - slow + 1, line,
                                 wilder=False)
        if trigger is not None:
            values.update(macd=line, macd_signal=trigger, macd_hist=line - trigger)

    def _on_change(self, state: _SymbolState, previous: float,
                   bar: tuple[float, float, float], values: dict[str, float]) -> None:
        """The indicators of a change from the previous close: ret_1, RSI, ATR, rv."""
        high, low, close = bar
        position = state.bars - 1  # this change's index among the symbol's changes
        values["ret_1"] = close / previous - 1
        change = close - previous
        for n in self._p.rsi:
            rsi = self._rsi(state.rsi.setdefault(f"rsi_{n}", [0.0, 0.0]), n, position, change)
            if rsi is not None:
                values[f"rsi_{n}"] = rsi
        true_range = max(high - low, abs(previous - high), abs(previous - low))
        for n in self._p.atr:
            atr = _wilder_or_ema(state.averages, f"atr_{n}", n, position, true_range, wilder=True)
            if atr is not None:
                values[f"atr_{n}"] = atr
        if self._returns_len:
            state.log_returns.append(math.log(close) - math.log(previous))
            del state.log_returns[:-self._returns_len]
            for n in self._p.rv:
                if len(state.log_returns) >= n:
                    values[f"rv_{n}"] = _sample_std(state.log_returns[-n:])

    @staticmethod
    def _rsi(averages: list[float], n: int, position: int, change: float) -> float | None:
        """TA_RSI: sums of gains and losses over the first n changes, then Wilder's average."""
        gain, loss = averages
        if position >= n:
            gain, loss = gain * (n - 1), loss * (n - 1)
        if change < 0:
            loss -= change
        else:
            gain += change
        if position >= n - 1:
            gain, loss = gain / n, loss / n
        averages[:] = [gain, loss]
        if position < n - 1:
            return None
        both = gain + loss
        return 100.0 * (gain / both) if not -_ZERO < both < _ZERO else 0.0

    def keys(self) -> list[str]:
        return list(self._state)

    def snapshot(self, key: str) -> State:
        state = self._state[key]
        return {
            "bars": state.bars,
            "last_close": state.last_close,
            "window": list(state.window),
            "totals": dict(state.totals),
            "averages": dict(state.averages),
            "rsi": {name: list(pair) for name, pair in state.rsi.items()},
            "log_returns": list(state.log_returns),
            "last_end_ns": state.last_end_ns,
            "readings": {topic: r.snapshot() for topic, r in sorted(state.readings.items())},
        }

    def restore(self, key: str, state: State) -> None:
        self._state[key] = _SymbolState(
            bars=int(state["bars"]),
            last_close=state["last_close"],
            window=[float(v) for v in state["window"]],
            totals={name: float(v) for name, v in state["totals"].items()},
            averages={name: float(v) for name, v in state["averages"].items()},
            rsi={name: [float(v) for v in pair] for name, pair in state["rsi"].items()},
            log_returns=[float(v) for v in state["log_returns"]],
            # absent from the state of an engine from before the join
            last_end_ns=state.get("last_end_ns"),
            readings={topic: Readings.restore(r)
                      for topic, r in state.get("readings", {}).items()},
        )

    def forget(self, key: str) -> None:
        self._state.pop(key, None)
        self._dirty.discard(key)


def _sample_std(returns: list[float]) -> float:
    """Sample standard deviation (ddof 1), two-pass: the mean first, then the squared gaps."""
    mean = math.fsum(returns) / len(returns)
    return math.sqrt(math.fsum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
