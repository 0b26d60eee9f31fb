"""The wire codec: JSON round trips, the columnar fast path, rejected rows and dead letters."""

from __future__ import annotations

import base64
import math
from decimal import Decimal

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import StrictInt

from streams.codec import (
    CHUNK_ROWS,
    DEAD_LETTER_KEY_BYTES,
    DEAD_LETTER_VALUE_BYTES,
    PIECE_ROWS,
    Rejected,
    dead_letter,
    decode,
    decode_columns,
    encode,
)
from streams.columnar import arrow_columns, arrow_rows
from streams.exceptions import DecodeError
from streams.ndjson import MAX_OPENINGS_PER_RECORD
from streams.schema import MODELS, DeadLetter, Event, Trade
from streams.schema.base import SYMBOL_PATTERN
from streams.schema.columns import LAYOUTS, layout_of
from tests.factories import T0, columns, event, event_fields, tape, trade, trade_columns

INT64_MAX = 2**63 - 1


def _raw(model_name: str, **overrides: object) -> bytes:
    return orjson.dumps(event_fields(model_name) | overrides)


# ---- encode / decode -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_encode_decode_round_trip(name: str) -> None:
    # Arrange
    original = event(name)

    # Act
    raw = encode(original)
    back = decode(name, raw)

    # Assert
    assert isinstance(raw, bytes)
    assert type(back) is MODELS[name]
    assert back == original
    assert encode(back) == raw


def test_encoded_trade_is_readable_json_with_decimal_string_price() -> None:
    doc = orjson.loads(encode(trade(price="101.01", ts_event=T0)))

    assert doc["price"] == "101.01"
    assert doc["ts_event"] == T0
    assert doc["schema_version"] == 1


def test_decode_unknown_model_raises() -> None:
    with pytest.raises(DecodeError, match="unknown value model 'Tradez'"):
        decode("Tradez", encode(trade()))


