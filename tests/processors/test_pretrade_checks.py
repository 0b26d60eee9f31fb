"""Pre-trade risk's limits, one check at a time: an order at the limit passes, one just over
it is rejected, and the reason names the check and its numbers (processors/pretrade)."""

from __future__ import annotations

import pytest

from processors.pretrade.params import PretradeParams
from streams.params import apply_overrides
from streams.schema import OrderEvent
from streams.settings import EngineParams, Settings
from tests.factories import T0
from tests.processors.pretrade_events import (
    SECOND_NS,
    alerts,
    bar,
    engine,
    feed,
    fill,
    order,
    order_event,
    verdict,
    verdicts,
    vpin_alert,
)


def test_without_limits_every_order_is_approved_unchanged() -> None:
    eng = engine()
    orders = [order(1, quantity=10**9), order(2, "sell", 10**9, limit="0.01"),
              order(3, limit="1000000")]

    emits = feed(eng, *orders)

    assert [e.topic for e in emits] == ["logic.orders.approved"] * 3
    assert [e.key for e in emits] == ["AAPL"] * 3
    assert [e.value.model_dump() for e in emits] == [o.model_dump() | {"ts_init": 0}
                                                     for o in orders]


def test_a_rejection_is_the_venues_lifecycle_and_an_alert_keyed_by_the_symbol() -> None:
    eng = engine(max_quantity_per_order=5)

    emits = feed(eng, order(7, quantity=6, ts=T0 + 3))

    events = [e.value for e in emits if isinstance(e.value, OrderEvent)]
    assert [(e.event_id, e.state, e.filled_quantity, e.leaves_quantity, e.ts_event - T0)
            for e in events] == [("s1:AAPL:7#1", "submitted", 0, 6, 3),
                                 ("s1:AAPL:7#2", "rejected", 0, 0, 3)]
    assert events[1].reason == "risk: max_quantity_per_order: quantity 6 > limit 5 for AAPL"
    assert {e.key for e in emits} == {"AAPL"}
    [(key, alert)] = alerts(emits)
    assert (key, alert.alert_id, alert.kind, alert.state, alert.symbol) == (
        "AAPL", "order_rejected:ACC1:s1:AAPL:7", "order_rejected", "raised", "AAPL")
    assert alert.values == {"quantity": 6, "limit": 5}
    assert events[1].reason in alert.message


def test_max_quantity_per_order_by_symbol() -> None:
    eng = engine(max_quantity_per_order={"default": 100, "AAPL": 50})

    assert verdict(eng, order(1, quantity=100, symbol="MSFT")) == "approved"
    assert verdict(eng, order(2, quantity=101, symbol="MSFT")) == (
        "risk: max_quantity_per_order: quantity 101 > limit 100 for MSFT")
    assert verdict(eng, order(3, quantity=50)) == "approved"
    assert verdict(eng, order(4, "sell", 51)) == (
        "risk: max_quantity_per_order: quantity 51 > limit 50 for AAPL")


def test_max_notional_per_order_by_account_at_the_limit_or_reference_price() -> None:
    eng = engine(max_notional_per_order={"default": "10000", "ACC2": "5000"})
    feed(eng, bar("100.00"))

    assert verdict(eng, order(1, quantity=100)) == "approved"  # 100 x 100 (the close)
    assert verdict(eng, order(2, quantity=101)) == (
        "risk: max_notional_per_order: notional 10100 (101 x 100) > limit 10000 for "
        "account ACC1")
    assert verdict(eng, order(3, "sell", 100, limit="100.00")) == "approved"
    assert verdict(eng, order(4, quantity=100, limit="100.01")) == (
        "risk: max_notional_per_order: notional 10001.00 (100 x 100.01) > limit 10000 for "
        "account ACC1")
    assert verdict(eng, order(5, quantity=50, account="ACC2")) == "approved"
    assert verdict(eng, order(6, quantity=51, account="ACC2")).startswith(
        "risk: max_notional_per_order: notional 5100 (51 x 100) > limit 5000 for account ACC2")


def test_a_market_order_without_any_price_is_rejected_when_notional_is_limited() -> None:
    eng = engine(max_notional_per_order="10000")

    assert verdict(eng, order(1, symbol="MSFT")) == (
        "risk: max_notional_per_order: no price for MSFT (no 1-minute bar and no fill of it "
        "yet)")


