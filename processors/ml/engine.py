"""The `ml` engine: logic.features -> logic.predictions, with the registry's promoted model.

Per batch the engine first checks the promoted pointer of the model named by `ml.model`
(one `stat` of REGISTRY/NAME/PROMOTED: its inode and mtime change whenever `ml promote`
replaces it) and loads a newly promoted version onto its device, so a running worker serves
the new version from its next batch, without a restart. A version that fails to load, or
whose input window is longer than `window_bars`, is logged and the previous one kept serving.

Every row of the batch whose window is complete is predicted in one forward pass, on the
engine's device; each gives a Prediction (model, version, horizon_ns, value: the forecast
forward return), dated at the features' ts_event, id `NAME:VERSION:SYMBOL:TS`. A row's
window is the symbol's last L records (L: the model's sequence length, 1 for `linear` and
`mlp`), and it is complete when each carries every feature of the model with a finite
value, as training forms its samples. A row missing a feature (or with a non-finite one)
gets no prediction: it is counted (`rows_missing_features`) and logged with the batch's
count, never predicted from a zero; rows that complete no window for another reason (the
symbol's first L - 1 records, or L after a gap) are not. Rows that arrive while no version is
promoted are counted as `rows_unserved` (the first of them logged).

State per symbol: its last `window_bars` feature records, whatever the model, so a newly
promoted version with a longer window predicts from its first batch. A row's prediction
depends only on it and the records before it, so batching does not change which rows are
predicted; values are float32 network outputs, equal across batchings up to the last bits of
the batched matrix products.
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
from processors.ml.params import MlParams
from processors.ml.registry import Registry, ServedModel
from streams.clock import Clock
from streams.schema import Prediction

log = logging.getLogger(__name__)
INPUT_TOPIC, OUTPUT_TOPIC = "logic.features", "logic.predictions"


class MlEngine(Engine):
    """logic.features -> logic.predictions (see the module docstring)."""

    name = "ml"
    outputs = (OUTPUT_TOPIC,)
    params_model = MlParams

    def __init__(self, params: MlParams, clock: Clock, device: torch.device) -> None:
        super().__init__(params, clock, device)
        self._p = params
        self._registry = Registry(Path(params.registry))
        self._stamp: tuple[int, int] | None = None
        self.served: ServedModel | None = None
        self._history: dict[str, list[dict[str, float]]] = {}  # symbol -> last records
        self.rows_missing_features = 0
        self.rows_unserved = 0

    @handles(INPUT_TOPIC)
    def on_features(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        rows = len(columns["ts_event"])
        if rows == 0:
            return []
        self._refresh()
        symbols, ts = columns["symbol"].tolist(), columns["ts_event"].tolist()
        records = columns["values"].tolist()
        served = self.served
        if served is None:
            self._remember(symbols, records)
            if self.rows_unserved == 0:
                log.warning("ml rows without a prediction: no version served model=%s "
                            "registry=%s (train one, then `ml promote`)", self._p.model or
                            "(none: set ml.model)", self._registry.root)
            self.rows_unserved += rows
            return []
        matrix = _matrix(records, served.features)
        complete = np.isfinite(matrix).all(axis=1)
        if served.sequence_length == 1:
            self._remember(symbols, records)
            at = np.flatnonzero(complete)
            windows = matrix[at][:, None, :]
        else:
            at, windows = self._remember_windows(symbols, records, complete, served)
        missing = rows - int(complete.sum())
        if missing:
            self.rows_missing_features += missing
            log.warning("ml rows without a prediction: missing features model=%s version=%d "
                        "rows=%d total=%d", served.name, served.version, missing,
                        self.rows_missing_features)
        if len(at) == 0:
            return []
        values = served.predict(windows).tolist()
        now, name, version, horizon = (self.clock.timestamp_ns(), served.name, served.version,
                                       served.horizon_ns)
        return [Emit(OUTPUT_TOPIC, symbols[row], _prediction({
            "schema_version": 1, "ts_event": ts[row], "ts_init": now,
            "prediction_id": f"{name}:{version}:{symbols[row]}:{ts[row]}", "model": name,
            "version": version, "symbol": symbols[row], "horizon_ns": horizon, "value": value}))
            for row, value in zip(at.tolist(), values, strict=True)]

    def _remember(self, symbols: list[str], records: list[dict[str, float]]) -> None:
        """Add each record to its symbol's history, in arrival order."""
        keep, histories = self._p.window_bars, self._history
        for symbol, record in zip(symbols, records, strict=True):
            history = histories.get(symbol)
            if history is None:
                history = histories[symbol] = []
            history.append(record)
            if len(history) > keep:
                del history[0]
        self._dirty.update(symbols)

    def _remember_windows(self, symbols: list[str], records: list[dict[str, float]],
                          complete: np.ndarray, served: ServedModel,
                          ) -> tuple[np.ndarray, np.ndarray]:
        """`_remember`, row by row, and the rows whose window (the symbol's last L records,
        each carrying every feature) is complete, with their windows."""
        length, features = served.sequence_length, served.features
        at, windows = [], []
        for row, (symbol, ok) in enumerate(zip(symbols, complete.tolist(), strict=True)):
            self._remember([symbol], records[row:row + 1])
            window = self._history[symbol][-length:]
            if ok and len(window) == length and all(_carries(v, features) for v in window):
                at.append(row)
                windows.append([[v[name] for name in features] for v in window])
        shape = (len(at), length, len(features))
        return np.array(at, dtype=np.int64), np.array(windows, dtype=np.float64).reshape(shape)

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
        return {"records": self._history[key]}

    def restore(self, key: str, state: State) -> None:
        self._history[key] = [dict(r) for r in state["records"]]

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


def _carries(record: dict[str, float], features: tuple[str, ...]) -> bool:
    return all(math.isfinite(record.get(name, math.nan)) for name in features)


def _matrix(records: list[dict[str, float]], features: tuple[str, ...]) -> np.ndarray:
    """Records x features, NaN where a record lacks a feature."""
    take = itemgetter(*features) if len(features) > 1 else (lambda r, f=features[0]: (r[f],))
    rows = []
    for record in records:
        try:
            rows.append(take(record))
        except KeyError:
            rows.append(tuple(record.get(name, math.nan) for name in features))
    return np.array(rows, dtype=np.float64).reshape(len(records), len(features))
