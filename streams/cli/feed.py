"""`nautilus-streams feed` (being written)."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("feed", help="(not yet implemented)")
    p.set_defaults(handler=lambda args: 1)
