"""The `ml` engine: logic.features -> logic.predictions, with the registry's promoted model.

Per batch the engine first checks the promoted pointer of the model named by `ml.model`
(one `stat` of REGISTRY/NAME/PROMOTED: its inode and mtime change whenever `ml promote`
replaces it) and loads a newly promoted version onto its device, so a running worker serves
the new version from its next batch, without a restart. A version that fails to load is
logged and the previous one kept serving.

Every row of the batch that carries the model's features is predicted in one forward pass,
on the engine's device; each gives a Prediction (model, version, horizon_ns, value: the
forecast forward return), dated at the features' ts_event, id `NAME:VERSION:SYMBOL:TS`.
A row missing one of the model's features (or with a non-finite value) gets no prediction:
it is counted (`rows_missing_features`) and logged with the batch's count, never predicted
from a zero. Rows that arrive while no version is promoted are counted as `rows_unserved`.

A model with a window of L > 1 bars (`gru`) is fed a symbol's last L rows that carried every
feature, consecutive: a row missing a feature empties the symbol's window, as training
forms no window across such a row. The windows are the engine's state per symbol; a switch
to a version with other features or window length empties them. A row's prediction depends
only on it and its symbol's window, so batching does not change which rows are predicted;
values are float32 network outputs, equal across batchings up to the last bits of the
batched matrix products.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
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
        self._model_name = params.model
        self._registry = Registry(Path(params.registry))
        self._stamp: tuple[int, int] | None = None
        self.served: ServedModel | None = None
        self._windows: dict[str, list[list[float]]] = {}  # symbol -> last complete rows
        self.rows_missing_features = 0
        self.rows_unserved = 0

    @handles(INPUT_TOPIC)
    def on_features(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        rows = len(columns["ts_event"])
        if rows == 0:
            return []
        self._refresh()
        served = self.served
        if served is None:
            self.rows_unserved += rows
            return []
        symbols, ts = columns["symbol"].tolist(), columns["ts_event"].tolist()
        matrix = _matrix(columns["values"].tolist(), served.features)
        complete = np.isfinite(matrix).all(axis=1)
        if served.sequence_length == 1:
            at = np.flatnonzero(complete)
            windows = matrix[at][:, None, :]
        else:
            at, windows = self._slide(symbols, matrix, complete, served.sequence_length)
        missing = rows - int(complete.sum())
        if missing:
            self.rows_missing_features += missing
            log.warning("ml rows without a prediction: missing features model=%s version=%d "
                        "rows=%d total=%d", served.name, served.version, missing,
                        self.rows_missing_features)
        if len(at) == 0:
            return []
        values = served.predict(windows).tolist()
        now = self.clock.timestamp_ns()
        return [Emit(OUTPUT_TOPIC, symbols[row], Prediction(
            ts_event=ts[row], ts_init=now,
            prediction_id=f"{served.name}:{served.version}:{symbols[row]}:{ts[row]}",
            model=served.name, version=served.version, symbol=symbols[row],
            horizon_ns=served.horizon_ns, value=value))
            for row, value in zip(at.tolist(), values, strict=True)]

    def _slide(self, symbols: list[str], matrix: np.ndarray, complete: np.ndarray,
               length: int) -> tuple[np.ndarray, np.ndarray]:
        """Move each row into its symbol's window, in arrival order; the rows whose window
        is full, and their windows."""
        at, windows = [], []
        for row, (symbol, ok) in enumerate(zip(symbols, complete.tolist(), strict=True)):
            window = self._windows.get(symbol, [])
            window = [*window[-(length - 1):], matrix[row].tolist()] if ok else []
            if window or symbol in self._windows:
                self._windows[symbol] = window
                self.mark_dirty(symbol)
            if len(window) == length:
                at.append(row)
                windows.append(window)
        shape = (len(at), length, matrix.shape[1])
        return np.array(at, dtype=np.int64), np.array(windows, dtype=np.float64).reshape(shape)

    def _refresh(self) -> None:
        """Serve the promoted version of the model, loading it if it changed."""
        if not self._model_name:
            return
        stamp = self._registry.promoted_stamp(self._model_name)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            version = self._registry.promoted(self._model_name)
            if version is None or (self.served and self.served.version == version):
                return
            loaded = self._registry.load(self._model_name, version, self.device)
        except (MlError, OSError, KeyError, ValueError) as exc:
            log.error("ml model not loaded, keeping the one served model=%s served=%s "
                      "error=%s", self._model_name, self.served and self.served.version, exc)
            return
        old = self.served
        if old is None or (old.features, old.sequence_length) != (loaded.features,
                                                                   loaded.sequence_length):
            for symbol in self._windows:
                self.mark_dirty(symbol)
            self._windows = {symbol: [] for symbol in self._windows}
        self.served = loaded
        log.info("ml model served model=%s version=%d features=%d sequence_length=%d "
                 "device=%s", loaded.name, loaded.version, len(loaded.features),
                 loaded.sequence_length, self.device)

    # ---- state -----------------------------------------------------------------------------

    def keys(self) -> list[str]:
        return list(self._windows)

    def snapshot(self, key: str) -> State:
        features = list(self.served.features) if self.served else []
        return {"features": features, "rows": self._windows[key]}

    def restore(self, key: str, state: State) -> None:
        self._refresh()
        same = self.served is not None and list(self.served.features) == state["features"]
        self._windows[key] = [list(map(float, r)) for r in state["rows"]] if same else []

    def forget(self, key: str) -> None:
        self._windows.pop(key, None)
        self._dirty.discard(key)


def _matrix(values: list[dict[str, float]], features: tuple[str, ...]) -> np.ndarray:
    """Rows x features, NaN where a row lacks a feature."""
    nan = math.nan
    return np.array([[v.get(name, nan) for name in features] for v in values],
                    dtype=np.float64).reshape(len(values), len(features))