@pytest.mark.parametrize(
    ("name", "raw", "reason"),
    [
        ("Trade", b"{not json", "invalid JSON"),
        ("Trade", _raw("Trade", size=-5), "size"),
        ("Trade", _raw("Trade", ts_event=1.5), "ts_event"),
        ("Trade", _raw("Trade", schema_version=2), "schema_version 2 is newer"),
        ("Quote", _raw("Quote", bid_price="2", ask_price="1"), "crossed quote"),
    ],
)
def test_decode_invalid_raises_decode_error_with_reason(name: str, raw: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(name, raw)


# ---- decode_columns: good rows ---------------------------------------------------------


def test_decode_columns_trades_dtypes_and_values() -> None:
    # Arrange
    trades = [
        trade(ts_event=T0, ts_init=T0 + 5, symbol="AAPL", price="101.01", size=100,
              aggressor="buy"),
        trade(ts_event=T0 + 1, ts_init=T0 + 6, symbol="MSFT", price="330.5", size=7,
              aggressor="sell"),
        trade(ts_event=T0 + 2, ts_init=T0 + 7, symbol="AAPL", price="101", size=1,
              aggressor=None, unreported=True, conditions="I"),
    ]

    # Act
    cols, rejected = decode_columns("Trade", [encode(t) for t in trades])

    # Assert
    assert rejected == []
    assert {k: v.dtype for k, v in cols.items()} == {
        "ts_event": np.int64, "ts_init": np.int64, "symbol": np.dtype(object),
        "price": np.float64, "price_scale": np.int8, "size": np.int64, "aggressor": np.int8,
        "unreported": np.bool_,
    }
    assert cols["unreported"].tolist() == [False, False, True]
    assert cols["ts_event"].tolist() == [T0, T0 + 1, T0 + 2]
    assert cols["ts_init"].tolist() == [T0 + 5, T0 + 6, T0 + 7]
    assert cols["symbol"].tolist() == ["AAPL", "MSFT", "AAPL"]
    assert cols["price"].tolist() == pytest.approx([101.01, 330.5, 101.0])
    assert cols["price_scale"].tolist() == [2, 1, 0]  # decimals of "101.01", "330.5", "101"
    assert cols["size"].tolist() == [100, 7, 1]
    assert cols["aggressor"].tolist() == [1, -1, 0]


def test_trades_written_before_the_unreported_flag_decode_as_regular_trades() -> None:
    old = {k: v for k, v in event_fields("Trade").items() if k not in ("unreported",
                                                                        "conditions")}
    values = [orjson.dumps(old), orjson.dumps({**old, "ts_event": T0 + 9})]

    fast, rejected = decode_columns("Trade", values)
    by_row, bad = decode_columns("Trade", [*values, b"{}"])  # a bad row: the per-row path

    assert rejected == [] and fast["unreported"].tolist() == [False, False]
    assert len(bad) == 1 and by_row["unreported"].tolist() == [False, False]
    assert decode("Trade", values[0]).unreported is False  # type: ignore[attr-defined]


def test_a_batch_with_sides_left_null_takes_the_columnar_path() -> None:
    # IB's trades carry no aggressor: such a batch took the per-row path every time
    values = [orjson.dumps(event_fields("Trade", aggressor=side)) for side in ("buy", None)]

    fast = arrow_columns(LAYOUTS["Trade"], values)

    assert fast is not None and fast["aggressor"].tolist() == [1, 0]
    assert arrow_columns(LAYOUTS["Trade"], [orjson.dumps(
        {**event_fields("Trade"), "aggressor": "hold"}), values[1]]) is None


def test_trade_columns_factory_matches_decode_columns() -> None:
    trades = tape((T0, "AAPL", "101.01", 3), (T0 + 9, "MSFT", "0.0001", 2))

    expected, _ = decode_columns("Trade", [encode(t) for t in trades])
    built = trade_columns(trades)

    assert built.keys() == expected.keys()
    for name, column in expected.items():
        assert built[name].dtype == column.dtype, name
        assert built[name].tolist() == column.tolist(), name


@pytest.mark.parametrize(("prices", "scales"), [
    pytest.param(["5012.50", "99", "0.0001", "1.25E-7", "2E+3", "0.1234567891"],
                 [2, 0, 4, 9, 0, 9], id="texts"),  # more than 9 decimals: capped at 9
    pytest.param([99, 330.5, 0.25], [0, 1, 2], id="json-numbers"),
])
def test_price_scale_is_the_decimals_a_price_was_written_with(
    prices: list[object], scales: list[int]
) -> None:
    batch = [orjson.dumps({**event_fields("Trade"), "price": p}) for p in prices]

    whole, _ = decode_columns("Trade", batch)  # one batch: Arrow's columnar path when it can
    each = [decode_columns("Trade", [raw])[0]["price_scale"][0] for raw in batch]

    assert whole["price_scale"].tolist() == scales and each == scales


def test_decode_columns_quotes_dtypes_and_values() -> None:
    raws = [
        _raw("Quote", ts_event=T0, bid_price="101.00", bid_size=300, ask_price="101.02",
             ask_size=0),
        _raw("Quote", ts_event=T0 + 1, symbol="MSFT", bid_price="330", bid_size=1,
             ask_price="330", ask_size=2),
    ]

    cols, rejected = decode_columns("Quote", raws)

    assert rejected == []
    assert {k: v.dtype for k, v in cols.items()} == {
        "ts_event": np.int64, "ts_init": np.int64, "symbol": np.dtype(object),
        "bid_price": np.float64, "bid_size": np.int64,
        "ask_price": np.float64, "ask_size": np.int64,
    }
    assert cols["ts_event"].tolist() == [T0, T0 + 1]
    assert cols["symbol"].tolist() == ["AAPL", "MSFT"]
    assert cols["bid_price"].tolist() == pytest.approx([101.00, 330.0])
    assert cols["ask_price"].tolist() == pytest.approx([101.02, 330.0])
    assert cols["bid_size"].tolist() == [300, 1]
    assert cols["ask_size"].tolist() == [0, 2]


def test_decode_columns_depth_pads_missing_levels_with_nan_and_zero() -> None:
    # Arrange: 3 bid levels and 2 ask levels in the first row, an empty book in the second.
    raws = [
        _raw("DepthSnapshot", ts_event=T0),
        _raw("DepthSnapshot", ts_event=T0 + 1, bid_prices=[], bid_sizes=[], ask_prices=[],
             ask_sizes=[]),
    ]

    # Act
    cols, rejected = decode_columns("DepthSnapshot", raws)

    # Assert
    assert rejected == []
    assert cols["ts_event"].dtype == np.int64 and cols["ts_event"].tolist() == [T0, T0 + 1]
    assert cols["symbol"].dtype == object
    for side in ("bid", "ask"):
        assert cols[f"{side}_price"].shape == (2, 10) and cols[f"{side}_price"].dtype == np.float64
        assert cols[f"{side}_size"].shape == (2, 10) and cols[f"{side}_size"].dtype == np.int64
    assert cols["bid_price"][0, :3].tolist() == pytest.approx([101.00, 100.99, 100.98])
    assert np.isnan(cols["bid_price"][0, 3:]).all()
    assert cols["bid_size"][0].tolist() == [300, 200, 100] + [0] * 7
    assert cols["ask_price"][0, :2].tolist() == pytest.approx([101.02, 101.03])
    assert np.isnan(cols["ask_price"][0, 2:]).all()
    assert cols["ask_size"][0].tolist() == [200, 400] + [0] * 8
    assert np.isnan(cols["bid_price"][1]).all() and np.isnan(cols["ask_price"][1]).all()
    assert cols["bid_size"][1].tolist() == [0] * 10


@pytest.mark.parametrize("name", ["Trade", "Quote", "DepthSnapshot"])
def test_decode_columns_of_nothing_gives_empty_typed_columns(name: str) -> None:
    cols, rejected = decode_columns(name, [])

    assert rejected == []
    assert all(len(col) == 0 for col in cols.values())
    assert cols["ts_event"].dtype == np.int64


def test_decode_columns_reads_every_model_and_names_bad_rows() -> None:
    bar = (b'{"ts_event":60000000000,"ts_init":1,"bar_id":"AAA@1m@0","symbol":"AAA",'
           b'"start_ns":0,"open":"10.5","high":"11","low":"10","close":"10.25","volume":7,'
           b'"trade_count":2,"vwap":"10.5"}')
    columns, rejected = decode_columns("Bar", [bar, b'{"ts_event":1}'])
    assert columns["close"].tolist() == [10.25] and columns["volume"].dtype == np.int64
    assert columns["symbol"].tolist() == ["AAA"]
    assert [r.index for r in rejected] == [1] and "ts_init" in rejected[0].reason
    with pytest.raises(DecodeError, match="unknown value model"):
        decode_columns("Nope", [])


# ---- decode_columns: bad rows ----------------------------------------------------------

BAD_TRADES = [
    pytest.param(b"{not json", "invalid JSON", id="invalid-json"),
    pytest.param(orjson.dumps({k: v for k, v in event_fields("Trade").items() if k != "price"}),
                 "missing field 'price'", id="missing-field"),
    pytest.param(_raw("Trade", size="100"), "size must be a positive integer", id="wrong-type"),
    pytest.param(_raw("Trade", size=-5), "size must be a positive integer", id="negative-size"),
    pytest.param(_raw("Trade", size=0), "size must be a positive integer", id="zero-size"),
    pytest.param(_raw("Trade", ts_event=1.7e18), "ts_event must be a non-negative integer (ns)",
                 id="float-ts"),
    pytest.param(_raw("Trade", ts_event=True), "ts_event must be a non-negative integer (ns)",
                 id="bool-ts"),
    pytest.param(_raw("Trade", schema_version=2), "schema_version 2 is newer",
                 id="newer-version"),
    pytest.param(orjson.dumps([event_fields("Trade")]), "not a JSON object", id="json-array"),
    pytest.param(_raw("Trade", price="NaN"),
                 "price must be a positive finite decimal string or number", id="nan-price"),
    pytest.param(_raw("Trade", price="abc"), "abc", id="garbage-price"),
    pytest.param(_raw("Trade", aggressor="up"), "aggressor must be buy, sell or null",
                 id="bad-aggressor"),
    pytest.param(_raw("Trade", symbol=""), "symbol must be text matching", id="empty-symbol"),
    pytest.param(_raw("Trade", unreported=1), "unreported must be true or false",
                 id="int-unreported"),
    pytest.param(_raw("Trade", price="-1.5"), "price must be a positive", id="negative-price"),
    pytest.param(_raw("Trade", price=0), "price must be a positive", id="zero-price"),
    pytest.param(_raw("Trade", price="1e400"), "beyond the range of a float64",
                 id="price-beyond-float64"),
    pytest.param(_raw("Trade", price="1e-400"), "0 as a float64", id="price-below-float64"),
    pytest.param(_raw("Trade", size=1).replace(b'"size":1,', b'"size":18446744073709551616,'),
                 "size must be a positive integer within int64", id="size-beyond-int64"),
    pytest.param(_raw("Trade", trade_id=5), "trade_id must be text", id="int-trade-id"),
    pytest.param(_raw("Trade", venue="V" * 65), "venue must be text of at most 64 characters",
                 id="long-venue"),
    pytest.param(_raw("Trade", colour="red"), "unknown field 'colour'", id="unknown-field"),
    pytest.param(_raw("Trade").replace(b"AAPL", b"AA\xff"), "invalid JSON", id="not-utf8"),
]


@pytest.mark.parametrize(("bad", "reason"), BAD_TRADES)
def test_bad_trade_row_is_rejected_and_good_rows_survive(bad: bytes, reason: str) -> None:
    # Arrange
    good = [encode(trade(ts_event=T0 + i, size=10 + i)) for i in range(3)]
    batch = [good[0], bad, good[1], good[2]]

    # Act
    cols, rejected = decode_columns("Trade", batch)

    # Assert
    assert len(rejected) == 1
    assert isinstance(rejected[0], Rejected)
    assert rejected[0].index == 1
    assert reason in rejected[0].reason
    assert cols["ts_event"].tolist() == [T0, T0 + 1, T0 + 2]
    assert cols["size"].tolist() == [10, 11, 12]


@pytest.mark.parametrize(("bad", "reason"), BAD_TRADES)
def test_bad_trade_row_is_also_rejected_by_the_model(bad: bytes, reason: str) -> None:
    with pytest.raises(DecodeError):
        decode("Trade", bad)


def test_crossed_quote_row_is_rejected() -> None:
    batch = [_raw("Quote"), _raw("Quote", bid_price="101.05", ask_price="101.02")]

    cols, rejected = decode_columns("Quote", batch)

    assert rejected == [Rejected(1, "crossed quote: bid 101.05 > ask 101.02")]
    assert len(cols["ts_event"]) == 1


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"ask_prices": ["100.99", "101.03"]}, "crossed book"),
        ({"bid_prices": ["100.98", "100.99", "101.00"]}, "bid_prices must strictly decrease"),
        ({"ask_prices": ["101.03", "101.02"]}, "ask_prices must strictly increase"),
        ({"bid_sizes": [1, 2]}, "bid_prices and bid_sizes differ in length"),
        ({"ask_prices": "101.02"}, "ask_prices must be a list of up to 10 prices"),
        ({"bid_sizes": [300, -1, 100]}, "must be a non-negative integer"),
    ],
)
def test_bad_depth_row_is_rejected(overrides: dict[str, object], reason: str) -> None:
    batch = [_raw("DepthSnapshot", **overrides), _raw("DepthSnapshot")]

    cols, rejected = decode_columns("DepthSnapshot", batch)

    assert [r.index for r in rejected] == [0]
    assert reason in rejected[0].reason
    assert cols["bid_price"].shape == (1, 10)


