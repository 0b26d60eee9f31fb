"""Trades written a batch at a time (Arrow frames, CSV COPY straight into the table) give the
rows that record-by-record validation gives, and lose nothing: a row the database refuses is
dead-lettered, a trade twice in one batch is stored once."""

from __future__ import annotations

import uuid

import numpy as np
import orjson
import psycopg
import pytest

from streams import codec, kafka
from streams.schema import DeadLetter
from streams.sink.runner import Sink
from streams.sink.tables import TABLES, Source, Sources
from streams.sink.writer import TableRows, Writer
from tests.factories import T0, event_fields
from tests.streams.sink.conftest import SinkTopics, count, running, wait_for

TOPIC = "market.trades"
TRADES = TABLES["Trade"]


def _records(symbol: str, prices: list[str] | list[int]) -> list[dict]:
    """Valid trades in the shapes the fields the frame maps take (a batch whose records all
    have `unreported`, or none of them: the columnar decode reads its nulls as doubt, as it
    reads a batch with prices as text and as numbers)."""
    base = {"schema_version": 1, "symbol": symbol, "ts_init": T0, "size": 100,
            "unreported": False}
    shapes = [
        {"trade_id": "t-1", "aggressor": "buy"},
        {"trade_id": None, "aggressor": "sell", "venue": "XNAS"},
        {"trade_id": "", "unreported": True, "conditions": "@ T I"},
        {"trade_id": 'x,"y"\n\\.', "venue": "Zürich"},
        {},
    ]
    return [{**base, **shape, "price": price, "ts_event": T0 + 1_999 * i + 7}
            for i, (shape, price) in enumerate(zip(shapes, prices, strict=True))]


def _stored(url: str, rows: TableRows, symbol: str) -> list[tuple]:
    """Write `rows` with the sink's writer; what the table then holds for `symbol` (price as
    its text, scale and all), deleted afterwards."""
    writer = Writer(url)
    try:
        assert writer.write({TRADES: rows}) == {}
    finally:
        writer.close()
    with psycopg.connect(url) as conn:
        stored = conn.execute(
            "SELECT time, symbol, trade_uid, ts_event, ts_init, price::text, size, aggressor,"
            " trade_id, venue, unreported, conditions FROM trades WHERE symbol = %s"
            " ORDER BY trade_uid", (symbol,)).fetchall()
        conn.execute("DELETE FROM trades WHERE symbol = %s", (symbol,))
    return stored


@pytest.mark.parametrize(("prices", "stored"), [
    (["100.50", "0.000000001", "123456789012.123456789", "0099.9900", "7"],
     ["0.000000001", "100.50", "123456789012.123456789", "7", "99.9900"]),
    ([1, 7, 250, 3, 99], ["1", "250", "3", "7", "99"]),
])
def test_a_frame_of_trades_stores_what_record_by_record_validation_stores(
    any_database_url: str, prices: list[str] | list[int], stored: list[str]
) -> None:
    # Arrange
    symbol = f"F{uuid.uuid4().hex[:8].upper()}"
    values = [orjson.dumps(r) for r in _records(symbol, prices)]
    partitions, offsets = np.array([0, 3, 3, 1, 2], np.int32), np.array([5, 0, 1, 9, 10**12])
    records = codec.decode_table("Trade", values)
    assert records is not None

    # Act
    frame = TRADES.frame(records, Sources(TOPIC, partitions, offsets))
    assert frame is not None
    by_frame = _stored(any_database_url, TableRows([frame]), symbol)
    by_record = _stored(any_database_url, TableRows([[
        TRADES.row(codec.decode("Trade", v), Source(TOPIC, int(p), int(o)))
        for v, p, o in zip(values, partitions, offsets, strict=True)]]), symbol)

    # Assert
    assert by_frame == by_record
    assert [r[2] for r in by_frame] == [f"{TOPIC}/2/{10**12}", f"{TOPIC}/3/0", f"{TOPIC}/3/1",
                                        "t-1", 'x,"y"\n\\.']
    assert sorted(r[5] for r in by_frame) == stored  # as written, trailing zeros and all


def test_a_price_written_with_an_exponent_is_left_to_record_by_record_validation() -> None:
    values = [orjson.dumps({**event_fields("Trade"), "price": p}) for p in ("1.5E+2", "150")]
    records = codec.decode_table("Trade", values)
    assert records is not None  # valid: only the frame cannot tell its decimal exactly
    assert TRADES.frame(records, Sources(TOPIC, np.zeros(2, np.int32), np.arange(2))) is None


def test_a_frame_loses_no_trade_the_database_refuses_and_stores_a_repeated_one_once(
    sink_topics: SinkTopics, sink_database: str
) -> None:
    # Arrange: valid on the wire, all of them; PostgreSQL's text cannot hold a NUL character
    symbol = f"F{uuid.uuid4().hex[:8].upper()}"
    fields = event_fields("Trade", symbol=symbol)
    for i in range(20):
        sink_topics.produce_raw("Trade", orjson.dumps({**fields, "trade_id": f"t-{i}"}))
    sink_topics.produce_raw("Trade", orjson.dumps({**fields, "trade_id": "t-3"}))  # again
    sink_topics.produce_raw("Trade", orjson.dumps({**fields, "trade_id": "nul\x00"}))
    sink_topics.flush()

    # Act
    with running(Sink(sink_topics.config(sink_database), sink_topics.routes)) as sink:
        wait_for(lambda: sink.health.counters.events_in == 22, "22 records read")

    # Assert
    letters = [DeadLetter.model_validate_json(v)
               for _, _, _, v in kafka.read_all(sink_topics.brokers, sink_topics.dead_letters)]
    assert [(d.source_offset, d.reason.startswith("database refused the row")) for d in letters
            ] == [(21, True)]
    assert count(sink_database, "trades", "symbol = %s", (symbol,)) == 20
