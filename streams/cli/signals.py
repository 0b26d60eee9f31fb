"""Stopping a publishing command on a signal: it finishes what it holds, then ends."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

log = logging.getLogger(__name__)


@contextlib.contextmanager
def stop_on_signals(command: str) -> Iterator[threading.Event]:
    """SIGINT / SIGTERM set the event (the command flushes and ends); a second SIGINT
    aborts. `command` names it in the log line."""
    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.info("%s stopping signal=%s", command, signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
