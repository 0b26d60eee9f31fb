"""One log format for every process: the CLI's, and the API's server processes that uvicorn
spawns with `--workers N` (they import `api.main` in a new interpreter, which the CLI's
configuration never reached)."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# libraries that log every connection and retry at INFO: WARNING and above only
QUIET_LOGGERS = ("aiokafka", "faust", "mode", "kafka", "pgserver", "librdkafka")


def configure(level: str) -> None:
    """Log `level` and above to stderr in FORMAT (once per process: a second call changes
    nothing, as `logging.basicConfig`)."""
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format=FORMAT)
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
