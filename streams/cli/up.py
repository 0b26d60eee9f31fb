"""`nautilus-streams up` (being written)."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("up", help="(not yet implemented)")
    p.set_defaults(handler=lambda args: 1)