def test_several_bad_rows_keep_their_own_indices() -> None:
    batch = [b"[]", _raw("Trade"), b"", _raw("Trade", size=-1), _raw("Trade")]

    cols, rejected = decode_columns("Trade", batch)

    assert [r.index for r in rejected] == [0, 2, 3]
    assert len(cols["size"]) == 2


def test_all_rows_bad_gives_empty_columns() -> None:
    cols, rejected = decode_columns("Trade", [b"null", b"1"])

    assert [r.index for r in rejected] == [0, 1]
    assert cols["price"].dtype == np.float64 and len(cols["price"]) == 0


def test_ts_beyond_int64_is_rejected_not_raised() -> None:
    # SOURCE BUG: `_ns` accepts any non-negative int, and orjson parses up to 2**64-1, so a
    # ts_event of 2**63 passes the row check and then np.array(..., dtype=int64) raises
    # OverflowError for the whole batch: one bad record stops the worker.
    batch = [_raw("Trade"), _raw("Trade", ts_event=INT64_MAX + 1)]

    cols, rejected = decode_columns("Trade", batch)

    assert [r.index for r in rejected] == [1]
    assert len(cols["ts_event"]) == 1


def test_symbol_rejected_by_the_model_is_rejected_by_columns() -> None:
    # SOURCE BUG (minor): codec._symbol checks only the length, not the model's pattern, so
    # the fast path lets through symbols (spaces, newlines) the Trade model refuses.
    raw = _raw("Trade", symbol="AAPL US")
    with pytest.raises(DecodeError):
        decode("Trade", raw)

    _, rejected = decode_columns("Trade", [raw])

    assert [r.index for r in rejected] == [0]


