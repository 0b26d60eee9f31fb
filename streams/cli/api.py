"""`nautilus-streams api`: serve the HTTP API (`api.main:app`) with uvicorn."""

from __future__ import annotations

import argparse

from streams.settings import get_settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "api", help="serve the HTTP API",
        description=(
            "Serve api.main:app with uvicorn until SIGINT/SIGTERM. The broker and database "
            "come from KAFKA_BROKERS / DATABASE_URL, else from a running `up`. Request "
            "lines are logged with tokens redacted."
        ),
    )
    p.add_argument("--host", help="interface to bind (default: NAUTILUS_API_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to bind (default: NAUTILUS_API_PORT, 8000)")
    p.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api import log_redaction

    settings = get_settings()
    log_redaction.install()  # request lines carry `?token=`: never into the log
    uvicorn.run(
        "api.main:app",
        host=args.host or settings.api_host,
        port=args.port if args.port is not None else settings.api_port,
        log_config=None,  # keep the CLI's logging format; uvicorn's loggers propagate to it
        timeout_graceful_shutdown=5,
    )
    return 0
