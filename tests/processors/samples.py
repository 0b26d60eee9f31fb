"""Realistic input events per catalog topic, for tests that run every engine (conformance).

Samples are made per input topic, not per engine, so a new engine that reads an existing
topic is tested without new samples. The market topics come from the seeded simulated market
(`streams.feeds.sim`: several symbols, Pareto sizes, quotes and ten-level books), with what
live feeds also deliver: prints flagged unreported, and events arriving late (behind a later
event of their symbol). Bars are those trades' 1-minute OHLCV bars. VPIN readings fall on
the trades that complete a bucket, without a value for each symbol's first buckets; order-book
records are the depth's, one per symbol and second dated at the second's end (so at each bar's
end too), some of a one-sided book without a spread. Any other topic gets a generic stream of
its model: the factory's valid event, keyed by several keys over minutes.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from decimal import Decimal
from functools import cache

from streams.catalog import Catalog
from streams.feeds.sim import SimMarket
from streams.schema import Bar, DepthSnapshot, Event, MicrostructureFeatures, Trade, VpinReading
from streams.settings import REPO_ROOT
from tests.factories import T0, event

SYMBOLS = ("ESZ6", "AAPL", "EURUSD", "NQZ6")
MINUTES = 4
SECOND_NS = 1_000_000_000
MINUTE_NS = 60 * SECOND_NS
LATE_EVERY = 37  # every 37th event of a topic arrives after the one behind it
UNREPORTED_EVERY = 11  # every 11th trade is flagged unreported
TRADES_PER_BUCKET = 5  # a symbol's every 5th trade completes a VPIN bucket
VPIN_WINDOW = 4  # VPIN readings without a value, per symbol
ONE_SIDED_EVERY = 13  # every 13th order-book record has no ask side: no spread


@cache
def catalog() -> Catalog:
    return Catalog.load(REPO_ROOT / "topics.yaml")


@cache
def _market() -> dict[str, list[Event]]:
    """MINUTES of the simulated market at a few trades per second, by model name."""
    market = SimMarket(list(SYMBOLS), seed=11, trades_per_s=6.0, quote_every=1, depth_every=3,
                       informed_probability=0.3)
    end = T0 + MINUTES * MINUTE_NS
    by_model: dict[str, list[Event]] = defaultdict(list)
    for ev in itertools.takewhile(lambda e: e.ts_event < end, market.events(T0)):
        by_model[type(ev).__name__].append(ev)
    trades = by_model["Trade"]
    by_model["Trade"] = [
        t.model_copy(update={"unreported": True}) if i % UNREPORTED_EVERY == 5 else t
        for i, t in enumerate(trades)
    ]
    by_model["Bar"] = _bars(trades)
    by_model["VpinReading"] = _vpin_readings(trades)
    by_model["MicrostructureFeatures"] = _book_records(by_model["DepthSnapshot"])
    return {model: _with_late_arrivals(events) for model, events in by_model.items()}


def _with_late_arrivals(events: list[Event]) -> list[Event]:
    """Every LATE_EVERY-th event swapped with the next: it arrives after a later one."""
    events = list(events)
    for i in range(LATE_EVERY - 1, len(events) - 1, LATE_EVERY):
        events[i], events[i + 1] = events[i + 1], events[i]
    return events


def _bars(trades: list[Trade]) -> list[Bar]:
    """The regular trades' 1-minute bars per symbol, in order of their end."""
    groups: dict[tuple[int, str], list[Trade]] = defaultdict(list)
    for t in trades:
        groups[(t.ts_event - t.ts_event % MINUTE_NS, t.symbol)].append(t)
    bars = []
    for (start, symbol), group in sorted(groups.items()):
        volume = sum(t.size for t in group)
        vwap = sum(Decimal(t.price) * t.size for t in group) / volume
        bars.append(Bar(
            ts_event=start + MINUTE_NS, ts_init=start + MINUTE_NS, bar_id=f"{symbol}@1m@{start}",
            symbol=symbol, start_ns=start, open=group[0].price,
            high=max(t.price for t in group), low=min(t.price for t in group),
            close=group[-1].price, volume=volume, trade_count=len(group),
            vwap=round(vwap, 9),
        ))
    return bars