# ---- dead letters ----------------------------------------------------------------------


def test_dead_letter_keeps_original_bytes_and_source() -> None:
    # Arrange
    value = b'{"price": "\xff not utf-8'
    key = b"AAPL"

    # Act
    dl = dead_letter(topic="market.trades", partition=3, offset=1234, key=key, value=value,
                     reason="invalid JSON", ts_event=T0, ts_init=T0 + 1)
    back = decode("DeadLetter", encode(dl))

    # Assert
    assert isinstance(back, DeadLetter)
    assert (back.source_topic, back.source_partition, back.source_offset) == (
        "market.trades", 3, 1234,
    )
    assert back.reason == "invalid JSON"
    assert base64.b64decode(back.value_b64) == value
    assert base64.b64decode(back.key_b64 or "") == key
    assert (back.ts_event, back.ts_init) == (T0, T0 + 1)


def test_dead_letter_without_key_or_value() -> None:
    dl = dead_letter(topic="market.trades", partition=0, offset=0, key=None, value=None,
                     reason="empty", ts_event=0, ts_init=0)

    assert dl.key_b64 is None
    assert base64.b64decode(dl.value_b64) == b""


def test_dead_letter_truncates_long_reason() -> None:
    dl = dead_letter(topic="market.trades", partition=0, offset=0, key=None, value=b"x",
                     reason="r" * 5000, ts_event=0, ts_init=0)

    assert len(dl.reason) == 1000


