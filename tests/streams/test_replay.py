"""Replay: files and topics through the engines in-process, deterministically."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest

from processors import ENGINES
from streams import codec, kafka
from streams.schema import Quote, Trade

SECOND_NS = 1_000_000_000
MINUTE_NS = 60 * SECOND_NS
T0 = 1_700_000_040 * 1_000_000_000  # a minute boundary


def _write_trades(path: Path) -> None:
    # Two symbols, three minutes, out of order in the file (replay sorts by ts_event).
    rows = [
        (T0 + 2 * MINUTE_NS + 5, "ESZ6", "5001.25", 1),
        (T0 + 1, "ESZ6", "5000.00", 2),
        (T0 + 2, "AAPL", "190.01", 5),
        (T0 + 3, "ESZ6", "5000.50", 3),
        (T0 + MINUTE_NS + 7, "AAPL", "190.05", 1),
        (T0 + 9, "AAPL", "bad", 1),
    ]
    frame = pd.DataFrame(rows, columns=["ts_event", "symbol", "price", "size"])
    frame["venue"] = "X"  # other columns are ignored
    frame.to_csv(path, index=False)


def _replay(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams", "replay", *args],
                          capture_output=True, text=True, timeout=120, env=env)


def test_replay_of_a_file_is_correct_and_byte_identical(tmp_path: Path) -> None:
    source = tmp_path / "trades.csv"
    _write_trades(source)

    first = _replay("--input", str(source), "--out", str(tmp_path / "a"))
    _replay("--input", str(source), "--out", str(tmp_path / "b"))

    assert first.returncode == 0, first.stderr
    assert "line 7" in first.stderr or "line=7" in first.stderr  # the bad price, reported
    for name in ("market.bars.1m.parquet", "market.bars.1m.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    bars = pd.read_csv(tmp_path / "a" / "market.bars.1m.csv")
    assert list(bars["bar_id"]) == [
        f"AAPL@1m@{T0}", f"ESZ6@1m@{T0}", f"AAPL@1m@{T0 + MINUTE_NS}",
        f"ESZ6@1m@{T0 + 2 * MINUTE_NS}",
    ]
    esz6 = bars[bars["bar_id"] == f"ESZ6@1m@{T0}"].iloc[0]
    assert (esz6["open"], esz6["high"], esz6["low"], esz6["close"]) == (5000, 5000.5, 5000, 5000.5)
    assert esz6["volume"] == 5 and esz6["trade_count"] == 2
    assert esz6["vwap"] == (5000.00 * 2 + 5000.50 * 3) / 5


def test_replay_strict_stops_at_the_first_bad_row(tmp_path: Path) -> None:
    source = tmp_path / "trades.csv"
    _write_trades(source)

    result = _replay("--input", str(source), "--out", str(tmp_path / "out"), "--strict")

    assert result.returncode == 2
    assert "trades.csv:7" in result.stderr and "--strict" in result.stderr


def test_replay_rejects_unknown_parameters_and_engines(tmp_path: Path) -> None:
    source = tmp_path / "trades.csv"
    _write_trades(source)

    bad_param = _replay("--input", str(source), "--out", str(tmp_path), "--set", "bars.nope=1")
    bad_engine = _replay("--input", str(source), "--out", str(tmp_path), "--engines", "vwap")

    assert bad_param.returncode == 2 and "known: grace_ms" in bad_param.stderr
    assert bad_engine.returncode == 2 and "unknown engine" in bad_engine.stderr


def test_replay_of_a_topic_range(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: trades of a fresh symbol on the shared market.trades, over four minutes
    symbol = f"R{uuid.uuid4().hex[:6].upper()}"
    producer = kafka.producer(kafka_brokers)
    for minute in range(4):
        trade = Trade(ts_event=T0 + minute * MINUTE_NS + 1, ts_init=T0, symbol=symbol,
                      price="10.5", size=minute + 1)
        producer.produce("market.trades", key=symbol.encode(), value=codec.encode(trade))
    assert producer.flush(10) == 0

    # Act: minutes 1 and 2 only
    result = _replay("--topic", "market.trades", "--from", str(T0 + MINUTE_NS),
                     "--to", "2023-11-14T22:17:00Z", "--out", str(tmp_path), env=services_env)

    # Assert
    assert result.returncode == 0, result.stderr
    bars = pd.read_csv(tmp_path / "market.bars.1m.csv")
    mine = bars[bars["symbol"] == symbol]
    assert list(mine["volume"]) == [2, 3]
    assert list(mine["start_ns"]) == [T0 + MINUTE_NS, T0 + 2 * MINUTE_NS]


def _produce(brokers: str, topic: str, events: list) -> None:
    producer = kafka.producer(brokers)
    for event in events:
        producer.produce(topic, key=event.symbol.encode(), value=codec.encode(event))
    assert producer.flush(10) == 0


@pytest.mark.parametrize("form", ["repeated", "comma"])
def test_replay_of_several_topics_merges_them(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path, form: str
) -> None:
    # Arrange: a fresh symbol's trades in two minutes and its quotes in two seconds
    symbol = f"M{uuid.uuid4().hex[:6].upper()}"
    _produce(kafka_brokers, "market.trades", [
        Trade(ts_event=T0 + minute * MINUTE_NS + 1, ts_init=T0, symbol=symbol, price="10.5",
              size=minute + 1) for minute in range(2)])
    _produce(kafka_brokers, "market.quotes", [
        Quote(ts_event=T0 + second * SECOND_NS, ts_init=T0, symbol=symbol, bid_price="10.00",
              bid_size=5, ask_price="10.02", ask_size=5) for second in range(2)])
    topics = (["--topic", "market.trades", "--topic", "market.quotes"] if form == "repeated"
              else ["--topic", "market.trades,market.quotes"])

    # Act
    result = _replay(*topics, "--engines", "bars,microstructure", "--out", str(tmp_path),
                     env=services_env)

    # Assert: bars from the trades, order-book features from the quotes
    assert result.returncode == 0, result.stderr
    bars = pd.read_csv(tmp_path / "market.bars.1m.csv")
    assert list(bars[bars["symbol"] == symbol]["volume"]) == [1, 2]
    features = pd.read_csv(tmp_path / "logic.microstructure.csv")
    mine = features[features["symbol"] == symbol]
    assert list(mine["ts_event"]) == [T0 + SECOND_NS, T0 + 2 * SECOND_NS]  # interval ends
    assert list(mine["mid"]) == pytest.approx([10.01, 10.01])


@pytest.mark.parametrize(("start", "end"), [
    ("2024-01-02T15:00:00Z", "2024-01-02T14:00:00Z"),
    ("1704204000000000000", "2024-01-02T14:00:00Z"),  # the same instant: empty, --to exclusive
])
def test_replay_of_an_empty_time_range_is_an_error(
    services_env: dict[str, str], tmp_path: Path, start: str, end: str
) -> None:
    result = _replay("--topic", "market.trades", "--from", start, "--to", end,
                     "--out", str(tmp_path), env=services_env)

    assert result.returncode == 2
    assert f"--from {start} is not before --to {end}: the range is empty" in result.stderr
    assert not (tmp_path / "market.bars.1m.csv").exists()


@pytest.mark.parametrize(("args", "reason"), [
    (["--topic", "logic.signals"], "cannot replay logic.signals: no engine of "
     f"{', '.join(ENGINES.defaults())} reads it"),
    (["--topic", "market.quotes", "--engines", "bars"],
     "cannot replay market.quotes: no engine of bars reads it"),
    (["--topic", "market.trades", "--topic", "market.trades"], "market.trades given twice"),
])
def test_replay_of_a_topic_no_engine_reads_names_those_it_can(
    services_env: dict[str, str], tmp_path: Path, args: list[str], reason: str
) -> None:
    result = _replay(*args, "--out", str(tmp_path), env=services_env)

    assert result.returncode == 2
    assert reason in result.stderr
    if "twice" not in reason:
        assert "can replay: market.trades" in result.stderr


def test_replay_help_lists_the_topics_it_can_replay() -> None:
    result = subprocess.run([sys.executable, "-m", "streams", "replay", "--help"],
                            capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert "--engines bars,features: trades -> bars -> features" in result.stdout
    listed = result.stdout.rsplit("topics --topic can replay", 1)[1].splitlines()[1:]
    assert {" ".join(line.split()) for line in listed} == {
        "market.trades read by bars, execution, vpin",
        "market.quotes read by microstructure, vpin",
        "market.depth read by execution, microstructure",
        "market.macro read by features",
        "market.bars.1m read by execution, factors, features, margin, portfolio, pretrade, "
        "risk, sma_cross, ml_signal, vpin_guard",
        "market.executions read by analytics, portfolio, pretrade, sma_cross, ml_signal, "
        "vpin_guard",
        "logic.vpin read by features, sma_cross, ml_signal, vpin_guard",
        "logic.microstructure read by features",
        "logic.features read by ml, sma_cross, ml_signal, vpin_guard",
        "logic.factors read by ml",
        "logic.predictions read by ml_signal",
        "logic.risk.alerts read by pretrade",
        "logic.factor.returns read by risk",
        "logic.factor.exposures read by risk",
        "logic.risk.commands read by pretrade",
        "logic.margin read by pretrade",
        "logic.orders read by pretrade",
        "logic.orders.approved read by execution",
        "logic.order.cancels read by execution",
        "logic.order.events read by pretrade, sma_cross, ml_signal, vpin_guard",
        "logic.positions read by margin, risk",
        "logic.portfolio read by analytics, margin, risk"}
    assert len({line.index(" read by ") for line in listed}) == 1  # one column