def _vpin_readings(trades: list[Trade]) -> list[VpinReading]:
    """A reading at every TRADES_PER_BUCKET-th trade of a symbol; VPIN and its CDF from the
    symbol's VPIN_WINDOW-th bucket on."""
    counts: dict[str, int] = defaultdict(int)
    readings = []
    for t in trades:
        counts[t.symbol] += 1
        bucket, rest = divmod(counts[t.symbol], TRADES_PER_BUCKET)
        if rest:
            continue
        full, buy = bucket >= VPIN_WINDOW, bucket * 37 % 1_000
        readings.append(VpinReading(
            ts_event=t.ts_event, ts_init=t.ts_event, symbol=t.symbol, bucket=bucket,
            bucket_volume=1_000, buy_volume=buy, sell_volume=1_000 - buy,
            vpin=buy % 100 / 100 if full else None,
            vpin_cdf=bucket % VPIN_WINDOW / VPIN_WINDOW if full else None))
    return readings


def _book_records(depth: list[DepthSnapshot]) -> list[MicrostructureFeatures]:
    """Per symbol and second with a snapshot, a record of the last one dated at the second's
    end, in order of those ends; every ONE_SIDED_EVERY-th as if the ask side were empty."""
    last: dict[tuple[int, str], DepthSnapshot] = {}
    for d in depth:
        last[(d.ts_event - d.ts_event % SECOND_NS + SECOND_NS, d.symbol)] = d
    records = []
    for i, ((end, symbol), d) in enumerate(sorted(last.items())):
        bids, asks = sum(d.bid_sizes[:5]), sum(d.ask_sizes[:5])
        imbalance = (bids - asks) / (bids + asks) if bids + asks else 0.0
        one_sided = i % ONE_SIDED_EVERY == 0
        spread = None if one_sided else d.ask_prices[0] - d.bid_prices[0]
        records.append(MicrostructureFeatures(
            ts_event=end, ts_init=end, symbol=symbol, spread=spread,
            mid=None if one_sided else (d.ask_prices[0] + d.bid_prices[0]) / 2,
            microprice=None, imbalance_1=imbalance, imbalance_5=imbalance,
            imbalance_10=imbalance, bid_depth=[bids], ask_depth=[0 if one_sided else asks],
            pressure=imbalance))
    return records


def _generic(model: str, key_field: str) -> list[Event]:
    """A valid event of `model` every 5 s for MINUTES, round-robin over SYMBOLS as keys."""
    count = MINUTES * 12
    return [
        event(model, ts_event=T0 + i * 5 * SECOND_NS, ts_init=T0 + i * 5 * SECOND_NS,
              **{key_field: SYMBOLS[i % len(SYMBOLS)]})
        for i in range(count)
    ]


def topic_events(topic: str) -> list[Event]:
    """The sample events of one catalog topic, in arrival order."""
    spec = catalog()[topic]
    market = _market()
    if spec.value in market:
        return market[spec.value]
    return _generic(spec.value, spec.key)


def merged_input(topics: tuple[str, ...]) -> list[tuple[str, Event]]:
    """The samples of `topics` as one stream: by event time, arrival order within a topic
    kept (a late event stays behind), ties in the order the topics are given."""
    rows = []
    for n, topic in enumerate(topics):
        events = topic_events(topic)
        arrival = itertools.accumulate((ev.ts_event for ev in events), max)
        rows += [(ts, n, i, topic, ev) for i, (ts, ev) in enumerate(
            zip(arrival, events, strict=True))]
    rows.sort(key=lambda row: row[:3])
    return [(topic, ev) for *_, topic, ev in rows]