def test_dead_letter_of_a_record_too_big_for_one_keeps_its_start_and_says_so() -> None:
    # A letter must fit in one record of the log (about 1 MB; base64 takes 4/3 of the bytes)
    key, value = b"K" * 5_000, b'{"symbol": "' + b"A" * 900_000 + b'"}'

    dl = dead_letter(topic="market.trades", partition=0, offset=7, key=key, value=value,
                     reason="r" * 5000, ts_event=0, ts_init=0)

    assert base64.b64decode(dl.value_b64) == value[:DEAD_LETTER_VALUE_BYTES]
    assert base64.b64decode(dl.key_b64 or "") == key[:DEAD_LETTER_KEY_BYTES]
    assert dl.reason.endswith(f"; key cut to its first 1,024 of 5,000 bytes; value cut to its "
                              f"first 262,144 of {len(value):,} bytes")
    assert dl.reason.startswith("rrr") and len(dl.reason) == 1000
    assert len(encode(dl)) < 400_000


def test_rejected_row_becomes_a_dead_letter_with_its_reason() -> None:
    batch = [_raw("Trade"), b"{oops"]
    _, rejected = decode_columns("Trade", batch)

    dl = dead_letter(topic="market.trades", partition=1, offset=100 + rejected[0].index,
                     key=None, value=batch[rejected[0].index], reason=rejected[0].reason,
                     ts_event=T0, ts_init=T0)

    assert base64.b64decode(dl.value_b64) == b"{oops"
    assert dl.source_offset == 101
    assert dl.reason.startswith("invalid JSON")


# ---- property: the fast path reproduces what the models carry --------------------------

symbols = st.from_regex(SYMBOL_PATTERN, fullmatch=True)
prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("1000000"), places=4,
                     allow_nan=False, allow_infinity=False)
trades = st.builds(
    Trade,
    ts_event=st.integers(0, INT64_MAX),
    ts_init=st.integers(0, INT64_MAX),
    symbol=symbols,
    price=prices,
    size=st.integers(1, INT64_MAX),
    aggressor=st.sampled_from(["buy", "sell", None]),
    unreported=st.booleans(),
)


@settings(deadline=None)
@given(st.lists(trades, max_size=30))
def test_decode_columns_reproduces_trade_fields(batch: list[Trade]) -> None:
    cols, rejected = decode_columns("Trade", [encode(t) for t in batch])

    assert rejected == []
    assert cols["ts_event"].tolist() == [t.ts_event for t in batch]
    assert cols["ts_init"].tolist() == [t.ts_init for t in batch]
    assert cols["symbol"].tolist() == [t.symbol for t in batch]
    assert cols["size"].tolist() == [t.size for t in batch]
    assert cols["aggressor"].tolist() == [{"buy": 1, "sell": -1, None: 0}[t.aggressor]
                                          for t in batch]
    assert cols["unreported"].tolist() == [t.unreported for t in batch]
    assert all(math.isfinite(p) for p in cols["price"])
    assert cols["price"].tolist() == [float(t.price) for t in batch]


