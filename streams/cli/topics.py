"""`nautilus-streams topics apply|list|tail|schemas`: the catalog against the broker."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

import orjson

from streams import kafka
from streams.catalog import Catalog
from streams.endpoints import reachable_kafka_brokers
from streams.logview import topic_status
from streams.schema import MODELS
from streams.settings import get_settings


def register(sub: argparse._SubParsersAction) -> None:
    topics = sub.add_parser("topics", help="apply, list, tail the catalog's topics; export schemas")
    cmds = topics.add_subparsers(dest="topics_command", metavar="SUBCOMMAND", required=True)

    apply = cmds.add_parser(
        "apply", help="create or update the catalog's topics on the broker (idempotent)"
    )
    apply.set_defaults(handler=_apply)

    lst = cmds.add_parser("list", help="catalog vs broker: partitions and watermarks per topic")
    lst.set_defaults(handler=_list)

    tail = cmds.add_parser(
        "tail",
        help="print records as JSON lines (one per record, nothing else on stdout)",
        description=(
            "Print records of TOPIC as JSON lines on stdout. Valid JSON values are printed as "
            "they are; other values as {\"_raw_b64\": ...}. Exits 0 after N records; with "
            "--timeout, exits 1 (saying so on stderr) when S seconds pass without a matching "
            "record, before N were printed."
        ),
    )
    tail.add_argument("topic")
    tail.add_argument("-n", type=int, default=10, help="records to print before exiting (10)")
    tail.add_argument(
        "--from-beginning", action="store_true", help="start at the oldest record, not the end"
    )
    tail.add_argument("--key", help="only records with this key (e.g. a symbol)")
    tail.add_argument(
        "--timeout", type=float, default=None, metavar="S",
        help="give up after S seconds without a matching record (records of other keys do "
             "not count) and exit 1; default: wait",
    )
    tail.set_defaults(handler=_tail)

    schemas = cmds.add_parser("schemas", help="write a JSON Schema per value model")
    schemas.add_argument("--out", type=Path, required=True, help="directory to write into")
    schemas.set_defaults(handler=_schemas)


def _catalog() -> Catalog:
    return Catalog.load(get_settings().topics_file)


def _apply(args: argparse.Namespace) -> int:
    catalog = _catalog()
    brokers = reachable_kafka_brokers(get_settings())
    changes = kafka.apply_catalog(catalog, brokers)
    for change in changes:
        print(f"{change.action:<10} {change.topic}  {change.detail}")
    print(f"{len(changes)} change(s); {len(catalog)} topics in the catalog, broker {brokers}")
    return 0


def _list(args: argparse.Namespace) -> int:
    rows = topic_status(_catalog(), reachable_kafka_brokers(get_settings()))
    print(f"{'topic':<24} {'catalog':>7} {'broker':>6} {'low':>10} {'high':>10} {'records':>10}")
    for r in rows:
        broker = "-" if r.broker_partitions is None else str(r.broker_partitions)
        cat = "-" if r.catalog_partitions is None else str(r.catalog_partitions)
        note = "" if r.in_catalog else "  (not in catalog)"
        missing = "  (missing on broker: run `topics apply`)" if r.broker_partitions is None else ""
        print(f"{r.name:<24} {cat:>7} {broker:>6} {r.low:>10} {r.high:>10} {r.records:>10}"
              f"{note}{missing}")
    return 0


def _tail(args: argparse.Namespace) -> int:
    brokers = reachable_kafka_brokers(get_settings())
    out = sys.stdout.buffer
    printed = 0
    for _, value, _, _ in kafka.tail(
        brokers, args.topic, count=args.n, from_beginning=args.from_beginning,
        key=args.key, timeout_s=args.timeout,
    ):
        try:
            line = orjson.dumps(orjson.loads(value))
        except orjson.JSONDecodeError:
            line = orjson.dumps({"_raw_b64": base64.b64encode(value).decode()})
        out.write(line + b"\n")
        out.flush()
        printed += 1
    if printed < args.n:  # only --timeout ends a tail early
        which = "" if args.key is None else f" with key {args.key!r}"
        print(f"nautilus-streams topics: no record{which} on {args.topic} within "
              f"{args.timeout:g} s; printed {printed} of {args.n}", file=sys.stderr)
        return 1
    return 0


def _schemas(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    for name, model in MODELS.items():
        path = args.out / f"{name}.schema.json"
        schema = model.model_json_schema(mode="serialization")
        schema["$id"] = f"nautilus-streams/{name}/v{model.SCHEMA_VERSION}"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    print(f"wrote {len(MODELS)} schemas to {args.out}", file=sys.stderr)
    return 0
