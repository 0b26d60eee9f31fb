"""`nautilus-streams api`: serve the HTTP API (`api.main:app`) with uvicorn."""

from __future__ import annotations

import argparse
import logging
import os

from streams.settings import get_settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "api", help="serve the HTTP API",
        description=(
            "Serve api.main:app with uvicorn until SIGINT/SIGTERM. The broker and database "
            "come from KAFKA_BROKERS / DATABASE_URL, else from a running `up`. Request "
            "lines are logged with tokens redacted. With --workers N, N server processes "
            "share the port (the kernel spreads connections over them); they share nothing "
            "but the database and the broker, so the per-token rate limit and the caches "
            "are per process."
        ),
    )
    p.add_argument("--host", help="interface to bind (default: NAUTILUS_API_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to bind (default: NAUTILUS_API_PORT, 8000)")
    p.add_argument("--workers", type=process_count, default=1, metavar="N",
                   help="server processes (default: 1; about one per core serves the most "
                        "requests)")
    p.set_defaults(handler=_serve)


def process_count(text: str) -> int:
    """A process count: a whole number from 1."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a process count (1, 2, ...)")
    return count


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    # uvicorn's server processes (--workers) start new interpreters that import api.main,
    # which configures their logging (and the token redaction) from NAUTILUS_LOG_LEVEL:
    # hand them this process's level, --log-level included
    os.environ["NAUTILUS_LOG_LEVEL"] = logging.getLevelName(logging.getLogger().level)
    uvicorn.run(
        "api.main:app",
        host=args.host or settings.api_host,
        port=args.port if args.port is not None else settings.api_port,
        workers=args.workers,
        log_config=None,  # keep the CLI's logging format; uvicorn's loggers propagate to it
        timeout_graceful_shutdown=5,
    )
    return 0
