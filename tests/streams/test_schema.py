"""The wire models: int-ns times, versioning, exact prices and the invariants they enforce."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from streams.schema import MODELS, Bar, DepthSnapshot, Event, Trade
from tests.factories import event, event_fields, quote, trade

MODEL_NAMES = sorted(MODELS)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_model_carries_times_and_version(name: str) -> None:
    # Arrange
    fields = MODELS[name].model_fields

    # Act
    instance = event(name, ts_event=123, ts_init=456)

    # Assert
    assert issubclass(MODELS[name], Event)
    assert {"ts_event", "ts_init", "schema_version"} <= fields.keys()
    assert (instance.ts_event, instance.ts_init, instance.schema_version) == (123, 456, 1)
    assert type(instance.ts_event) is int and type(instance.ts_init) is int


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("field", ["ts_event", "ts_init"])
def test_float_times_are_rejected(name: str, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        event(name, **{field: 1_700_000_000.0})


@pytest.mark.parametrize("value", ["1700000000", True, -1])
def test_times_must_be_non_negative_ints(value: object) -> None:
    with pytest.raises(ValidationError, match="ts_event"):
        trade(ts_event=value)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_newer_schema_version_is_rejected(name: str) -> None:
    with pytest.raises(ValidationError, match="schema_version 2 is newer"):
        event(name, schema_version=2)


@pytest.mark.parametrize("version", [0, -1])
def test_schema_version_below_one_is_rejected(version: int) -> None:
    # SOURCE BUG: Event.schema_version is a bare StrictInt, so 0 and negatives validate,
    # while the columnar decoder (codec._check_version) rejects them: the two paths disagree.
    with pytest.raises(ValidationError, match="schema_version"):
        trade(schema_version=version)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_unknown_fields_are_rejected(name: str) -> None:
    # A version's fields are fixed: an unknown one is a misspelt optional field (which would
    # read as its default) or a newer writer that did not bump schema_version.
    with pytest.raises(ValidationError, match="new_field"):
        MODELS[name].model_validate(event_fields(name) | {"new_field": "x"})


def test_models_are_frozen() -> None:
    t = trade()

    with pytest.raises(ValidationError, match="frozen"):
        t.size = 5  # type: ignore[misc]


# ---- prices are exact decimal strings --------------------------------------------------


@pytest.mark.parametrize("price", ["101.01", "0.0001", "101.010", "123456789.123456789"])
def test_price_round_trips_as_the_same_decimal_string(price: str) -> None:
    # Arrange
    t = trade(price=price)

    # Act
    wire = t.model_dump(mode="json")
    back = Trade.model_validate_json(t.model_dump_json())

    # Assert
    assert wire["price"] == price
    assert back.price == Decimal(price)
    assert str(back.price) == price


def test_money_fields_serialise_as_strings() -> None:
    margin = event("MarginState", equity="100000.01")

    assert margin.model_dump(mode="json")["equity"] == "100000.01"


@pytest.mark.parametrize("price", ["NaN", "Infinity", "-Infinity", "abc"])
def test_non_finite_or_garbage_prices_are_rejected(price: str) -> None:
    with pytest.raises(ValidationError, match="price"):
        trade(price=price)


# ---- sizes -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, -1])
def test_trade_size_must_be_positive(size: int) -> None:
    with pytest.raises(ValidationError, match="size"):
        trade(size=size)


def test_trade_size_must_be_an_int_not_a_float() -> None:
    with pytest.raises(ValidationError, match="size"):
        trade(size=100.0)


@pytest.mark.parametrize("field", ["bid_size", "ask_size"])
def test_quote_sizes_must_be_non_negative(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        quote(**{field: -1})


def test_quote_sizes_may_be_zero() -> None:
    q = quote(bid_size=0, ask_size=0)

    assert (q.bid_size, q.ask_size) == (0, 0)


# ---- quotes and books ------------------------------------------------------------------


def test_crossed_quote_is_rejected() -> None:
    with pytest.raises(ValidationError, match="crossed quote"):
        quote(bid_price="101.03", ask_price="101.02")


def test_locked_quote_is_accepted() -> None:
    q = quote(bid_price="101.02", ask_price="101.02")

    assert q.bid_price == q.ask_price


def test_valid_depth_snapshot_keeps_levels_in_order() -> None:
    d = event("DepthSnapshot")

    assert isinstance(d, DepthSnapshot)
    assert d.bid_prices == [Decimal("101.00"), Decimal("100.99"), Decimal("100.98")]
    assert d.ask_sizes == [200, 400]


def test_empty_depth_snapshot_is_valid() -> None:
    d = event("DepthSnapshot", bid_prices=[], bid_sizes=[], ask_prices=[], ask_sizes=[])

    assert d.bid_prices == [] and d.ask_prices == []


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"bid_sizes": [300, 200]}, "bid_prices and bid_sizes differ"),
        ({"ask_prices": ["101.02"]}, "ask_prices and ask_sizes differ"),
        ({"bid_prices": ["101.00", "101.00", "100.98"]}, "bid_prices must strictly decrease"),
        ({"bid_prices": ["100.98", "100.99", "101.00"]}, "bid_prices must strictly decrease"),
        ({"ask_prices": ["101.03", "101.02"]}, "ask_prices must strictly increase"),
        ({"ask_prices": ["101.00", "101.03"]}, "crossed book"),
        ({"ask_prices": ["100.50", "101.03"]}, "crossed book"),
        ({"bid_sizes": [300, -1, 100]}, "bid_sizes"),
        ({"bid_prices": [f"{100 - i}" for i in range(11)], "bid_sizes": [1] * 11}, "bid_prices"),
    ],
)
def test_depth_snapshot_invariants(overrides: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        event("DepthSnapshot", **overrides)


def test_depth_snapshot_with_ten_levels_is_valid() -> None:
    d = event(
        "DepthSnapshot",
        bid_prices=[f"{100 - i}" for i in range(10)], bid_sizes=[1] * 10,
        ask_prices=[f"{101 + i}" for i in range(10)], ask_sizes=[1] * 10,
    )

    assert len(d.bid_prices) == len(d.ask_prices) == 10


# ---- bars and symbols ------------------------------------------------------------------


@pytest.mark.parametrize("field", ["volume", "trade_count"])
def test_bar_needs_at_least_one_trade(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        event("Bar", **{field: 0})


def test_bar_interval_defaults_to_one_minute() -> None:
    bar = event("Bar")

    assert isinstance(bar, Bar)
    assert bar.interval == "1m"


@pytest.mark.parametrize("symbol", ["", "AAPL US", "A" * 65, "AAPL\n"])
def test_bad_symbols_are_rejected(symbol: str) -> None:
    with pytest.raises(ValidationError, match="symbol"):
        trade(symbol=symbol)


@pytest.mark.parametrize("symbol", ["AAPL", "BRK.B", "ES-F", "EUR/USD", "^SPX"])
def test_good_symbols_are_accepted(symbol: str) -> None:
    assert trade(symbol=symbol).symbol == symbol


# ---- JSON Schema -----------------------------------------------------------------------


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_json_schema_export(name: str) -> None:
    # Act
    schema = MODELS[name].model_json_schema(mode="serialization")

    # Assert
    assert schema["title"] == name
    assert schema["type"] == "object"
    assert {"ts_event", "ts_init", "schema_version"} <= schema["properties"].keys()
    assert schema["properties"]["ts_event"]["type"] == "integer"
    assert {"ts_event", "ts_init"} <= set(schema.get("required", []))


def test_json_schema_shows_prices_as_strings() -> None:
    props = Trade.model_json_schema(mode="serialization")["properties"]

    assert props["price"]["type"] == "string"