def test_decode_columns_of_a_batch_larger_than_one_parse_block_keeps_every_row_in_order() -> None:
    # Arrow parses in 1 MiB blocks, so a batch this size arrives as several chunks; symbols
    # are dictionary-encoded across all of them and must still line up with their rows.
    batch = [
        Trade(ts_event=i, ts_init=i, symbol=f"SYM{i * 7919 % 113}", price=Decimal(100 + i % 50),
              size=1 + i % 9, aggressor=None)
        for i in range(30_000)
    ]
    values = [encode(t) for t in batch]
    assert sum(map(len, values)) > 2 * 2**20

    cols, rejected = decode_columns("Trade", values)

    assert rejected == []
    assert cols["symbol"].tolist() == [t.symbol for t in batch]
    assert cols["ts_event"].tolist() == list(range(30_000))
    assert cols["price"].tolist() == [float(t.price) for t in batch]


# ---- every model: one layout, the Arrow fast path, the same columns per row ----------------

FAST_PATH_MODELS = {
    # model: (overrides of the second record, a bad record's overrides, its reason, columns)
    "Bar": ({"symbol": "MSFT", "close": "330.5", "volume": 7},
            {"volume": 0}, "volume must be a positive integer, got 0",
            {"close": [101.25, 330.5], "volume": [1_000, 7], "symbol": ["AAPL", "MSFT"],
             "interval": ["1m", "1m"]}),
    "Execution": ({"side": "sell", "price": "99.5", "quantity": 3},
                  {"side": "hold"}, "side must be buy or sell, got 'hold'",
                  {"side": [1, -1], "price": [101.01, 99.5], "quantity": [10, 3],
                   "commission": [0.35, 0.35], "venue": [None, None]}),
    "Order": ({"order_type": "market", "limit_price": None, "side": "buy"},
              {"order_type": "stop"}, "order_type must be one of 'market', 'limit', got 'stop'",
              {"side": [-1, 1], "order_type": ["limit", "market"], "quantity": [10, 10]}),
    "FeatureVector": ({"values": {"ret_1m": -0.5}},
                      {"values": {"ret_1m": "up"}},
                      "values[ret_1m]: Input should be a valid number",
                      {"values": [{"ret_1m": 0.001, "vol_5m": 0.02}, {"ret_1m": -0.5}]}),
    "VpinReading": ({"vpin": None, "vpin_cdf": None, "bucket": 8},
                    {"bucket": "7"}, "bucket must be an integer, got '7'",
                    {"bucket": [7, 8], "buy_volume": [6_000.0, 6_000.0]}),
}
DTYPES = {"side": np.int8, "quantity": np.int64, "price": np.float64, "commission": np.float64,
          "volume": np.int64, "close": np.float64, "bucket": np.int64, "vpin": np.float64,
          "limit_price": np.float64, "symbol": np.dtype(object), "values": np.dtype(object)}


@pytest.mark.parametrize("name", sorted(FAST_PATH_MODELS))
def test_model_batch_decodes_on_the_fast_path_with_its_columns(name: str) -> None:
    # Arrange
    second, _, _, expected = FAST_PATH_MODELS[name]
    values = [_raw(name), _raw(name, **second)]

    # Act
    fast = arrow_columns(LAYOUTS[name], values)
    columns, rejected = decode_columns(name, values)

    # Assert
    assert fast is not None and rejected == []
    assert list(columns) == [c.name for c in LAYOUTS[name].columns]
    assert "schema_version" not in columns
    for column, cells in expected.items():
        assert columns[column].tolist() == cells, column
    for column, dtype in DTYPES.items():
        if column in columns:
            assert columns[column].dtype == dtype, column


@pytest.mark.parametrize("name", sorted(FAST_PATH_MODELS))
def test_bad_row_of_a_model_batch_is_named_and_the_rest_decode_as_on_the_fast_path(
    name: str,
) -> None:
    second, bad, reason, _ = FAST_PATH_MODELS[name]
    good = [_raw(name), _raw(name, **second)]

    fast, _ = decode_columns(name, good)
    by_row, rejected = decode_columns(name, [good[0], _raw(name, **bad), good[1]])

    assert [r.index for r in rejected] == [1]
    assert reason in rejected[0].reason
    assert by_row.keys() == fast.keys()
    for column, cells in fast.items():
        assert by_row[column].dtype == cells.dtype, column
        np.testing.assert_array_equal(by_row[column], cells, err_msg=column)


