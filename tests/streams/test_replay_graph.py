"""Replay as a graph: outputs reach the engines that read them, in event-time order, cycles
included, and the result does not depend on the batch size (streams/graph.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict

from processors import ENGINES, Emit, Engine
from processors.base import State, handles
from processors.strategies import load as load_strategy
from processors.vpin.params import VpinParams
from streams.backtest import backtest_engines
from streams.codec import event_columns
from streams.graph import ReplayOrderError
from streams.outputs import output_models, write_outputs
from streams.params import apply_overrides
from streams.replay import Source, run_replay
from streams.schema import Bar, DepthSnapshot, Prediction, Signal, Trade, VpinReading
from streams.settings import EngineParams
from tests.factories import T0, trade_columns

SECOND_NS = 1_000_000_000


def trade_tape(minutes: int = 25) -> list[Trade]:
    """Two symbols, a trade every 7 s for `minutes`, the symbols' times interleaved."""
    out = []
    for i in range(minutes * 60 // 7):
        for j, symbol in enumerate(("AAPL", "ESZ6")):
            price = f"{100 + j * 4900 + (i * 37 % 11) * 0.25:.2f}"
            out.append(Trade(ts_event=T0 + i * 7 * SECOND_NS + j, ts_init=T0, symbol=symbol,
                             price=price, size=1 + i % 5))
    return out


def trades_source(trades: list[Trade]) -> Source:
    return Source("market.trades", trade_columns(trades))


def test_bars_reach_the_features_engine_in_the_same_run() -> None:
    # Act: trades -> bars -> features in one run, and features over those bars on their own
    chained = run_replay([trades_source(trade_tape())], [ENGINES["bars"], ENGINES["features"]],
                         EngineParams())
    bars = chained.outputs["market.bars.1m"]
    alone = run_replay([Source("market.bars.1m", event_columns("Bar", [b.value for b in bars]))],
                       [ENGINES["features"]], EngineParams())

    # Assert: one vector per bar, flushed last bars included, equal to features of the bars
    features = chained.outputs["logic.features"]
    assert len(bars) == 2 * 25
    assert [(f.key, f.value.ts_event) for f in features] == [
        (b.key, b.value.ts_event) for b in bars]
    assert features == alone.outputs["logic.features"]
    assert set(features[-1].value.values) == {  # the 25th bar: no sma_50, ema_26, macd yet
        "sma_10", "sma_20", "ema_12", "rsi_14", "bb_upper", "bb_middle", "bb_lower", "atr_14",
        "ret_1", "rv_20"}


def book_tape(minutes: int) -> list[DepthSnapshot]:
    """A five-level book of each symbol every second, half a second into it, its sizes
    changing every second (so every 1-second microstructure interval has a record, dated at
    its end: one at each minute's end)."""
    out = []
    for i in range(minutes * 60):
        for j, symbol in enumerate(("AAPL", "ESZ6")):
            mid = 100 + j * 4900
            sizes = [1 + (i * 7 + k) % 9 for k in range(5)]
            out.append(DepthSnapshot(
                ts_event=T0 + i * SECOND_NS + SECOND_NS // 2 + j, ts_init=T0, symbol=symbol,
                bid_prices=[f"{mid - 0.25 * (k + 1 + i % 2):.2f}" for k in range(5)],
                bid_sizes=sizes, ask_prices=[f"{mid + 0.25 * (k + 1):.2f}" for k in range(5)],
                ask_sizes=[1 + (i * 3 + k) % 7 for k in range(5)]))
    return out


def five_second_tape(minutes: int) -> list[Trade]:
    """A trade of each symbol every 5 s from T0 (so one at each minute's end), the price
    moving every trade."""
    return [Trade(ts_event=T0 + i * 5 * SECOND_NS, ts_init=T0, symbol=symbol,
                  price=f"{100 + j * 4900 + (i * 37 % 11) * 0.25:.2f}", size=1 + i % 3)
            for i in range(minutes * 12) for j, symbol in enumerate(("AAPL", "ESZ6"))]


def latest(readings: list[Emit], symbol: str, end_ns: int) -> dict:
    """The fields of `symbol`'s last reading (in the replay's canonical order) dated at or
    before `end_ns`; empty where there is none."""
    before = [r.value for r in readings if r.key == symbol and r.value.ts_event <= end_ns]
    return before[-1].model_dump() if before else {}


def test_features_join_the_vpin_and_book_readings_at_or_before_each_bar_end() -> None:
    # Arrange: trades every 5 s (one exactly at each minute's end: the first trade of the
    # next bar), classified trade by trade into buckets of 3 shares, which the trade at each
    # minute's end completes, so VPIN readings fall at bar ends too; a book every second, so
    # a microstructure record is dated at every bar's end
    trades = five_second_tape(minutes=8)
    params = EngineParams(vpin=VpinParams(classification="tick", bucket_volume=3, window=15))
    sources = [trades_source(trades), Source("market.depth", event_columns(
        "DepthSnapshot", book_tape(minutes=8)))]
    engines = [ENGINES[name] for name in ("bars", "vpin", "microstructure", "features")]

    # Act
    results = [run_replay(sources, engines, params, batch_rows=rows) for rows in (1, 7, 65_536)]

    # Assert: each vector holds the latest reading of each topic at or before its bar's end
    outputs = results[0].outputs
    features, vpins = outputs["logic.features"], outputs["logic.vpin"]
    books = outputs["logic.microstructure"]
    assert len(features) == len(outputs["market.bars.1m"]) == 2 * 8
    at_end = {"vpin": 0, "book": 0}
    for vector in features:
        symbol, end, values = vector.key, vector.value.ts_event, vector.value.values
        reading, record = latest(vpins, symbol, end), latest(books, symbol, end)
        expected = {"vpin": reading.get("vpin"), "vpin_cdf": reading.get("vpin_cdf"),
                    "spread": None if record.get("spread") is None else float(record["spread"]),
                    "imbalance_5": record.get("imbalance_5")}
        assert {k: values.get(k) for k in expected} == expected, (symbol, end)
        at_end["vpin"] += reading.get("ts_event") == end
        at_end["book"] += record.get("ts_event") == end
    assert at_end["book"] == len(features)
    assert at_end["vpin"] == len(features) - 2
    assert "vpin" not in features[0].value.values  # fewer than `window` buckets yet
    assert all(r.outputs["logic.features"] == features for r in results[1:])



def test_a_reading_given_after_a_same_time_bar_in_the_input_is_still_joined() -> None:
    # Arrange: bars and VPIN readings both from the input (a bar file and a recorded topic),
    # the bars given first, so at equal times the input order puts the bar first
    bars = [Bar(ts_event=T0 + m * 60 * SECOND_NS, ts_init=T0, bar_id=f"AAPL@1m@{m}",
                symbol="AAPL", start_ns=T0 + (m - 1) * 60 * SECOND_NS, open="10.00",
                high="10.00", low="10.00", close="10.00", volume=1, trade_count=1,
                vwap="10.00") for m in (1, 2)]
    readings = [VpinReading(ts_event=T0 + s * SECOND_NS, ts_init=T0, symbol="AAPL", bucket=s,
                            bucket_volume=10, buy_volume=5.0, sell_volume=5.0, vpin=s / 1000,
                            vpin_cdf=0.5) for s in (30, 60, 90, 120)]
    sources = [Source("market.bars.1m", event_columns("Bar", bars)),
               Source("logic.vpin", event_columns("VpinReading", readings))]

    # Act
    result = run_replay(sources, [ENGINES["features"]], EngineParams())

    # Assert: each bar joins the reading dated at its end
    assert [f.value.values.get("vpin") for f in result.outputs["logic.features"]] == [
        0.06, 0.12]


def _written(tmp: Path, batch_rows: int) -> dict[str, bytes]:
    engines = [ENGINES["bars"], ENGINES["features"]]
    result = run_replay([trades_source(trade_tape())], engines, EngineParams(),
                        batch_rows=batch_rows)
    from streams.catalog import Catalog
    from streams.settings import get_settings
    out = tmp / str(batch_rows)
    write_outputs(result.outputs, output_models(engines, Catalog.load(get_settings().topics_file)),
                  out)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_chained_output_files_do_not_depend_on_the_batch_size(tmp_path: Path) -> None:
    files = {rows: _written(tmp_path, rows) for rows in (1, 7, 65_536)}

    assert set(files[1]) == {"market.bars.1m.csv", "market.bars.1m.parquet",
                             "logic.features.csv", "logic.features.parquet"}
    assert files[1] == files[7] == files[65_536]


# ---- a cycle: ping reads logic.signals and writes logic.predictions, pong the reverse ------


class _NoParams(BaseModel):
    model_config = ConfigDict(frozen=True)


class _Stateless(Engine):
    params_model = _NoParams

    def keys(self) -> list[str]:
        return []

    def snapshot(self, key: str) -> State:
        return {}

    def restore(self, key: str, state: State) -> None:
        pass

    def forget(self, key: str) -> None:
        pass


class Ping(_Stateless):
    """Every signal becomes a prediction one second later, its value the signal's strength."""

    name = "ping"
    outputs = ("logic.predictions",)
    seen: list[tuple[str, int]]

    @handles("logic.signals")
    def on_signals(self, columns: dict[str, np.ndarray]) -> list[Emit]:
        out = []
        for ts, sid, strength in zip(columns["ts_event"], columns["signal_id"],
                                     columns["strength"], strict=True):
            Ping.seen.append((str(sid), int(ts)))
            out.append(Emit("logic.predictions", "AAA", Prediction(
                ts_event=int(ts) + SECOND_NS, ts_init=0, prediction_id=str(sid), model="m",
                version=1, symbol="AAA", horizon_ns=0, value=float(strength))))
        return out


class Pong(_Stateless):
    """Every prediction becomes a signal at the same time, with strength - 1, down to 0."""

    name = "pong"
    outputs = ("logic.signals",)

    @handles("logic.predictions")
    def on_predictions(self, columns: dict[str, np.ndarray]) -> list[Emit]:
        return [Emit("logic.signals", "AAA", Signal(
            ts_event=int(ts), ts_init=0, signal_id=f"{pid}>", strategy="s", symbol="AAA",
            direction=1, strength=float(value) - 1))
            for ts, pid, value in zip(columns["ts_event"], columns["prediction_id"],
                                      columns["value"], strict=True) if value >= 1]


def signal(sid: str, ts: int, strength: float) -> Signal:
    return Signal(ts_event=ts, ts_init=0, signal_id=sid, strategy="s", symbol="AAA",
                  direction=1, strength=strength)


def test_a_cycle_runs_in_event_time_order() -> None:
    # Arrange: two signals from outside; the one at 0 s bounces until its strength is spent,
    # the one at 1.5 s once
    Ping.seen = []
    source = Source("logic.signals", event_columns("Signal", [
        signal("a", T0, 3.0), signal("b", T0 + 1_500_000_000, 0.5)]))

    # Act
    result = run_replay([source], [Ping, Pong], EngineParams())

    # Assert: each output went round in the same run, ping saw events in time order
    assert [(p.value.prediction_id, p.value.ts_event - T0) for p in
            result.outputs["logic.predictions"]] == [
        ("a", SECOND_NS), ("a>", 2 * SECOND_NS), ("b", 2_500_000_000),
        ("a>>", 3 * SECOND_NS), ("a>>>", 4 * SECOND_NS)]
    assert [ts for _, ts in Ping.seen] == sorted(ts for _, ts in Ping.seen)
    assert [sid for sid, _ in Ping.seen] == ["a", "a>", "b", "a>>", "a>>>"]


class Backdating(Pong):
    """Answers a prediction with a signal dated before it: look-ahead in a cycle."""

    name = "backdating"

    @handles("logic.predictions")
    def on_predictions(self, columns: dict[str, np.ndarray]) -> list[Emit]:
        return [Emit("logic.signals", "AAA", signal("late", int(ts) - 1, 0.0))
                for ts in columns["ts_event"]]


def test_a_cycle_output_dated_before_its_cause_fails_naming_the_engine() -> None:
    Ping.seen = []
    source = Source("logic.signals", event_columns("Signal", [signal("a", T0, 3.0)]))

    with pytest.raises(ReplayOrderError, match="engine backdating emitted logic.signals"):
        run_replay([source], [Ping, Backdating], EngineParams())


class QuietPing(Ping):
    """Ping that concludes nothing from signals of strength below 1 (declared quiet) and
    records the size of each batch of signals it gets."""

    name = "quiet_ping"
    batches: list[int]

    def quiet_rows(self, topic: str, columns: dict[str, np.ndarray]) -> np.ndarray:
        return columns["strength"] < 1

    @handles("logic.signals")
    def on_signals(self, columns: dict[str, np.ndarray]) -> list[Emit]:
        QuietPing.batches.append(len(columns["ts_event"]))
        out = []
        for row, (sid, ts, strength) in enumerate(zip(
                columns["signal_id"], columns["ts_event"], columns["strength"], strict=True)):
            if strength >= 1:
                out += super().on_signals({k: v[row:row + 1] for k, v in columns.items()})
            else:
                Ping.seen.append((str(sid), int(ts)))
        return out


def _signals_each_second(strengths: list[float]) -> Source:
    return Source("logic.signals", event_columns("Signal", [
        signal(f"s{k}", T0 + k * SECOND_NS, strength) for k, strength in enumerate(strengths)]))


def test_a_cycle_hands_quiet_rows_over_in_one_batch() -> None:
    # Arrange: ten signals a second apart; only s4 (strength 1) makes a prediction (at 5 s,
    # answered by pong with a signal of strength 0 at 5 s)
    Ping.seen, QuietPing.batches = [], []
    source = _signals_each_second([0, 0, 0, 0, 1, 0, 0, 0, 0, 0])

    # Act
    result = run_replay([source], [QuietPing, Pong], EngineParams())

    # Assert: s0-s3 in one batch, then instant by instant up to the answer at 5 s, then
    # s6-s9 in one batch; the same events in the same order as instant by instant
    assert QuietPing.batches == [4, 1, 1, 1, 4]
    assert [(p.value.prediction_id, p.value.ts_event - T0) for p in
            result.outputs["logic.predictions"]] == [("s4", 5 * SECOND_NS)]
    assert [sid for sid, _ in Ping.seen] == ["s0", "s1", "s2", "s3", "s4", "s5", "s4>",
                                             "s6", "s7", "s8", "s9"]


class TimedQuietPing(QuietPing):
    """QuietPing with its own `on_time`: time-driven, so its cycle steps every instant."""

    name = "timed_quiet_ping"
    times: list[int]

    def on_time(self, now_ns: int) -> list[Emit]:
        TimedQuietPing.times.append(now_ns - T0)
        return []


def test_a_time_driven_cycle_still_runs_every_instant() -> None:
    Ping.seen, QuietPing.batches, TimedQuietPing.times = [], [], []

    run_replay([_signals_each_second([0, 0, 0])], [TimedQuietPing, Pong], EngineParams())

    assert QuietPing.batches == [1, 1, 1]
    assert TimedQuietPing.times == [0, SECOND_NS, 2 * SECOND_NS]


class LoudWhenQuiet(QuietPing):
    """Declares every signal quiet, and still answers each with a prediction."""

    name = "loud_when_quiet"

    def quiet_rows(self, topic: str, columns: dict[str, np.ndarray]) -> np.ndarray:
        return np.ones(len(columns["ts_event"]), dtype=bool)

    @handles("logic.signals")
    def on_signals(self, columns: dict[str, np.ndarray]) -> list[Emit]:
        return Ping.on_signals(self, columns)


def test_a_quiet_row_that_emits_fails_naming_the_engine() -> None:
    Ping.seen = []

    with pytest.raises(ReplayOrderError, match="engine loud_when_quiet emitted for rows of "
                                               "logic.signals that it declared quiet"):
        run_replay([_signals_each_second([2, 2])], [LoudWhenQuiet, Pong], EngineParams())


def _stepped(engine: type[Engine]) -> type[Engine]:
    """`engine` with no quiet rows: its cycle runs every instant, as before quiet rows."""
    return type(engine.__name__, (engine,), {"quiet_rows": Engine.quiet_rows})


def test_a_backtest_of_a_trade_tape_is_the_same_batched_as_instant_by_instant() -> None:
    # Arrange: the backtest graph (bars, vpin, features, sma_cross, pretrade, execution,
    # portfolio)
    # over trades, with SMAs short enough to trade often (orders fill on the next trade)
    engines = backtest_engines(load_strategy("sma_cross"))
    params = apply_overrides(EngineParams(), ["sma_cross.fast=2", "sma_cross.slow=3",
                                              "sma_cross.quantity=10"])
    tape = trades_source(trade_tape(minutes=40))

    # Act
    batched = run_replay([tape], engines, params)
    stepped = run_replay([tape], [_stepped(e) if e.name in ("sma_cross", "pretrade", "execution")
                                  else e for e in engines], params)

    # Assert: every output the same, in the same order
    assert len(batched.outputs["market.executions"]) > 10
    assert batched.outputs == stepped.outputs


def test_replay_command_chains_bars_and_features(tmp_path: Path) -> None:
    # Arrange: a CSV of trades of two symbols over 25 minutes
    source = tmp_path / "trades.csv"
    pd.DataFrame([(t.ts_event, t.symbol, str(t.price), t.size) for t in trade_tape()],
                 columns=["ts_event", "symbol", "price", "size"]).to_csv(source, index=False)

    # Act
    result = subprocess.run(
        [sys.executable, "-m", "streams", "replay", "--input", str(source),
         "--engines", "bars,features", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120)

    # Assert: both topics written, one feature vector per bar
    assert result.returncode == 0, result.stderr
    bars = pd.read_csv(tmp_path / "out" / "market.bars.1m.csv")
    features = pd.read_csv(tmp_path / "out" / "logic.features.csv")
    assert len(bars) == 50
    assert list(zip(features["symbol"], features["ts_event"], strict=True)) == list(
        zip(bars["symbol"], bars["ts_event"], strict=True))
    assert "logic.features: 50 rows" in result.stderr