def test_price_collar_in_bps_from_the_newest_close_on_the_aggressive_side() -> None:
    eng = engine(collar_bps="10")
    feed(eng, bar("99.00", end=T0 - 60 * SECOND_NS), bar("100.00"))

    assert verdict(eng, order(1, limit="100.10")) == "approved"  # 10 bps above
    assert verdict(eng, order(2, limit="100.11")) == (
        f"risk: price_collar: buy limit 100.11 is 11.00 bps above the reference 100 (close "
        f"of the bar ending at ts_event {T0}) > collar 10 bps")
    assert verdict(eng, order(3, "sell", limit="99.90")) == "approved"
    assert verdict(eng, order(4, "sell", limit="99.89")).startswith(
        "risk: price_collar: sell limit 99.89 is 11.00 bps below the reference 100")
    assert verdict(eng, order(5, limit="90.00")) == "approved"  # passive: cannot trade badly
    assert verdict(eng, order(6)) == "approved"  # market orders have no price to collar
    assert verdict(eng, order(7, limit="50.00", symbol="MSFT")) == (
        "risk: price_collar: no reference price for MSFT (no 1-minute bar of it yet)")


def test_max_position_per_symbol_counts_the_working_orders_on_the_orders_side() -> None:
    # Arrange: long 60 from a fill, a buy of 30 working
    eng = engine(max_position_per_symbol=100)
    feed(eng, fill("x:AAPL:1", "buy", 60, "100"), order(1, quantity=30))

    # Act / Assert: 60 + 30 + 10 = 100 passes, then 60 + 40 + 1 = 101 does not
    assert verdict(eng, order(2, quantity=10)) == "approved"
    assert verdict(eng, order(3, quantity=1)) == (
        "risk: max_position_per_symbol: |position| after the order 101 > limit 100 for AAPL "
        "(position 60, working buys 40, order buy 1)")
    # a sell through flat: 60 - 160 = -100 passes, -101 does not
    assert verdict(eng, order(4, "sell", 161)) == (
        "risk: max_position_per_symbol: |position| after the order 101 > limit 100 for AAPL "
        "(position 60, working sells 0, order sell 161)")
    assert verdict(eng, order(5, "sell", 160)) == "approved"


def test_a_fill_counts_once_whether_its_order_event_or_its_execution_comes_first() -> None:
    eng = engine(max_position_per_symbol=100)
    feed(eng, order(1, quantity=100))
    assert verdict(eng, order(2, quantity=1)).startswith("risk: max_position_per_symbol")

    # the order event reports the fill before its execution arrives: still 100 in all
    feed(eng, order_event("s1:AAPL:1", 3, "filled", 100, 0))
    assert verdict(eng, order(3, quantity=1)).startswith("risk: max_position_per_symbol")
    feed(eng, fill("s1:AAPL:1", "buy", 100, "100"), fill("s1:AAPL:1", "buy", 100, "100"))
    assert verdict(eng, order(4, quantity=1)).startswith(
        "risk: max_position_per_symbol: |position| after the order 101 > limit 100 for AAPL "
        "(position 100, working buys 0")
    assert verdict(eng, order(5, "sell", 100)) == "approved"


def test_a_reduce_passes_a_position_already_over_the_limit() -> None:
    eng = engine(max_position_per_symbol=100, max_gross_exposure="1000")
    feed(eng, bar("100"), fill("x:AAPL:1", "buy", 150, "100"))

    assert verdict(eng, order(1, "sell", 150)) == "approved"
    # one more is past flat with the working sells: checked, and 150 long still counts
    assert verdict(eng, order(2, "sell", 1)).startswith(
        "risk: max_gross_exposure: gross exposure after the order 15000 > limit 1000")


def test_max_gross_exposure_by_account_with_working_orders() -> None:
    eng = engine(max_gross_exposure={"default": "20000", "ACC2": "1"})
    feed(eng, bar("100", "AAPL"), bar("50", "MSFT"), fill("x:AAPL:1", "buy", 100, "99"))

    assert verdict(eng, order(1, quantity=200, symbol="MSFT")) == "approved"  # 10000 + 10000
    assert verdict(eng, order(2, quantity=1, symbol="MSFT")) == (
        "risk: max_gross_exposure: gross exposure after the order 20050 > limit 20000 for "
        "account ACC1 (working orders counted; MSFT: position 0, working buys 200, order buy "
        "1)")
    # a short of MSFT larger than the working buy widens MSFT's exposure on its side: 250
    assert verdict(eng, order(3, "sell", 250, symbol="MSFT")) == (
        "risk: max_gross_exposure: gross exposure after the order 22500 > limit 20000 for "
        "account ACC1 (working orders counted; MSFT: position 0, working sells 0, order sell "
        "250)")
    assert verdict(eng, order(4, "sell", 200, symbol="MSFT")) == "approved"
    assert verdict(eng, order(5, quantity=1, account="ACC2")) == (
        "risk: max_gross_exposure: gross exposure after the order 100 > limit 1 for account "
        "ACC2 (working orders counted; AAPL: position 0, working buys 0, order buy 1)")


