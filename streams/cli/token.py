"""`nautilus-streams token create|list|revoke`: bearer tokens for the HTTP API."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta

from streams.endpoints import database_url
from streams.settings import get_settings
from streams.storage import tokens


def register(sub: argparse._SubParsersAction) -> None:
    token = sub.add_parser(
        "token", help="create, list and revoke API tokens",
        description=(
            "API tokens are stored as SHA-256 hashes in the database (DATABASE_URL, else the "
            "database of a running `up`). Scopes: read (every GET route and the websocket), "
            "admin (everything, read included)."
        ),
    )
    cmds = token.add_subparsers(dest="token_command", metavar="SUBCOMMAND", required=True)

    create = cmds.add_parser(
        "create", help="create a token and print it once",
        description="Create a token and print it on stdout; it cannot be shown again.",
    )
    create.add_argument("--scope", choices=tokens.SCOPES, default="read",
                        help="what the token may do (default: read)")
    create.add_argument("--name", default="default",
                        help="a label for listings, e.g. who or what uses it (default: default)")
    create.add_argument("--expires-in", type=duration, metavar="DURATION",
                        help="the token stops working this long after now: a number and s, "
                        "m, h or d, e.g. 12h or 90d (default: never; revoke it instead)")
    create.set_defaults(handler=_create)

    listing = cmds.add_parser(
        "list", help="every token: id, name, scope, created, revoked, expires")
    listing.set_defaults(handler=_list)

    revoke = cmds.add_parser(
        "revoke", help="revoke a token by id",
        description="Revoke a token (its id from `token list`); APIs stop accepting it within "
                    "NAUTILUS_API_TOKEN_CACHE_MS.",
    )
    revoke.add_argument("token_id", help="the token's id (as shown by `token list`)")
    revoke.set_defaults(handler=_revoke)


def _create(args: argparse.Namespace) -> int:
    token, info = tokens.create_token(database_url(get_settings()), args.scope, args.name,
                                      args.expires_in)
    print(token)
    expires = f" expires={_when(info.expires_at)}" if info.expires_at else ""
    print(f"token id={info.token_id} scope={info.scope} name={info.name!r}{expires}: store it "
          "now, it is not shown again", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace) -> int:
    rows = tokens.list_tokens(database_url(get_settings()))
    print(f"{'id':<14} {'scope':<6} {'created':<26} {'revoked':<26} {'expires':<26} name")
    for row in rows:
        print(f"{row.token_id:<14} {row.scope:<6} {_when(row.created_at):<26} "
              f"{_when(row.revoked_at):<26} {_when(row.expires_at):<26} {row.name}")
    return 0


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "-"


_UNITS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}


def duration(text: str) -> timedelta:
    """An argparse type: a positive number and a unit, s, m, h or d (`90d`, `1.5h`)."""
    number, unit = text.strip()[:-1], text.strip()[-1:].lower()
    try:
        seconds = float(number) * _UNITS[unit]
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(
            f"expected a number and s, m, h or d (e.g. 12h, 90d), got {text!r}") from None
    if not 0 < seconds < float("inf"):
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
    return timedelta(seconds=seconds)


def _revoke(args: argparse.Namespace) -> int:
    if tokens.revoke_token(database_url(get_settings()), args.token_id):
        print(f"revoked {args.token_id}")
        return 0
    print(f"no active token with id {args.token_id}", file=sys.stderr)
    return 1
