"""Many factor expressions compiled once into one evaluation schedule.

Equal subexpressions are evaluated once per bar (`$close/Ref($close, 1)` is shared by every
factor that has it). Each distinct node is evaluated over the last L bars, where L is the
most any expression that reads it needs: 1 for a factor, L + N - 1 for the argument of a
rolling window of N, L + N for the argument of `Ref` / `Delta` of N. So a bar's factors
are computed from the last `history` bars alone, and the engine keeps no more than that.
Every node is computed for all symbols at once: arrays of shape (symbols, L).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from processors.factors.expressions import FIELDS, Call, Constant, Field, Node, reach
from processors.factors.kernels import ELEMENTWISE, PAIRS, ROLLING


@dataclass(frozen=True, slots=True)
class _Step:
    """One distinct node: what it is, the slots of its arguments, how many bars it is
    computed over (`length`) and how many more each argument needs (`reach`)."""

    node: Node
    args: tuple[int, ...]
    length: int
    reach: int


class Program:
    """Expressions -> one value each per symbol for the newest bar (NaN where undefined)."""

    def __init__(self, expressions: Sequence[Node]) -> None:
        nodes: list[Node] = []
        args: list[tuple[int, ...]] = []
        slots: dict[Node, int] = {}

        def intern(node: Node) -> int:
            if node in slots:
                return slots[node]
            children = tuple(intern(a) for a in node.args) if isinstance(node, Call) else ()
            slots[node] = len(nodes)
            nodes.append(node)
            args.append(children)
            return slots[node]

        self._roots = [intern(e) for e in expressions]
        lengths = [0] * len(nodes)
        for root in self._roots:
            lengths[root] = 1
        for slot in reversed(range(len(nodes))):  # a node's parents come after it
            for child in args[slot]:
                lengths[child] = max(lengths[child], lengths[slot] + reach(nodes[slot]))
        self._steps = [_Step(node, args[slot], lengths[slot], reach(node))
                       for slot, node in enumerate(nodes)]
        self.history = max((s.length for s in self._steps if isinstance(s.node, Field)),
                           default=1)
        """Bars the expressions read, the current one included."""

    def evaluate(self, bars: Mapping[str, np.ndarray]) -> np.ndarray:
        """Each expression's value at the newest bar: shape (symbols, expressions).

        `bars`: each field's last `history` values per symbol, shape (symbols, history),
        oldest first, NaN before a symbol's first bar."""
        values: list[np.ndarray] = []
        with np.errstate(all="ignore"):
            for step in self._steps:
                values.append(self._compute(step, values, bars))
        return np.stack([values[root][:, -1] for root in self._roots], axis=1)

    def _compute(self, step: _Step, values: list[np.ndarray],
                 bars: Mapping[str, np.ndarray]) -> np.ndarray:
        node, length = step.node, step.length
        if isinstance(node, Field):
            return bars[node.name][:, self.history - length:]
        if isinstance(node, Constant):
            return np.full((len(bars[FIELDS[0]]), length), node.value)
        args = [values[a][:, values[a].shape[1] - length - step.reach:] for a in step.args]
        if node.op in ELEMENTWISE:
            result: np.ndarray = ELEMENTWISE[node.op](*args)
            return result
        if node.op in ("Ref", "Delta"):
            lagged = args[0][:, :length]
            return lagged if node.op == "Ref" else args[0][:, node.window:] - lagged
        # one window per bar of the result; of one bar, the argument's bars are that window
        # (sliding_window_view's checks cost more than most windows' arithmetic)
        windows = [a[:, np.newaxis, :] if length == 1
                   else sliding_window_view(a, node.window, axis=1) for a in args]
        if node.op in PAIRS:
            return PAIRS[node.op](*windows)
        return ROLLING[node.op](windows[0], node.quantile)
