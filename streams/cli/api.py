"""`nautilus-streams api` (being written)."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("api", help="(not yet implemented)")
    p.set_defaults(handler=lambda args: 1)
