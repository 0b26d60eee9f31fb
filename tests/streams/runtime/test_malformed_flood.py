"""Fault suite: 10,000 malformed records mixed into market.trades, through one worker running
the bars and VPIN engines.

Every malformed record (bad JSON, not an object, wrong types, missing fields, negative or zero
sizes and prices, numbers beyond int64 or float64, huge strings, unknown fields, wrong schema
versions, absurd nesting) must come out on logic.deadletter with its source offset, its bytes
and a reason naming what was wrong; no valid record may; the valid ones must make exactly the
bars and VPIN readings they make alone; the worker must still run, its health counting the
dead letters. How fast decoding goes with such a share of bad records is measured by
benchmarks/malformed_decode.py, not asserted here.
"""

from __future__ import annotations

import base64
import socket
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import numpy as np
import orjson
import pytest

from processors import VpinEngine
from streams import codec
from streams.codec import DEAD_LETTER_VALUE_BYTES
from streams.feeds.sim import SimMarket
from streams.params import apply_overrides
from streams.replay import Source, run_replay
from streams.schema import Trade
from streams.settings import EngineParams
from tests.streams.runtime.workers import (
    produce,
    read_topic,
    sim_trades,
    start_group_at_end,
    wait_for,
    worker,
)

pytestmark = pytest.mark.slow
NS = 1_000_000_000
MINUTE_NS = 60 * NS
START_NS = 1_700_000_040 * NS  # a minute boundary, far behind the wall clock
TAPE_S = 600
MALFORMED = 10_000
VPIN = {"bucket_volume": "300", "window": "2", "sigma_bars": "2", "bar_seconds": "30"}


@dataclass(frozen=True)
class Malformed:
    """One bad record: its kind, its bytes and what its dead letter's reason must say."""

    kind: str
    value: bytes
    reason: str


Corrupt = Callable[[dict, np.random.Generator], tuple[bytes, str]]
T = TypeVar("T")


def _dumps(doc: dict, **fields: object) -> bytes:
    return orjson.dumps(doc | fields)


def _raw_field(doc: dict, field: str, json_text: bytes) -> bytes:
    """`doc` with `field` written as `json_text` (what orjson will not write: 2**64)."""
    return _dumps(doc, **{field: "@raw@"}).replace(b'"@raw@"', json_text)


def _pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    return options[int(rng.integers(len(options)))]


def _truncated(doc: dict, rng: np.random.Generator) -> tuple[bytes, str]:
    whole = orjson.dumps(doc)
    return whole[: int(rng.integers(1, len(whole) - 1))], "invalid JSON"


def _bad_json(doc: dict, rng: np.random.Generator) -> tuple[bytes, str]:
    whole = orjson.dumps(doc)
    value = _pick(rng, [
        b"not json " + rng.bytes(8).hex().encode(),
        whole + b" }",  # trailing characters
        b"",
        whole.replace(b'"venue":"SIM"', b'"venue":"S\xffM"'),  # not UTF-8
        whole.replace(b'"venue":"SIM"', b'"venue":"\\ud800"'),  # a lone surrogate
        b"{'symbol': 'ESZ6'}",  # Python, not JSON
    ])
    return value, "invalid JSON"


def _deep(doc: dict, rng: np.random.Generator) -> tuple[bytes, str]:
    # 100,000 levels: Arrow's JSON reader recursed into it until the worker segfaulted
    depth = 100_000 + int(rng.integers(1000))
    value = b'{"extra": ' + b"[" * depth + b"]" * depth + b"}"
    return value, "invalid JSON: recursion limit exceeded"


def _not_an_object(doc: dict, rng: np.random.Generator) -> tuple[bytes, str]:
    return _pick(rng, [b"[1, 2]", b"null", b"42", b'"trade"', orjson.dumps([doc])]), \
        "not a JSON object"


