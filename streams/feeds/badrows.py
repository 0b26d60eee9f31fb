"""Bad rows of market files: counted per file, the first few shown as `file:line: reason`.

A bad row is skipped, never fatal, unless `strict`: then the first one raises InputFileError
naming its file and line. `forward` receives every bad row (the `feed file` command sends
them to logic.deadletter through `DeadLetters`). Line numbers are a spreadsheet's: a file with
a header has it on line 1 and its first data row on line 2.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaError, Message, Producer

from streams import codec
from streams.exceptions import InputFileError

log = logging.getLogger(__name__)

DEADLETTER_TOPIC = "logic.deadletter"


@dataclass(frozen=True, slots=True)
class BadRow:
    """One skipped row: where it is, why, and its cells as text (for the dead-letter topic)."""

    path: Path
    line: int
    reason: str
    raw: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


class BadRows:
    """Counts bad rows per file, keeps the first `keep` of each, and enforces `strict`.

    `echo` shows each kept row as it is found (the CLI prints it above its progress line);
    `keep=None` keeps them all (for reading small files whole).
    """

    def __init__(
        self,
        *,
        strict: bool = False,
        keep: int | None = 10,
        echo: Callable[[str], None] | None = None,
        forward: Callable[[BadRow], None] | None = None,
    ) -> None:
        self.strict = strict
        self._keep = keep
        self._echo = echo
        self.forward = forward
        self.counts: Counter[Path] = Counter()
        self.kept: list[BadRow] = []

    def add(self, rows: Iterable[BadRow]) -> None:
        """Record bad rows found in one chunk; with `strict`, raise at the first by line."""
        ordered = sorted(rows, key=lambda r: r.line)
        if ordered and self.strict:
            raise InputFileError(f"{ordered[0]} (--strict stops at the first bad row)")
        for row in ordered:
            self.counts[row.path] += 1
            if self._keep is None or self.counts[row.path] <= self._keep:
                self.kept.append(row)
                if self._echo is not None:
                    self._echo(str(row))
            if self.forward is not None:
                self.forward(row)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> list[str]:
        """One line per file with bad rows: how many, and the line of the first."""
        lines = []
        for path, count in self.counts.items():
            first = min(r.line for r in self.kept if r.path == path)
            plural = "row" if count == 1 else "rows"
            lines.append(f"{path}: {count} bad {plural} skipped (first at line {first})")
        return lines

    def of(self, paths: Sequence[Path]) -> list[BadRow]:
        """The kept bad rows of these files, in file then line order."""
        order = {p: k for k, p in enumerate(paths)}
        return sorted((r for r in self.kept if r.path in order),
                      key=lambda r: (order[r.path], r.line))


class DeadLetters:
    """Sends bad rows to logic.deadletter, keyed by their source (`file:<path>`).

    Partition 0, offset = the line; the value is the row's cells as `name=value,...` (a
    line with the wrong number of fields: the line itself). Rows found before `start` (the
    first chunk is read before the broker is looked up, so file errors come first) wait.
    """

    def __init__(self) -> None:
        self._producer: Producer | None = None
        self._waiting: list[BadRow] = []
        self.sent = 0
        self._failed = 0

    def start(self, producer: Producer) -> None:
        self._producer = producer
        waiting, self._waiting = self._waiting, []
        for row in waiting:
            self(row)

    def __call__(self, row: BadRow) -> None:
        if self._producer is None:
            self._waiting.append(row)
            return
        source = f"file:{row.path}"
        now = time.time_ns()
        letter = codec.dead_letter(
            topic=source, partition=0, offset=row.line, key=None, value=row.raw.encode(),
            reason=row.reason, ts_event=now, ts_init=now,
        )
        while True:
            try:
                self._producer.produce(DEADLETTER_TOPIC, codec.encode(letter), source.encode(),
                                       on_delivery=self._delivered)
                break
            except BufferError:
                self._producer.poll(0.05)
        self.sent += 1

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failed += 1
            log.error("dead letter not delivered key=%r error=%s", msg.key(), err)

    def flush(self, timeout_s: float) -> int:
        """Wait for delivery; returns how many were not delivered."""
        if self._producer is None:
            return 0
        left = self._producer.flush(timeout_s) + self._failed
        if left:
            log.warning("dead letters undelivered=%d", left)
        return left