def test_order_limit_price_is_nan_for_a_market_order() -> None:
    values = [_raw("Order", order_type="market", limit_price=None), _raw("Order")]

    columns, _ = decode_columns("Order", values)

    assert math.isnan(columns["limit_price"][0]) and columns["limit_price"][1] == 101.05


def test_an_int_field_not_bounded_to_int64_cannot_be_laid_out_as_a_column() -> None:
    # Its column is int64: a bigger value would pass the model and fail its whole batch.
    class Unbounded(Event):
        count: StrictInt

    with pytest.raises(TypeError, match="count: an int column is int64"):
        layout_of(Unbounded)


def test_a_bad_value_is_shown_cut_short_in_its_reason() -> None:
    _, rejected = decode_columns("Trade", [_raw("Trade", symbol="A" * 900_000)])

    assert rejected[0].reason == (f"symbol must be text matching {SYMBOL_PATTERN}, got '"
                                  + "A" * 79 + "... (900,002 characters)")


def test_non_ascii_text_keeps_the_fast_path() -> None:
    values = [_raw("Trade", venue="Zürich Börse"), _raw("Trade")]

    assert arrow_columns(LAYOUTS["Trade"], values) is not None


def test_a_record_nested_100k_deep_is_rejected_and_the_process_lives() -> None:
    # Arrow's JSON reader recursed into it and overflowed the stack: a segfault, the worker
    # gone. (First in its batch: after a record that typed the field, Arrow stops early.)
    deep = b'{"extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    cols, rejected = decode_columns("Trade", [deep, _raw("Trade")])

    assert [r.index for r in rejected] == [0]
    assert rejected[0].reason.startswith("invalid JSON: recursion limit exceeded")
    assert len(cols["ts_event"]) == 1


def test_a_record_with_many_brackets_takes_the_per_row_path_and_decodes() -> None:
    # Arrow's parser recurses: what could be nested deep (more `[`/`{` than the limit, in
    # strings too) never reaches it. A record of many shallow lists is only slower.
    lists = {"runs": [[] for _ in range(MAX_OPENINGS_PER_RECORD)]}
    values = [_raw("EngineHealth", params=lists), _raw("EngineHealth")]

    fast = arrow_columns(LAYOUTS["EngineHealth"], values)
    cols, rejected = decode_columns("EngineHealth", values)

    assert fast is None and rejected == []
    assert cols["params"][0] == lists


def test_every_catalog_model_may_take_the_fast_path() -> None:
    # A model validator without a vectorised twin in BATCH_CHECKS sends every batch per row.
    assert [name for name, layout in LAYOUTS.items() if not layout.columnar] == []


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_decodes_the_same_on_both_paths(name: str) -> None:
    values = [encode(event(name)), encode(event(name, ts_event=T0 + 5))]

    fast, _ = decode_columns(name, values)
    by_row, rejected = decode_columns(name, [*values, b"{}"])
    built = columns(name, [event(name), event(name, ts_event=T0 + 5)])

    assert len(rejected) == 1
    for column, cells in fast.items():
        np.testing.assert_array_equal(by_row[column], cells, err_msg=column)
        np.testing.assert_array_equal(built[column], cells, err_msg=column)
        assert by_row[column].dtype == built[column].dtype == cells.dtype, column


def test_bad_rows_in_a_large_batch_are_rejected_and_every_other_row_keeps_its_place() -> None:
    # Three parse blocks: the reader's message cannot place the bad JSON, so the batch is
    # read again a chunk at a time, and the chunk places it.
    values = [encode(trade(ts_event=T0 + i, size=1 + i % 7)) for i in range(3 * CHUNK_ROWS)]
    bad = {CHUNK_ROWS + 5: _raw("Trade", size=0), 2 * CHUNK_ROWS + 9: _raw("Trade") + b" }"}
    for i, raw in bad.items():
        values[i] = raw

    cols, rejected = decode_columns("Trade", values)

    assert [r.index for r in rejected] == sorted(bad)
    assert "size must be a positive integer" in rejected[0].reason
    assert rejected[1].reason.startswith("invalid JSON")
    kept = [i for i in range(3 * CHUNK_ROWS) if i not in bad]
    assert cols["ts_event"].tolist() == [T0 + i for i in kept]
    assert cols["size"].tolist() == [1 + i % 7 for i in kept]


