"""Entry point of `nautilus-streams` (and `python -m streams`).

Each command group lives in its own module with a `register(subparsers)` function that adds
its parser and sets `handler`. Errors the platform raises on purpose (NautilusError) print one
clear line on stderr and exit 2; nothing else is swallowed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from streams import process_logging
from streams.cli import (
    api,
    backtest,
    db,
    factor_model,
    feed,
    ml,
    replay,
    risk,
    sink,
    token,
    topics,
    up,
    worker,
)
from streams.exceptions import NautilusError
from streams.settings import get_settings

COMMAND_GROUPS = (up, topics, worker, sink, feed, replay, backtest, ml, db, api, token, risk,
                  factor_model)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nautilus-streams",
        description=(
            "Real-time trading analytics on a Kafka-compatible log. "
            "`up` runs everything on embedded services; the other commands use KAFKA_BROKERS / "
            "DATABASE_URL when set, otherwise the services of a running `up`."
        ),
    )
    parser.add_argument(
        "--log-level", default=None, help="DEBUG, INFO, WARNING... (default: NAUTILUS_LOG_LEVEL)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        level = args.log_level or get_settings().log_level
    except NautilusError as exc:
        print(f"nautilus-streams {args.command}: error: {exc}", file=sys.stderr)
        return 2
    process_logging.configure(level)
    try:
        return int(args.handler(args) or 0)
    except NautilusError as exc:
        print(f"nautilus-streams {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `... | head` closed our stdout: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
