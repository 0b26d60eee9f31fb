"""Each symbol's recent bars for the `ml` engine: its logic.features and logic.factors
records of one bar (same ts_event) merged into one set of named inputs, in ts_event order.

The two topics arrive independently (in a worker, on two agents), so a bar may have a record
of one of them for a while. A bar notes the topics it has a record of (`topics`: a bit per
topic, TOPIC_BITS) and whether the engine has decided it (predicted it, or counted it as
without a prediction), so that it is decided once, by the record that completes it,
whichever topic's that is. A symbol keeps its newest `keep` bars; `settled_ns` is the newest
ts_event it dropped, and a record dated at or before it is late: it changes nothing.
"""

from __future__ import annotations

from processors.base import State
from processors.ml.inputs import FACTORS_TOPIC, FEATURES_TOPIC

TOPIC_BITS = {FEATURES_TOPIC: 1, FACTORS_TOPIC: 2}


def topic_bits(topics: frozenset[str]) -> int:
    bits = 0
    for topic in topics:
        bits |= TOPIC_BITS[topic]
    return bits


class Bar:
    """One bar of a symbol: its merged values, the topics it has records of, decided or not."""

    __slots__ = ("decided", "topics", "ts_event", "values")

    def __init__(self, ts_event: int, topics: int, decided: bool,
                 values: dict[str, float]) -> None:
        self.ts_event = ts_event
        self.topics = topics
        self.decided = decided
        self.values = values


class SymbolBars:
    """One symbol's bars, oldest first (see the module docstring)."""

    __slots__ = ("bars", "settled_ns")

    def __init__(self, bars: list[Bar] | None = None, settled_ns: int | None = None) -> None:
        self.bars: list[Bar] = bars if bars is not None else []
        self.settled_ns = settled_ns

    def add(self, ts_event: int, values: dict[str, float], topic_bit: int) -> int | None:
        """Merge a record of the topic `topic_bit` into the bar of its ts_event (a new bar when
        there is none) and return the bar's index; None when the record is late, or when the
        bar has that topic's record already (a re-delivery): nothing changed."""
        bars = self.bars
        at = len(bars)
        if not at or bars[-1].ts_event < ts_event:  # the usual case: a new newest bar
            if self.settled_ns is not None and ts_event <= self.settled_ns:
                return None
            bars.append(Bar(ts_event, topic_bit, False, values))
            return at
        while at and bars[at - 1].ts_event > ts_event:
            at -= 1
        if at and bars[at - 1].ts_event == ts_event:
            bar = bars[at - 1]
            if bar.topics & topic_bit:
                return None
            bar.values = {**bar.values, **values}  # the decoded record stays as it came
            bar.topics |= topic_bit
            return at - 1
        if self.settled_ns is not None and ts_event <= self.settled_ns:
            return None
        bars.insert(at, Bar(ts_event, topic_bit, False, values))
        return at

    def drop_beyond(self, keep: int) -> None:
        """Drop the oldest bars but the newest `keep`."""
        if len(self.bars) > keep:
            self.settled_ns = self.bars[-keep - 1].ts_event
            del self.bars[:-keep]

    def window(self, index: int, length: int, topics: int) -> list[dict[str, float]] | None:
        """The values of the `length` newest bars up to `index` that have a record of one of
        `topics` (a model's bars), oldest first; None when there are fewer."""
        window, bars = [], self.bars
        for at in range(index, -1, -1):
            bar = bars[at]
            if bar.topics & topics:
                window.append(bar.values)
                if len(window) == length:
                    return window[::-1]
        return None

    def snapshot(self) -> State:
        return {"bars": [[b.ts_event, b.topics, b.decided, b.values] for b in self.bars],
                "settled_ns": self.settled_ns}

    @staticmethod
    def restore(state: State) -> SymbolBars:
        return SymbolBars([Bar(int(ts), int(topics), bool(decided), dict(values))
                           for ts, topics, decided, values in state["bars"]],
                          state["settled_ns"])