# Kinds of BAD_TRADES that stop Arrow's reader (a field changes type): each costs the batch
# one more read, and after MAX_READS the whole batch goes per row.
STOP_THE_READER = {"wrong-type", "bool-ts", "int-unreported", "zero-price", "int-trade-id"}


def _mixed_trades(seed: int, n_good: int, bad: list[bytes]) -> tuple[list[bytes], list[int]]:
    """n_good valid trades with the `bad` records mixed in at random places; the batch and
    where the bad ones are."""
    rng = np.random.default_rng(seed)
    values = [encode(trade(ts_event=T0 + i, size=1 + i % 9,
                           price=Decimal(f"{100 + i % 13}.{i % 100:02d}")))
              for i in range(n_good)]
    for raw in bad:
        values.insert(int(rng.integers(len(values) + 1)), raw)
    return values, [i for i, v in enumerate(values) if v in bad]


# Three times each kind the fast path places (one that stops the reader among them)
PLACED = [p.values[0] for p in BAD_TRADES if p.id not in STOP_THE_READER - {"zero-price"}] * 3
# Twice each kind: more stops of the reader than MAX_READS, so the batch goes per row
EVERY_KIND_TWICE = [p.values[0] for p in BAD_TRADES] * 2


def test_only_the_bad_records_of_a_batch_leave_the_fast_path() -> None:
    values, at = _mixed_trades(seed=7, n_good=500, bad=PLACED)

    decoded = arrow_rows(LAYOUTS["Trade"], values)

    assert decoded is not None
    assert decoded[1].tolist() == at
    assert len(decoded[0]["ts_event"]) == len(values) - len(at)


def test_a_bad_first_record_that_types_a_field_keeps_the_rest_on_the_fast_path() -> None:
    # Arrow reads the numeric price first and stops at the next record's text
    values = [_raw("Trade", price=0)] + [_raw("Trade", ts_event=T0 + i) for i in range(40)]

    decoded = arrow_rows(LAYOUTS["Trade"], values)
    cols, rejected = decode_columns("Trade", values)

    assert decoded is not None and len(decoded[0]["ts_event"]) >= 39
    assert [r.index for r in rejected] == [0]
    assert cols["ts_event"].tolist() == [T0 + i for i in range(40)]


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("bad", [PLACED, EVERY_KIND_TWICE], ids=["placed", "every-kind"])
def test_a_batch_with_bad_records_decodes_as_each_record_does_alone(
    seed: int, bad: list[bytes]
) -> None:
    values, at = _mixed_trades(seed, n_good=300, bad=bad)

    cols, rejected = decode_columns("Trade", values)

    reasons = {}
    for i in at:
        with pytest.raises(DecodeError) as error:
            decode("Trade", values[i])
        reasons[i] = str(error.value)
    assert {r.index: r.reason for r in rejected} == reasons
    expected = columns("Trade", [decode("Trade", v) for i, v in enumerate(values)
                                 if i not in reasons])
    for name, cells in expected.items():
        assert cols[name].dtype == cells.dtype, name
        np.testing.assert_array_equal(cols[name], cells, err_msg=name)


def test_a_batch_of_several_pieces_decodes_in_order_with_its_bad_rows_named() -> None:
    n = PIECE_ROWS + CHUNK_ROWS
    fields = event_fields("Trade")
    values = [orjson.dumps(fields | {"ts_event": T0 + i, "size": 1 + i % 7}) for i in range(n)]
    bad = {5: _raw("Trade", size=0), PIECE_ROWS + 3: _raw("Trade", colour="red")}
    for i, raw in bad.items():
        values[i] = raw

    cols, rejected = decode_columns("Trade", values)

    assert [(r.index, r.reason.split(",")[0]) for r in rejected] == [
        (5, "size must be a positive integer"), (PIECE_ROWS + 3, "unknown field 'colour'")]
    kept = [i for i in range(n) if i not in bad]
    assert cols["ts_event"].tolist() == [T0 + i for i in kept]
    assert cols["size"].tolist() == [1 + i % 7 for i in kept]
