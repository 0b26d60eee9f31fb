"""The toxicity gate in the trading loop: a simulated market with one forced informed-flow
episode (one-sided aggressive buying) replayed through bars, the real VPIN engine, a strategy
that enters and exits every few minutes, pre-trade risk, the paper venue and the portfolio.

The episode raises the symbol's VPIN alert; while it is raised every entry is rejected by
the toxicity gate and never reaches the venue, exits (reduces) still pass, and once the
alert clears entries are approved and fill again. The same replay without the gate approves
every entry."""

from __future__ import annotations

import pytest

from processors import ENGINES
from processors.strategies import Strategy, engine_class
from streams import codec
from streams.feeds.sim import SimMarket
from streams.params import apply_overrides
from streams.replay import ReplayResult, Source, run_replay
from streams.schema import Bar
from streams.settings import EngineParams
from tests.streams.runtime.workers import sim_trades

NS = 1_000_000_000
START_NS = 1_700_000_000 * NS
SYMBOL = "TOXA"
EPISODE_START_S, EPISODE_S, TAPE_S = 2_400, 360, 3_600
VPIN = ["vpin.window=20", "vpin.cdf_window=500", "vpin.alert_min_history=50"]


class InAndOut(Strategy):
    """Targets +10 for two bars, then 0 for one, whatever the market: an entry (buy), held a
    minute, then an exit (sell); an entry that does not fill is tried again the next bar."""

    name = "in_and_out"

    def __init__(self) -> None:
        self.bars = 0

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        self.order_target(10 if self.bars % 3 else 0)


@pytest.fixture(scope="module")
def tape() -> Source:
    market = SimMarket([SYMBOL], seed=5, trades_per_s=20, quote_every=0, depth_every=0,
                       informed_probability=0.0)
    market.force_episode(SYMBOL, EPISODE_START_S, EPISODE_S, "buy", share=0.95,
                         size_multiplier=3.0)
    trades = sim_trades(market, START_NS, TAPE_S)
    columns, rejected = codec.decode_columns("Trade", [codec.encode(t) for t in trades])
    assert not rejected
    return Source("market.trades", columns)


def _replay(tape: Source, *overrides: str) -> ReplayResult:
    # VPIN buckets of half a quiet minute's volume
    quiet = tape.columns["ts_event"] < START_NS + EPISODE_START_S * NS
    bucket = int(tape.columns["size"][quiet].sum()) * 60 // EPISODE_START_S // 2
    params = apply_overrides(EngineParams(), [*VPIN, f"vpin.bucket_volume={bucket}",
                                              *overrides])
    engines = [ENGINES["bars"], ENGINES["vpin"], engine_class(InAndOut),
               ENGINES["pretrade"], ENGINES["execution"], ENGINES["portfolio"]]
    return run_replay([tape], engines, params)


def test_entries_are_blocked_while_the_vpin_alert_is_raised_and_allowed_after(
    tape: Source,
) -> None:
    # Act
    result = _replay(tape)

    # Assert: the episode raises one VPIN alert, cleared after it
    vpin = [a for a in result.rows("logic.risk.alerts") if a["kind"] == "vpin"]
    assert [a["state"] for a in vpin] == ["raised", "cleared"]
    raised, cleared = vpin[0]["ts_event"], vpin[1]["ts_event"]
    episode = (START_NS + EPISODE_START_S * NS, START_NS + (EPISODE_START_S + EPISODE_S) * NS)
    assert episode[0] <= raised < episode[1] <= cleared
    # entries while it is raised: rejected by the gate, naming the alert; none reached the venue
    rejected = {e["order_id"]: e["reason"] for e in result.rows("logic.order.events")
                if e["state"] == "rejected"}
    approved = {o["order_id"] for o in result.rows("logic.orders.approved")}
    entries = [o for o in result.rows("logic.orders") if o["side"] == "buy"]
    blocked = [o for o in entries if raised <= o["ts_event"] < cleared]
    assert len(blocked) >= 2
    for o in blocked:
        assert rejected[o["order_id"]] == (
            f"risk: toxicity_gate: VPIN alert {vpin[0]['alert_id']} is raised on {SYMBOL} and "
            f"the order would open or increase the position (position 0, working buys 0, "
            f"order buy 10)")
        assert o["order_id"] not in approved
    # before and after: approved, and the ones after fill
    free = [o["order_id"] for o in entries if not raised <= o["ts_event"] < cleared]
    after = [o["order_id"] for o in entries if o["ts_event"] >= cleared]
    assert after and set(free) <= approved
    filled = {x["order_id"] for x in result.rows("market.executions")}
    assert set(after[:-1]) <= filled  # the last may still wait for its trade at the end
    # exits are never blocked, one while the alert is raised included
    sells = [o for o in result.rows("logic.orders") if o["side"] == "sell"]
    assert any(raised <= o["ts_event"] < cleared for o in sells)
    assert {o["order_id"] for o in sells} <= approved
    assert set(rejected) == {o["order_id"] for o in blocked}


def test_without_the_gate_the_same_entries_are_approved(tape: Source) -> None:
    result = _replay(tape, "pretrade.toxicity_gate=false")

    assert [e for e in result.rows("logic.order.events") if e["state"] == "rejected"] == []
    assert {o["order_id"] for o in result.rows("logic.orders.approved")} == {
        o["order_id"] for o in result.rows("logic.orders")}