WRONG_TYPES: list[tuple[str, object, str]] = [
    ("price", True, "price must be a positive finite decimal"),
    ("price", [101.25], "price must be a positive finite decimal"),
    ("price", {"value": "101.25"}, "price must be a positive finite decimal"),
    ("price", "abc", "price must be a positive finite decimal"),
    ("size", 5.5, "size must be a positive integer"),
    ("size", 5.0, "size must be a positive integer"),
    ("size", "5", "size must be a positive integer"),
    ("size", None, "size must be a positive integer"),
    ("symbol", 7, "symbol must be text matching"),
    ("symbol", None, "symbol must be text matching"),
    ("ts_event", 1.7e18, "ts_event must be a non-negative integer (ns)"),
    ("ts_event", "1700000000000000000", "ts_event must be a non-negative integer (ns)"),
    ("aggressor", "up", "aggressor must be buy, sell or null"),
    ("unreported", 1, "unreported must be true or false"),
    ("trade_id", 5, "trade_id must be text"),
    ("conditions", ["@"], "conditions must be text"),
]


def _wrong_type(doc: dict, rng: np.random.Generator) -> tuple[bytes, str]:
    field, value, reason = WRONG_TYPES[int(rng.integers(len(WRONG_TYPES)))]
    return _dumps(doc, **{field: value}), reason


def _missing(doc: dict, rng: np.random.Generator) -> tuple[bytes, str]:
    field = _pick(rng, ["symbol", "price", "size", "ts_event", "ts_init"])
    return orjson.dumps({k: v for k, v in doc.items() if k != field}), \
        f"missing field {field!r}"


def _not_positive(doc: dict, rng: np.random.Generator) -> tuple[bytes, str]:
    if rng.random() < 0.5:
        size = -int(rng.integers(1, 1000)) if rng.random() < 0.7 else 0
        return _dumps(doc, size=size), "size must be a positive integer"
    price = _pick(rng, [f"-{rng.integers(1, 500)}.25", "0", "0.00", -3])
    return _dumps(doc, price=price), "price must be a positive finite decimal"


def _out_of_range(doc: dict, rng: np.random.Generator) -> tuple[bytes, str]:
    return _pick(rng, [
        (_raw_field(doc, "size", b"18446744073709551616"),
         "size must be a positive integer within int64"),  # crashed the batch: OverflowError
        (_raw_field(doc, "ts_event", b"9223372036854775808"),
         "ts_event must be a non-negative integer (ns) within int64"),
        (_dumps(doc, price="1e400"), "beyond the range of a float64"),  # was an inf price
        (_raw_field(doc, "price", b"9" * 400), "beyond the range of a float64"),
        (_dumps(doc, price="1e-400"), "0 as a float64"),  # was a zero price
    ])


def _huge_symbol(doc: dict, rng: np.random.Generator) -> tuple[bytes, str]:
    # under the producer's 1,000,000-byte message limit; its dead letter is cut
    return _dumps(doc, symbol="S" * 900_000), "symbol must be text matching"


def _huge_trade_id(doc: dict, rng: np.random.Generator) -> tuple[bytes, str]:
    return _dumps(doc, trade_id="T" * 100_000), "trade_id must be text of at most 64"


def _long_text(doc: dict, rng: np.random.Generator) -> tuple[bytes, str]:
    field = _pick(rng, ["venue", "conditions", "trade_id"])
    return _dumps(doc, **{field: "x" * int(rng.integers(65, 4000))}), \
        f"{field} must be text of at most 64"


def _unknown_field(doc: dict, rng: np.random.Generator) -> tuple[bytes, str]:
    # `agressor` (misspelt): ignored, it read as a trade of unknown side
    field = _pick(rng, ["agressor", "colour", "price_usd", "exchange", "sise"])
    return _dumps(doc, **{field: "buy"}), f"unknown field {field!r}"


def _wrong_version(doc: dict, rng: np.random.Generator) -> tuple[bytes, str]:
    version = _pick(rng, [2, 99, 0, -1, "1", None, 1.0])
    if version in (2, 99) and type(version) is int:
        return _dumps(doc, schema_version=version), f"schema_version {version} is newer"
    return _dumps(doc, schema_version=version), "schema_version"


