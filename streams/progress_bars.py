"""Progress bars on stderr for long work (a backtest's stages, a sweep's runs), drawn by tqdm
only when stderr is a terminal: a log or a pipe gets nothing from them."""

from __future__ import annotations

import sys
from types import TracebackType

from tqdm import tqdm


def _bar(total: int | None, desc: str, unit: str) -> tqdm:
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False,
                dynamic_ncols=True, disable=not sys.stderr.isatty())


class StageBar:
    """One bar for the stages of a replay (`streams.graph.StageProgress`): each stage in turn,
    named by its engines, its input events done out of its input events."""

    def __init__(self) -> None:
        self._stage: str | None = None
        self._bar = _bar(None, "replay", " events")

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self._stage:
            self._stage = stage
            self._bar.set_description(stage, refresh=False)
            self._bar.reset(total=total)  # draws the new stage at once
        self._bar.update(done - self._bar.n)

    def __enter__(self) -> StageBar:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._bar.close()


def runs_bar(total: int) -> tqdm:
    """A bar of a sweep's runs done out of `total` (close it, or use it in a `with`)."""
    return _bar(total, "sweep", " runs")
