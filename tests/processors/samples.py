"""Realistic input events per catalog topic, for tests that run every engine (conformance).

Samples are made per input topic, not per engine, so a new engine that reads an existing
topic is tested without new samples. The market topics come from the seeded simulated market
(`streams.feeds.sim`: several symbols, Pareto sizes, quotes and ten-level books), with what
live feeds also deliver: prints flagged unreported, and events arriving late (behind a later
event of their symbol). Bars are those trades' 1-minute OHLCV bars. VPIN readings fall on
the trades that complete a bucket, without a value for each symbol's first buckets; order-book
records are the depth's, one per symbol and second dated at the second's end (so at each bar's
end too), some of a one-sided book without a spread. Executions are fills of a few accounts
at some of those trades' prices (buys and sells, so positions open, add, reduce and flip),
with a fee. Positions and portfolio snapshots are the portfolio engine's over those fills and
bars, from a starting cash small enough that accounts go in and out of margin calls. Orders
are a strategy's, for a few accounts: market and limit (near the symbol's last trade, on both
sides of it), every time in force, a limit without a price now and then, and re-deliveries;
the same orders as pre-trade risk approves them. Cancels name some of those orders, before
and after they arrive, and some twice. Risk commands halt, reduce and resume each account in
turn; margin states of each account go from ample to negative excess liquidity under both
methods; risk alerts raise and clear each symbol's VPIN alert, among alerts of other kinds.
Factor-model records come as if each minute were a day: a covariance per minute end of two
models (the default name and the risk parameters' example's, whose first fits lack a
sector), and
each symbol's exposures to both from its own minute on, one of them arriving after a newer.
Macro observations are FRED's series that the features engine reads (the yield curve, HY
OAS, VIX, NFCI) and one it does not, weekly for over a year, published series by series as a
feed's first poll does (so most arrive behind later ones), each released the evening after
its date; within the sample minutes a new curve is released and an HY OAS value revised.
Any other topic gets a generic stream of its model: the factory's valid event, keyed by
several keys over minutes.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache

import numpy as np
import torch

from processors.factor_model.params import DEFAULT_MODEL_NAME
from streams.catalog import Catalog
from streams.clock import TestClock
from streams.codec import event_columns
from streams.feeds.sim import SimMarket
from streams.schema import (
    Alert,
    ApprovedOrder,
    Bar,
    CancelRequest,
    DepthSnapshot,
    Event,
    Execution,
    FactorExposure,
    FactorReturns,
    MarginState,
    MicrostructureFeatures,
    Order,
    RiskCommand,
    Trade,
    VpinReading,
)
from streams.settings import REPO_ROOT
from tests.factories import T0, event

SYMBOLS = ("ESZ6", "AAPL", "EURUSD", "NQZ6")
MINUTES = 4
SECOND_NS = 1_000_000_000
MINUTE_NS = 60 * SECOND_NS
LATE_EVERY = 37  # every 37th event of a topic arrives after the one behind it
UNREPORTED_EVERY = 11  # every 11th trade is flagged unreported
FILL_EVERY = 5  # every 5th trade's price and time make a fill of one of ACCOUNTS
ACCOUNTS = ("ACC1", "ACC2", "ACC3")
ACCOUNT_CASH = Decimal(20_000)  # each account's starting cash: some go into margin calls
ORDER_ACCOUNTS = ("paper", "ACC1", "ACC2")  # the accounts of the sample orders, in turn
TRADES_PER_BUCKET = 5  # a symbol's every 5th trade completes a VPIN bucket
VPIN_WINDOW = 4  # VPIN readings without a value, per symbol
ONE_SIDED_EVERY = 13  # every 13th order-book record has no ask side: no spread
SECTORS = {"ESZ6": "Index futures", "NQZ6": "Index futures", "AAPL": "Technology",
           "EURUSD": "Currencies"}
FACTOR_MODELS = (DEFAULT_MODEL_NAME, "us_style")  # the default and the risk example's
# the features engine's default curve and stress series, and one it ignores
MACRO_SERIES = ("DGS3MO", "DGS2", "DGS10", "BAMLH0A0HYM2", "VIXCLS", "NFCI", "UNRATE")
MACRO_WEEKS = 60
HOUR_NS = 3600 * SECOND_NS
DAY_NS = 24 * HOUR_NS


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
    by_model["Execution"] = _executions(trades)
    by_model["Position"], by_model["PortfolioSnapshot"] = _accounting(
        by_model["Execution"], by_model["Bar"])
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


def _orders(trades: list[Trade]) -> list[Order]:
    """A strategy's orders every 5 s, round-robin over SYMBOLS, then over ORDER_ACCOUNTS: market
    and limit orders (limits 0.1 % either side of the symbol's last trade), GTC / IOC / DAY;
    every 9th limit order has no price (the venue rejects it) and every 7th order is delivered
    twice."""
    last: dict[str, Decimal] = {}
    trades = sorted(trades, key=lambda t: t.ts_event)
    orders: list[Order] = []
    for i in range(MINUTES * 12):
        ts = T0 + i * 5 * SECOND_NS + 1
        while trades and trades[0].ts_event < ts:
            t = trades.pop(0)
            last[t.symbol] = Decimal(t.price)
        symbol = SYMBOLS[i % len(SYMBOLS)]
        side = "buy" if i % 3 else "sell"
        kind = "market" if i % 4 == 0 else "limit"
        offset = Decimal("0.001") * (1 if (side == "buy") == (i % 5 < 2) else -1)
        price = round(last.get(symbol, Decimal(100)) * (1 + offset), 2)
        order = Order(
            ts_event=ts, ts_init=ts, order_id=f"sample:{symbol}:{i + 1}", strategy="sample",
            account=ORDER_ACCOUNTS[i // len(SYMBOLS) % len(ORDER_ACCOUNTS)], symbol=symbol,
            side=side, quantity=1 + (i * 37) % 400,
            order_type=kind, limit_price=price if kind == "limit" and i % 9 else None,
            time_in_force=("GTC", "IOC", "DAY")[i % 3],
        )
        orders += [order, order] if i % 7 == 3 else [order]
    return orders


def _order_prefixes() -> list[str]:
    """Order-id prefixes: `o` (another's orders) and every engine that places orders (what a
    strategy reads as its own fills and events)."""
    from processors import ENGINES

    return ["o", *(name for name in ENGINES if "logic.orders" in ENGINES[name].outputs)]


def _executions(trades: list[Trade]) -> list[Execution]:
    """Fills at every FILL_EVERY-th trade, accounts and sides in a fixed irregular pattern,
    quantities from 1 to 7, fee 1 bp of the notional; order ids of every prefix in turn."""
    prefixes = _order_prefixes()
    fills = []
    for n, t in enumerate(trades[::FILL_EVERY]):
        quantity = 1 + n * 5 % 7
        order_id = f"{prefixes[n % len(prefixes)]}:{t.symbol}:{n + 1}"
        fills.append(Execution(
            ts_event=t.ts_event, ts_init=t.ts_init, exec_id=f"{order_id}-1", order_id=order_id,
            account=ACCOUNTS[n * 7 % len(ACCOUNTS) if n % 4 else 0], symbol=t.symbol,
            side="buy" if n * 3 % 5 < 3 else "sell", price=t.price, quantity=quantity,
            commission=t.price * quantity / 10_000,
        ))
    return fills


def _accounting(fills: list[Execution], bars: list[Bar]) -> tuple[list[Event], list[Event]]:
    """The portfolio engine's positions and snapshots over `fills` and `bars` in event time
    (a bar before a fill of the same time), each account starting with ACCOUNT_CASH."""
    from processors.portfolio import PortfolioEngine, PortfolioParams

    engine = PortfolioEngine(PortfolioParams(cash=ACCOUNT_CASH), TestClock(0),
                             torch.device("cpu"))
    events = sorted([*bars, *fills], key=lambda ev: (ev.ts_event, isinstance(ev, Execution)))
    outputs: dict[str, list[Event]] = defaultdict(list)
    for ev in events:
        topic = "market.executions" if isinstance(ev, Execution) else "market.bars.1m"
        for emit in engine.process(topic, event_columns(type(ev).__name__, [ev])):
            outputs[emit.topic].append(emit.value)
    return outputs["logic.positions"], outputs["logic.portfolio"]


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


def _order_events() -> list[Event]:
    """Order events every 5 s, round-robin over SYMBOLS and the order-id prefixes: ids
    `<prefix>:<symbol>:<n>`, each order accepted, then partially filled, then filled."""
    prefixes = _order_prefixes()
    out = []
    for i in range(MINUTES * 12):
        symbol, prefix = SYMBOLS[i % len(SYMBOLS)], prefixes[i % len(prefixes)]
        n, step = divmod(i // len(SYMBOLS), 3)
        order_id, ts = f"{prefix}:{symbol}:{n + 1}", T0 + i * 5 * SECOND_NS
        out.append(event("OrderEvent", ts_event=ts, ts_init=ts, order_id=order_id,
                         symbol=symbol, event_id=f"{order_id}#{step + 1}", strategy=prefix,
                         state=("accepted", "partially_filled", "filled")[step],
                         filled_quantity=5 * step, leaves_quantity=10 - 5 * step))
    return out


@cache
def _sample_orders() -> list[Order]:
    return _orders([t for t in _market()["Trade"] if not t.unreported])


def _cancels(orders: list[Order]) -> list[Event]:
    """Cancels of every 4th order, in time order: most 20 s after it (some still work then),
    every 3rd 2 s before it arrives, every 5th delivered twice; and one of an order that
    never comes."""
    cancels: list[tuple[int, CancelRequest]] = []
    for n, order in enumerate(dict.fromkeys(o.order_id for o in orders)):
        if n % 4:
            continue
        original = next(o for o in orders if o.order_id == order)
        ts = original.ts_event + (-2 if n % 3 == 0 else 20) * SECOND_NS
        cancel = CancelRequest(ts_event=ts, ts_init=ts, cancel_id=f"{order}:cancel:cmd-{n}",
                               order_id=order, account=original.account,
                               symbol=original.symbol, reason=f"sample halt cmd-{n}")
        cancels += [(ts, cancel)] * (2 if n % 5 == 0 else 1)
    ts = T0 + 90 * SECOND_NS
    cancels.append((ts, CancelRequest(ts_event=ts, ts_init=ts, cancel_id="x:cancel:cmd-x",
                                      order_id="never:AAPL:1", account="paper", symbol="AAPL",
                                      reason="sample halt cmd-x")))
    return [cancel for _, cancel in sorted(cancels, key=lambda c: c[0])]


def _risk_commands() -> list[Event]:
    """Each account of the orders and the fills halted, then reducing, then active again,
    one account after the other, 17 s apart."""
    commands = []
    for n, (account, action) in enumerate(itertools.product(
            dict.fromkeys(ORDER_ACCOUNTS + ACCOUNTS), ("halt", "reduce", "resume"))):
        ts = T0 + (30 + 17 * n) * SECOND_NS
        commands.append(RiskCommand(ts_event=ts, ts_init=ts, command_id=f"cmd-{n}",
                                    account=account, action=action,
                                    reason=f"sample {action}", issued_by="samples"))
    return sorted(commands, key=lambda c: (c.ts_event, c.account))


def _margin_states() -> list[Event]:
    """Each account's margin every 20 s: excess liquidity from ample to below zero and back,
    reg_t and portfolio in turn."""
    states = []
    for i in range(MINUTES * 3):
        for k, account in enumerate(dict.fromkeys(ORDER_ACCOUNTS + ACCOUNTS)):
            ts = T0 + (i * 20 + k) * SECOND_NS
            excess = Decimal((50_000, 5_000, 500, -1_000)[(i + k) % 4])
            states.append(MarginState(
                ts_event=ts, ts_init=ts, account=account, currency="USD",
                equity=Decimal(100_000), initial_margin=Decimal(100_000) - excess,
                maintenance_margin=Decimal(100_000) - excess, excess_liquidity=excess,
                method=("reg_t", "portfolio")[i % 2]))
    return states


def _risk_alerts() -> list[Event]:
    """Each symbol's VPIN alert raised and cleared, every 40 s in turn, with alerts of other
    kinds (a feed outage, an order rejection) between them."""
    alerts = []
    for i in range(MINUTES * 6):
        symbol, ts = SYMBOLS[i % len(SYMBOLS)], T0 + (i * 10 + 3) * SECOND_NS
        raised = i // len(SYMBOLS) % 2 == 0
        episode = T0 + ((i - (0 if raised else len(SYMBOLS))) * 10 + 3) * SECOND_NS
        alerts.append(Alert(
            ts_event=ts, ts_init=ts, alert_id=f"vpin:{symbol}:{episode}:{i}", kind="vpin",
            state="raised" if raised else "cleared",
            severity="warning" if raised else "info", symbol=symbol, message="sample",
            values={"vpin": 0.5, "vpin_cdf": 0.95 if raised else 0.5, "bucket": float(i)}))
        if i % 5 == 2:
            alerts.append(Alert(ts_event=ts, ts_init=ts, alert_id=f"feed_outage:sim:{ts}:{i}",
                                kind="feed_outage", state="raised", severity="critical",
                                symbol=symbol, message="sample outage"))
    return alerts


def _factor_returns() -> list[Event]:
    """Each model's covariance (market, the sectors, momentum, size) at every minute's end,
    a seeded A A' / 250 of daily size; us_style's first two lack Currencies (EURUSD's)."""
    rng = np.random.default_rng(5)
    records = []
    for minute in range(1, MINUTES + 1):
        ts = T0 + minute * MINUTE_NS
        for model in FACTOR_MODELS:
            sectors = sorted(s for s in set(SECTORS.values())
                             if model != "us_style" or minute > 2 or s != "Currencies")
            factors = ["market", *sectors, "momentum", "size"]
            a = rng.normal(0, 0.01, (len(factors), len(factors)))
            cov = a @ a.T / 2.5
            records.append(FactorReturns(
                ts_event=ts, ts_init=ts, model=model, day=date(2024, 1, minute), symbols=4,
                returns=dict.fromkeys(factors, 0.001),
                covariance={f: {g: float(cov[i, j]) for j, g in enumerate(factors)}
                            for i, f in enumerate(factors)}))
    return records


def _factor_exposures() -> list[Event]:
    """Each symbol's exposures to each model from minute 1 + (its index) // 2 on; the first
    record arrives after its symbol's and model's next one."""
    records = []
    for minute in range(1, MINUTES + 1):
        ts = T0 + minute * MINUTE_NS
        for n, symbol in enumerate(SYMBOLS):
            if minute < 1 + n // 2:
                continue
            for model in FACTOR_MODELS:
                records.append(FactorExposure(
                    ts_event=ts, ts_init=ts, model=model, symbol=symbol,
                    day=date(2024, 1, minute), sector=SECTORS[symbol], market_cap=1e11,
                    exposures={"momentum": 0.3 * n - 0.5 + 0.1 * minute, "size": 1 - 0.4 * n},
                    residual=0.001, specific_variance=1e-4 * (1 + n)))
    first = records.pop(0)
    newer = next(i for i, r in enumerate(records)
                 if (r.symbol, r.model) == (first.symbol, first.model))
    records.insert(newer + 1, first)
    return records


def _macro_observations() -> list[Event]:
    """MACRO_WEEKS of weekly observations per series, each series' history in one go."""
    last = (T0 // DAY_NS - 1) * DAY_NS  # the day before the sample minutes (midnight)
    records: list[Event] = []

    def utc_date(ts_ns: int) -> date:
        return datetime.fromtimestamp(ts_ns // SECOND_NS, UTC).date()

    def observation(series: str, n: int, known_ns: int, value: float) -> Event:
        return event("MacroObservation", ts_event=known_ns, ts_init=known_ns, series=series,
                     date=utc_date(last - n * 7 * DAY_NS), realtime_start=utc_date(known_ns),
                     value=value)

    for k, series in enumerate(MACRO_SERIES):
        records += [observation(series, n, last - n * 7 * DAY_NS + DAY_NS + 21 * HOUR_NS,
                                k + 1 + ((n * (k + 3)) % 11) / 10)
                    for n in range(MACRO_WEEKS, 0, -1)]
    records += [observation(series, 0, T0 + 90 * SECOND_NS, k + 1.05)
                for k, series in enumerate(MACRO_SERIES[:3])]
    records.append(observation(MACRO_SERIES[3], 1, T0 + 150 * SECOND_NS, 4.9))
    return records


def topic_events(topic: str) -> list[Event]:
    """The sample events of one catalog topic, in arrival order."""
    spec = catalog()[topic]
    market = _market()
    if spec.value in market:
        return market[spec.value]
    orders = _sample_orders()
    special = {
        "Order": lambda: orders,
        "ApprovedOrder": lambda: [ApprovedOrder(**o.model_dump()) for o in orders],
        "CancelRequest": lambda: _cancels(orders),
        "OrderEvent": _order_events,
        "RiskCommand": _risk_commands,
        "MarginState": _margin_states,
        "Alert": _risk_alerts,
        "FactorReturns": _factor_returns,
        "FactorExposure": _factor_exposures,
        "MacroObservation": _macro_observations,
    }
    if spec.value in special:
        return special[spec.value]()
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
