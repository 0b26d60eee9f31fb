"""The margin gate: no order whose fill would leave excess liquidity below zero, the
maintenance it adds computed under the account's method (Reg T / FINRA 4210, or the
portfolio scan of -15% .. +15%), known answers from those rules."""

from __future__ import annotations

import pytest

from tests.factories import T0
from tests.processors.pretrade_events import bar, engine, feed, fill, margin, order, verdict


def _gate(excess: str, method: str = "reg_t"):  # type: ignore[no-untyped-def]
    eng = engine()
    feed(eng, bar("100.00"), bar("50.00", "MSFT"), bar("4.00", "PENNY"), bar("2.00", "DIME"),
         margin(excess, method))
    return eng


def test_reg_t_long_at_the_excess_passes_and_one_share_more_does_not() -> None:
    # maintenance of a long: 25% of its market value; 40 x 100 x 25% = 1000
    assert verdict(_gate("1000"), order(1, quantity=40)) == "approved"
    assert verdict(_gate("1000"), order(1, quantity=41)) == (
        f"risk: margin_gate: excess liquidity 1000 - maintenance increase 1025.00 = -25.00 < 0 "
        f"(reg_t; margin state at ts_event {T0})")


@pytest.mark.parametrize(("symbol", "quantity", "requirement"), [
    ("AAPL", 40, "1200"),  # >= 5 USD: max(30% x 4000, 5 x 40 = 200)
    ("AAPL", 1, "30"),  # >= 5 USD: max(30% x 100, 5 x 1 = 5)
    ("PENNY", 100, "400"),  # < 5 USD: max(100% x 400, 2.50 x 100 = 250)
    ("DIME", 100, "250"),  # < 5 USD: max(100% x 200, 2.50 x 100)
])
def test_reg_t_short_requirements(symbol: str, quantity: int, requirement: str) -> None:
    assert verdict(_gate(requirement), order(1, "sell", quantity, symbol=symbol)) == "approved"
    rejected = verdict(_gate(str(int(requirement) - 1)), order(1, "sell", quantity,
                                                              symbol=symbol))
    assert rejected.startswith(f"risk: margin_gate: excess liquidity {int(requirement) - 1} - "
                               f"maintenance increase {requirement}.00 = -1.00 < 0 (reg_t")


def test_portfolio_margin_long_needs_its_worst_scan_loss() -> None:
    # 100 x 100 long: the -15% point loses 1500
    assert verdict(_gate("1500", "portfolio"), order(1, quantity=100)) == "approved"
    assert verdict(_gate("1499", "portfolio"), order(1, quantity=100)).startswith(
        "risk: margin_gate: excess liquidity 1499 - maintenance increase 1500.00 = -1.00 < 0 "
        "(portfolio")


def test_a_hedge_passes_under_portfolio_margin_and_not_under_reg_t() -> None:
    # long AAPL 100 x 100 = 10000; short MSFT 200 x 50 = -10000 moves against it point for
    # point: the hedged pair loses nothing at any scan point
    by_method = {}
    for method in ("portfolio", "reg_t"):
        eng = _gate("0", method)
        feed(eng, fill("x:AAPL:1", "buy", 100, "100.00"))
        by_method[method] = verdict(eng, order(1, "sell", 200, symbol="MSFT"))

    assert by_method["portfolio"] == "approved"
    assert by_method["reg_t"].startswith(
        "risk: margin_gate: excess liquidity 0 - maintenance increase 3000.00 = -3000.00 < 0")


def test_an_account_in_a_margin_call_may_reduce_but_not_add() -> None:
    eng = _gate("-500")
    feed(eng, fill("x:AAPL:1", "buy", 100, "100.00"))

    assert verdict(eng, order(1, "sell", 50)) == "approved"
    assert verdict(eng, order(2, quantity=1)).startswith(
        "risk: margin_gate: excess liquidity -500 - maintenance increase 25.00 = -525.00 < 0")


def test_working_orders_use_up_the_excess() -> None:
    eng = _gate("1000")

    assert verdict(eng, order(1, quantity=40)) == "approved"
    assert verdict(eng, order(2, quantity=1)).startswith(
        "risk: margin_gate: excess liquidity 1000 - maintenance increase 1025.00 = -25.00")


def test_the_newest_margin_state_by_event_time_counts() -> None:
    eng = _gate("1000")
    feed(eng, margin("0", ts=T0 - 1), margin("2000", ts=T0 + 1), margin("5", ts=T0))

    assert verdict(eng, order(1, quantity=80)) == "approved"  # 80 x 100 x 25% = 2000


def test_an_account_without_a_margin_state_is_not_gated() -> None:
    eng = engine()
    feed(eng, bar("100.00"))

    assert verdict(eng, order(1, quantity=10**9)) == "approved"


def test_the_margin_gate_can_be_turned_off() -> None:
    eng = engine(margin_gate=False)
    feed(eng, bar("100.00"), margin("-1"))

    assert verdict(eng, order(1, quantity=10**6)) == "approved"
