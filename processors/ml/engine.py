"""The `ml` engine: logic.features and logic.factors -> logic.predictions, with the registry's
promoted model.

Per batch the engine first checks the promoted pointer of the model named by `ml.model`
(one `stat` of REGISTRY/NAME/PROMOTED: its inode and mtime change whenever `ml promote`
replaces it) and loads a newly promoted version onto its device, so a running worker serves
the new version from its next batch, without a restart. A version that fails to load, or
whose input window is longer than `window_bars`, is logged and the previous one kept serving.

A model's inputs come from logic.features, logic.factors or both (model.json's
`input_topics`). The engine merges a symbol's records of one bar (same ts_event) of the two
topics into one set of named inputs (processors/ml/history.py), in whichever order they
arrive. A bar is decided once it has a record of every topic the served model reads: it is
predicted when its window is complete. Every bar of the batch so decided is predicted in one
forward pass, on the engine's device; each gives a Prediction (model, version, horizon_ns,
value: the forecast forward return), dated at the bar's ts_event, id `NAME:VERSION:SYMBOL:TS`.
A bar's window is the symbol's last L bars up to it that have a record of one of the model's
topics (L: the model's sequence length, 1 for `linear` and `mlp`), and it is complete when
each carries every input of the model with a finite value, as training forms its samples.
A bar missing an input (or with a non-finite one) gets no prediction: it is counted
(`rows_missing_features`) and logged with the batch's count, never predicted from a zero; so
is a bar of the model whose records of the other topic have not all come while it was among
the symbol's newest `pending_bars` bars (given up). Bars that complete no window for another
reason (the symbol's first L - 1 bars, or L after a gap) are not counted. Records that
arrive while no version is promoted are counted as `rows_unserved` (the first of them
logged); records that change nothing as `rows_ignored`: late ones (of a bar older than the
symbol's kept bars) and re-deliveries (of a topic the bar has a record of already).

State per symbol: its last `window_bars + pending_bars` bars, whatever the model, so a newly
promoted version with a longer window, or another topic, predicts from its first batch. A
bar's prediction depends only on the records before it, so batching does not change which
bars are predicted; values are float32 network outputs, equal across batchings up to the
last bits of the batched matrix products. A model on logic.features only is decided by its
feature record, as the engine did before it read factors.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from operator import itemgetter
from pathlib import Path

import numpy as np
import torch

from processors.base import Emit, Engine, State, handles
from processors.ml.exceptions import MlError
from processors.ml.history import TOPIC_BITS, Bar, SymbolBars, topic_bits
from processors.ml.inputs import FACTORS_TOPIC, FEATURES_TOPIC
from processors.ml.params import MlParams
from processors.ml.registry import Registry, ServedModel
from streams.clock import Clock
from streams.schema import Prediction

log = logging.getLogger(__name__)
OUTPUT_TOPIC = "logic.predictions"


class MlEngine(Engine):
    """logic.features and logic.factors -> logic.predictions (see the module docstring)."""

    name = "ml"
    outputs = (OUTPUT_TOPIC,)
    params_model = MlParams

    def __init__(self, params: MlParams, clock: Clock, device: torch.device) -> None:
        super().__init__(params, clock, device)
        self._p = params
        self._registry = Registry(Path(params.registry))
        self._stamp: tuple[int, int] | None = None
        self.served: ServedModel | None = None
        self._history: dict[str, SymbolBars] = {}
        self.rows_missing_features = 0
        self.rows_unserved = 0
        self.rows_ignored = 0

    @handles(FEATURES_TOPIC)
    def on_features(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        return self._take(FEATURES_TOPIC, columns)

    @handles(FACTORS_TOPIC)
    def on_factors(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        return self._take(FACTORS_TOPIC, columns)

    def _take(self, topic: str, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        rows = len(columns["ts_event"])
        if rows == 0:
            return []
        self._refresh()
        symbols, ts = columns["symbol"].tolist(), columns["ts_event"].tolist()
        records = columns["values"].tolist()
        served = self.served
        if served is None:
            self._remember(symbols, ts, records, TOPIC_BITS[topic])
            if self.rows_unserved == 0:
                log.warning("ml rows without a prediction: no version served model=%s "
                            "registry=%s (train one, then `ml promote`)", self._p.model or
                            "(none: set ml.model)", self._registry.root)
            self.rows_unserved += rows
            return []
        decided, windows, missing = self._decide(symbols, ts, records, TOPIC_BITS[topic],
                                                 served)
        if missing:
            self.rows_missing_features += missing
            log.warning("ml rows without a prediction: missing features model=%s version=%d "
                        "rows=%d total=%d", served.name, served.version, missing,
                        self.rows_missing_features)
        if not decided:
            return []
        values = served.predict(windows).tolist()
        now, name, version, horizon = (self.clock.timestamp_ns(), served.name, served.version,
                                       served.horizon_ns)
        return [Emit(OUTPUT_TOPIC, symbol, _prediction({
            "schema_version": 1, "ts_event": bar_ns, "ts_init": now,
            "prediction_id": f"{name}:{version}:{symbol}:{bar_ns}", "model": name,
            "version": version, "symbol": symbol, "horizon_ns": horizon, "value": value}))
            for (symbol, bar_ns), value in zip(decided, values, strict=True)]

    def _remember(self, symbols: list[str], ts: list[int], records: list[dict[str, float]],
                  topic_bit: int) -> None:
        """Merge each record into its bar with no model served: the bar is decided."""
        for symbol, bar_ns, record in zip(symbols, ts, records, strict=True):
            history = self._symbol(symbol)
            at = history.add(bar_ns, record, topic_bit)
            if at is None:
                self.rows_ignored += 1
                continue
            history.bars[at].decided = True
            history.drop_beyond(self._p.window_bars + self._p.pending_bars)
            self._dirty.add(symbol)

    def _decide(self, symbols: list[str], ts: list[int], records: list[dict[str, float]],
                topic_bit: int, served: ServedModel,
                ) -> tuple[list[tuple[str, int]], np.ndarray, int]:
        """Merge each record into its bar, in arrival order; the bars it completes whose
        window is complete (symbol, ts_event) with their windows, and how many bars are
        missing an input or were given up (still waiting for a record once `pending_bars`
        newer bars of the symbol are in)."""
        needs, length = topic_bits(served.topics), served.sequence_length
        pending, histories = self._p.pending_bars, self._history
        keep = self._p.window_bars + pending
        take = _getter(served.features)
        decided: list[tuple[str, int]] = []
        rows: list[tuple[float, ...] | list[tuple[float, ...]]] = []  # a bar's, or windows
        missing = 0
        self._dirty.update(symbols)  # a record that changes nothing only costs a rewrite
        for symbol, bar_ns, record in zip(symbols, ts, records, strict=True):
            history = histories.get(symbol)
            if history is None:
                history = histories[symbol] = SymbolBars()
            bars = history.bars
            if bars and bars[-1].ts_event < bar_ns:  # a new newest bar (history.add, inline)
                at = len(bars)
                bars.append(Bar(bar_ns, topic_bit, False, record))
            elif (added := history.add(bar_ns, record, topic_bit)) is None:
                self.rows_ignored += 1
                continue
            else:
                at = added
            bar = bars[at]
            if not bar.decided and bar.topics & needs == needs:
                bar.decided = True
                try:
                    current = take(bar.values)
                except KeyError:
                    missing += 1
                else:
                    if length == 1:
                        rows.append(current)
                        decided.append((symbol, bar_ns))
                    elif (earlier := _rows(history.window(at, length, needs), take)) is None:
                        missing += not all(map(math.isfinite, current))  # and no window
                    else:
                        rows.append([*earlier, current])
                        decided.append((symbol, bar_ns))
            waited = len(bars) - 1 - pending  # the bar that now has `pending` newer ones
            if waited >= 0:  # a bar still waiting there, or older (`at`, late), is given up
                late = bars[waited]
                if not late.decided:
                    late.decided = True
                    missing += bool(late.topics & needs)
                if at < waited and not bar.decided:
                    bar.decided = True
                    missing += bool(bar.topics & needs)
                if len(bars) > keep:
                    history.drop_beyond(keep)
        matrix = np.array(rows, dtype=np.float64).reshape(
            len(rows), length, len(served.features))
        finite = np.isfinite(matrix)
        missing += int((~finite[:, -1].all(axis=1)).sum())
        complete = finite.all(axis=(1, 2))
        if complete.all():
            return decided, matrix, missing
        kept = np.flatnonzero(complete)
        return [decided[i] for i in kept.tolist()], matrix[kept], missing

    def _symbol(self, symbol: str) -> SymbolBars:
        history = self._history.get(symbol)
        if history is None:
            history = self._history[symbol] = SymbolBars()
        return history

    def _refresh(self) -> None:
        """Serve the promoted version of the model, loading it if it changed."""
        if not self._p.model:
            return
        version: int | None = None
        try:
            stamp = self._registry.promoted_stamp(self._p.model)
            if stamp == self._stamp:
                return
            self._stamp = stamp
            version = self._registry.promoted(self._p.model)
            if version is None or (self.served and self.served.version == version):
                return
            loaded = self._registry.load(self._p.model, version, self.device)
            if loaded.sequence_length > self._p.window_bars:
                raise MlError(f"its window of {loaded.sequence_length} bars is longer than "
                              f"ml.window_bars ({self._p.window_bars})")
        except (MlError, OSError, KeyError, ValueError) as exc:
            log.error("ml model not loaded, keeping the one served model=%s version=%s "
                      "served=%s error=%s", self._p.model, version,
                      self.served and self.served.version, exc)
            return
        self.served = loaded
        log.info("ml model served model=%s version=%d features=%d sequence_length=%d "
                 "device=%s", loaded.name, loaded.version, len(loaded.features),
                 loaded.sequence_length, self.device)

    # ---- state -----------------------------------------------------------------------------

    def keys(self) -> list[str]:
        return list(self._history)

    def snapshot(self, key: str) -> State:
        return self._history[key].snapshot()

    def restore(self, key: str, state: State) -> None:
        self._history[key] = SymbolBars.restore(state)

    def forget(self, key: str) -> None:
        self._history.pop(key, None)
        self._dirty.discard(key)


_PREDICTION_FIELDS = frozenset(Prediction.model_fields)
_new_prediction = Prediction.__new__


def _prediction(fields: dict[str, object]) -> Prediction:
    """A Prediction of fields that are valid by construction (ints from the decoded batch, the
    registry's name and version, a float from the network), made as pydantic's
    `model_construct` makes one but without its per-field default lookups: validating or
    `model_construct` cost 5-10 times the rest of the engine per row. Every field is given."""
    prediction = _new_prediction(Prediction)
    object.__setattr__(prediction, "__dict__", fields)
    object.__setattr__(prediction, "__pydantic_fields_set__", _PREDICTION_FIELDS)
    object.__setattr__(prediction, "__pydantic_extra__", None)
    object.__setattr__(prediction, "__pydantic_private__", None)
    return prediction


def _rows(window: list[dict[str, float]] | None, take) -> list[tuple[float, ...]] | None:  # type: ignore[no-untyped-def]
    """The values of a window's bars but its last; None when there is no window or one of
    them lacks an input."""
    if window is None:
        return None
    try:
        return [take(values) for values in window[:-1]]
    except KeyError:
        return None


def _getter(features: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """values -> the tuple of `features`' values; KeyError when one is absent."""
    if len(features) == 1:
        name = features[0]
        return lambda values: (values[name],)
    return itemgetter(*features)