CORRUPTIONS: list[tuple[str, int, Corrupt]] = [
    ("truncated JSON", 700, _truncated),
    ("bad JSON", 796, _bad_json),
    ("nested 100k deep", 4, _deep),
    ("not an object", 500, _not_an_object),
    ("wrong type", 2_500, _wrong_type),
    ("missing field", 500, _missing),
    ("negative or zero", 2_000, _not_positive),
    ("beyond int64 or float64", 500, _out_of_range),
    ("huge symbol", 2, _huge_symbol),
    ("huge trade_id", 20, _huge_trade_id),
    ("long text", 478, _long_text),
    ("unknown field", 1_000, _unknown_field),
    ("wrong schema version", 1_000, _wrong_version),
]


def malformed_records(tape: list[Trade], rng: np.random.Generator) -> list[Malformed]:
    """MALFORMED bad records, each a corrupted copy of a valid trade, in a seeded order."""
    out = []
    for kind, count, corrupt in CORRUPTIONS:
        for _ in range(count):
            doc = orjson.loads(codec.encode(tape[int(rng.integers(len(tape)))]))
            value, reason = corrupt(doc, rng)
            out.append(Malformed(kind, value, reason))
    assert len(out) == MALFORMED
    return [out[i] for i in rng.permutation(len(out))]


def expected_bars(tape: list[Trade]) -> dict[tuple[str, int], dict]:
    """Each (symbol, minute)'s bar, straight from the trades."""
    bars: dict[tuple[str, int], dict] = {}
    for t in tape:
        key = (t.symbol, t.ts_event - t.ts_event % MINUTE_NS)
        bar = bars.get(key)
        if bar is None:
            bars[key] = {"open": t.price, "high": t.price, "low": t.price, "close": t.price,
                         "volume": t.size, "trade_count": 1}
            continue
        bar.update(high=max(bar["high"], t.price), low=min(bar["low"], t.price),
                   close=t.price, volume=bar["volume"] + t.size,
                   trade_count=bar["trade_count"] + 1)
    return bars