def test_order_rate_is_a_token_bucket_per_strategy_in_event_time() -> None:
    eng = engine(order_rate_per_s={"default": 2, "s2": "0.5"},
                 order_burst={"default": 2, "s2": 1}, max_quantity_per_order=100)
    half = SECOND_NS // 2

    got = [verdict(eng, o) for o in [
        order(1, ts=T0), order(2, ts=T0),
        order(3, quantity=101, ts=T0),  # rejected by its quantity: takes no token
        order(4, ts=T0), order(5, ts=T0 + half), order(6, ts=T0 + half),
        order(1, ts=T0, strategy="s2"), order(2, ts=T0 + half, strategy="s2"),
        order(3, ts=T0 + 2 * SECOND_NS, strategy="s2")]]

    assert [g if g == "approved" else g.split(":")[1].strip() for g in got] == [
        "approved", "approved", "max_quantity_per_order", "order_rate", "approved",
        "order_rate", "approved", "order_rate", "approved"]
    assert got[3] == ("risk: order_rate: strategy s1 sent more than its burst of 2 at 2 "
                      "orders/s (0.000 orders left)")


def test_order_rate_burst_defaults_to_the_rate_rounded_up() -> None:
    eng = engine(order_rate_per_s="1.5")

    got = [verdict(eng, order(n)) for n in range(1, 4)]

    assert got[:2] == ["approved", "approved"]
    assert got[2].startswith("risk: order_rate: strategy s1 sent more than its burst of 2")


@pytest.mark.parametrize("gate", [True, False])
def test_toxicity_gate_blocks_opening_and_adding_while_the_vpin_alert_is_raised(
    gate: bool,
) -> None:
    eng = engine(toxicity_gate=gate)
    raised = vpin_alert("raised", 12, T0)
    feed(eng, fill("x:AAPL:1", "buy", 100, "100"), raised,
         vpin_alert("raised", 3, T0 - SECOND_NS, "MSFT"),
         vpin_alert("cleared", 5, T0, "MSFT", episode=f"vpin:MSFT:{T0 - SECOND_NS}:3"))

    entries = verdicts(feed(eng, order(1, quantity=10), order(2, "sell", 101),
                            order(3, symbol="MSFT")))
    reduce = verdict(eng, order(4, "sell", 100))

    blocked = ("risk: toxicity_gate: VPIN alert vpin:AAPL:{}:12 is raised on AAPL and the "
               "order would open or increase the position ({})")
    assert entries == ({
        "s1:AAPL:1": blocked.format(T0, "position 100, working buys 0, order buy 10"),
        "s1:AAPL:2": blocked.format(T0, "position 100, working sells 0, order sell 101"),
        "s1:MSFT:3": "approved"} if gate else dict.fromkeys(entries, "approved"))
    assert reduce == "approved"
    # an older transition read again (a broadcast re-read) changes nothing; the clear does
    feed(eng, vpin_alert("cleared", 11, T0 - SECOND_NS))
    assert verdict(eng, order(5)) == ("approved" if not gate else blocked.format(
        T0, "position 100, working buys 0, order buy 10"))
    feed(eng, vpin_alert("cleared", 13, T0 + SECOND_NS, episode=raised.alert_id))
    assert verdict(eng, order(6)) == "approved"


def test_limits_are_set_by_number_or_per_key_from_set_and_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    params = apply_overrides(EngineParams(), [
        "pretrade.max_notional_per_order.ACC1=250000",
        "pretrade.max_notional_per_order.default=1000000", "pretrade.toxicity_gate=false",
    ]).pretrade
    monkeypatch.setenv("NAUTILUS_PRETRADE__MAX_QUANTITY_PER_ORDER",
                       '{"default": 1000, "AAPL": 500}')
    monkeypatch.setenv("NAUTILUS_PRETRADE__COLLAR_BPS", "25")
    from_env = Settings().engine_params().pretrade

    assert isinstance(params, PretradeParams) and isinstance(from_env, PretradeParams)
    assert (params.limit("max_notional_per_order", "ACC1"),
            params.limit("max_notional_per_order", "ACC2"),
            params.limit("max_quantity_per_order", "AAPL"), params.toxicity_gate) == (
        250_000, 1_000_000, None, False)
    assert (from_env.limit("max_quantity_per_order", "AAPL"),
            from_env.limit("max_quantity_per_order", "MSFT"),
            from_env.limit("collar_bps", "MSFT")) == (500, 1000, 25)
    assert PretradeParams().toxicity_gate and PretradeParams().margin_gate