def test_ten_thousand_malformed_trades_are_dead_lettered_and_the_valid_ones_all_processed(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: a simulated tape of 3 symbols, 10,000 bad records spread through it
    rng = np.random.default_rng(16)
    tag = uuid.uuid4().hex[:6].upper()
    symbols = [f"M{tag}{i}" for i in range(3)]
    tape = sim_trades(SimMarket(symbols, seed=16, trades_per_s=10, quote_every=0,
                                depth_every=0), START_NS, TAPE_S)
    bad = malformed_records(tape, rng)
    is_bad = np.zeros(len(tape) + len(bad), dtype=bool)
    is_bad[rng.choice(len(is_bad), len(bad), replace=False)] = True
    good_left, bad_left = iter(tape), iter(bad)
    stream: list[Trade | Malformed] = [next(bad_left) if b else next(good_left) for b in is_bad]
    records = [(_pick(rng, symbols), r.value) if isinstance(r, Malformed)
               else (r.symbol, codec.encode(r)) for r in stream]
    bars = expected_bars(tape)
    columns, _ = codec.decode_columns("Trade", [codec.encode(t) for t in tape])
    params = apply_overrides(EngineParams(), [f"vpin.{k}={v}" for k, v in VPIN.items()])
    readings = run_replay([Source("market.trades", columns)], [VpinEngine], params)
    expected_readings = {_reading_key(r): _without_ts_init(r)
                         for r in readings.rows("logic.vpin")}
    app_id = f"test-malformed-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id)
    landed = produce(kafka_brokers, records)
    sent_bad = {at: r for at, r in zip(landed, stream, strict=True) if isinstance(r, Malformed)}
    ours = set(landed)
    observed: dict = {}
    env = {**services_env, **{f"NAUTILUS_VPIN__{k.upper()}": v for k, v in VPIN.items()}}

    # Act: one worker reads it all
    with worker(env, app_id, tmp_path / "worker.log", engines="bars,vpin") as proc:
        worker_id = f"{socket.gethostname()}:{proc.pid}"

        def health() -> dict[str, dict]:
            reports = read_topic(kafka_brokers, "logic.engine.health",
                                 lambda r: r["worker"] == worker_id)
            return {r["engine"]: r for r in reports}  # the newest per engine

        def done() -> bool:
            assert proc.poll() is None, f"the worker stopped (exit code {proc.returncode})"
            newest = health()
            return (
                {"bars", "vpin"} <= newest.keys()
                and all(newest[e]["dead_letters"] >= MALFORMED for e in ("bars", "vpin"))
                and len(_bars(kafka_brokers, symbols)) >= len(bars)
                and _readings(kafka_brokers, symbols).keys() >= expected_readings.keys()
            )

        def every_letter_counted() -> bool:
            # a letter is counted when made, and on the log once acked
            observed["letters"] = read_topic(
                kafka_brokers, "logic.deadletter",
                lambda r: r["source_topic"] == "market.trades"
                and (r["source_partition"], r["source_offset"]) in ours,
            )
            observed["health"] = health()
            return _counted(observed["health"]) == len(observed["letters"])

        wait_for(done, 120, "every bar, every VPIN reading and 10,000 dead letters per engine",
                 interval_s=1.0)
        wait_for(every_letter_counted, 30, "health counting every dead letter", interval_s=1.0)
        assert proc.poll() is None, "the worker stopped"
    letters, final = observed["letters"], observed["health"]

    # Assert: exactly the malformed records are dead-lettered, each once per engine reading
    # the topic (more only if a batch was re-delivered), with its bytes and its reason
    per_record = Counter((r["source_partition"], r["source_offset"]) for r in letters)
    assert per_record.keys() == sent_bad.keys()
    assert min(per_record.values()) >= 2
    wrong = []
    for letter in letters:
        record = sent_bad[(letter["source_partition"], letter["source_offset"])]
        kept = base64.b64decode(letter["value_b64"])
        if kept != record.value[:DEAD_LETTER_VALUE_BYTES] or record.reason not in letter["reason"]:
            wrong.append((record.kind, record.reason, letter["reason"][:200]))
        if len(record.value) > DEAD_LETTER_VALUE_BYTES:
            assert letter["reason"].endswith(f"value cut to its first {DEAD_LETTER_VALUE_BYTES:,} "
                                             f"of {len(record.value):,} bytes")
    assert not wrong, wrong[:10]
    # ... the valid trades made exactly their bars and VPIN readings ...
    seen = _bars(kafka_brokers, symbols)
    assert seen.keys() == bars.keys()
    for key, bar in bars.items():
        got = seen[key]
        assert {name: Decimal(got[name]) for name in ("open", "high", "low", "close")} == {
            name: bar[name] for name in ("open", "high", "low", "close")}, key
        assert (got["volume"], got["trade_count"]) == (bar["volume"], bar["trade_count"]), key
    assert expected_readings and _readings(kafka_brokers, symbols) == expected_readings
    # ... and the worker runs on, counting them
    assert {final[e]["status"] for e in ("bars", "vpin")} == {"running"}
    assert final["bars"]["events_in"] >= len(records)
    kinds = Counter(r.kind for r in sent_bad.values())
    print(f"valid={len(tape)} malformed={len(sent_bad)} letters={len(letters)} "
          f"bars={len(bars)} readings={len(expected_readings)} kinds={dict(kinds)}")


def _counted(newest: dict[str, dict]) -> int:
    return sum(newest[e]["dead_letters"] for e in ("bars", "vpin") if e in newest)


def _bars(brokers: str, symbols: list[str]) -> dict[tuple[str, int], dict]:
    rows = read_topic(brokers, "market.bars.1m", lambda r: r.get("symbol") in symbols)
    return {(r["symbol"], r["start_ns"]): r for r in rows}  # a re-delivered bar is the same


def _readings(brokers: str, symbols: list[str]) -> dict[tuple[str, int], dict]:
    rows = read_topic(brokers, "logic.vpin", lambda r: r.get("symbol") in symbols)
    return {_reading_key(r): _without_ts_init(r) for r in rows}


def _reading_key(reading: dict) -> tuple[str, int]:
    return reading["symbol"], reading["bucket"]


def _without_ts_init(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "ts_init"}
