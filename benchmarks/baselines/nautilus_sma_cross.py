"""Baseline: sma_cross in NautilusTrader's BacktestEngine, on a bar file or a trade tape.

Runs in its own virtualenv (nautilus_trader 1.221.0, the last release for Python 3.11; made
by `make bench`), started by benchmarks/backtest_throughput.py; writes a JSON result.

- bars: one Equity per symbol on a simulated venue (cash account, netting, taker fee =
  fee_bps), the file's bars as external 1-minute LAST bars (ts_event = ts_init = bar end), one
  strategy subscribed to all of them with its SimpleMovingAverage indicators, market orders.
  NautilusTrader executes a bar's orders against that bar (its documented bar execution:
  open, high, low, close move its L1 book), so a market order fills at the CLOSE of the bar
  that decided it (the benchmark's bars open at the previous close, so at the price of our
  next open, less slippage, which it has no basis-point model for), and the last bar's order
  fills too; its commissions are rounded to the cent (USD's precision);
- trades: the tape as TradeTicks (trade execution on), aggregated by its data engine into
  1-MINUTE-LAST-INTERNAL bars that drive the same strategy; orders fill against the trades.

The rate counts the whole run: reading the Parquet file, building Nautilus objects, and
`engine.run()`. Usage: python nautilus_sma_cross.py --kind bars|trades --input FILE
--result OUT.json [--fast 10 --slow 30 --quantity 100 --fee-bps 1 --cash 1000000 --tie X]
"""

from __future__ import annotations

import argparse
import json
import time
from decimal import Decimal

import pandas as pd
from nautilus_trader.backtest.config import BacktestEngineConfig
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.indicators.averages import SimpleMovingAverage
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.events import OrderFilled
from nautilus_trader.model.identifiers import InstrumentId, Symbol, TraderId, Venue
from nautilus_trader.model.instruments import Equity
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.persistence.wranglers import BarDataWrangler, TradeTickDataWrangler
from nautilus_trader.trading.strategy import Strategy

VENUE = Venue("SIM")


class SmaCrossConfig(StrategyConfig, frozen=True):
    bar_types: tuple[str, ...]
    fast: int = 10
    slow: int = 30
    quantity: int = 100
    tie: float = 0.0


class SmaCross(Strategy):
    """Per instrument: target +quantity while SMA(fast) > SMA(slow), 0 while below, kept on
    a tie; a market order when the target differs from position plus open orders."""

    def __init__(self, config: SmaCrossConfig) -> None:
        super().__init__(config)
        self.averages: dict[BarType, tuple[SimpleMovingAverage, SimpleMovingAverage]] = {}
        self.targets: dict[InstrumentId, int] = {}
        self.last_close: dict[str, float] = {}
        self.fills: list[list] = []

    def on_start(self) -> None:
        for text in self.config.bar_types:
            bar_type = BarType.from_str(text)
            pair = (SimpleMovingAverage(self.config.fast), SimpleMovingAverage(self.config.slow))
            for average in pair:
                self.register_indicator_for_bars(bar_type, average)
            self.averages[bar_type] = pair
            self.targets[bar_type.instrument_id] = 0
            self.subscribe_bars(bar_type)

    def on_bar(self, bar: Bar) -> None:
        instrument_id = bar.bar_type.instrument_id
        self.last_close[instrument_id.symbol.value] = bar.close.as_double()
        fast, slow = self.averages[bar.bar_type]
        if not slow.initialized:
            return
        diff = fast.value - slow.value
        if diff > self.config.tie:
            self.targets[instrument_id] = self.config.quantity
        elif diff < -self.config.tie:
            self.targets[instrument_id] = 0
        held = self.portfolio.net_position(instrument_id) + sum(
            (o.leaves_qty.as_decimal() if o.side == OrderSide.BUY else -o.leaves_qty.as_decimal())
            for o in self.cache.orders_open(instrument_id=instrument_id))
        delta = self.targets[instrument_id] - held
        if delta:
            side = OrderSide.BUY if delta > 0 else OrderSide.SELL
            self.submit_order(self.order_factory.market(instrument_id, side,
                                                        Quantity.from_int(int(abs(delta)))))

    def on_order_filled(self, event: OrderFilled) -> None:
        self.fills.append([event.ts_event, event.instrument_id.symbol.value,
                           "buy" if event.order_side == OrderSide.BUY else "sell",
                           int(event.last_qty), event.last_px.as_double(),
                           event.commission.as_double()])


def equity(symbol: str, fee_bps: float) -> Equity:
    fee = Decimal(str(fee_bps)) / 10_000
    return Equity(
        instrument_id=InstrumentId(Symbol(symbol), VENUE), raw_symbol=Symbol(symbol),
        currency=USD, price_precision=2, price_increment=Price.from_str("0.01"),
        lot_size=Quantity.from_int(1), ts_event=0, ts_init=0, maker_fee=fee, taker_fee=fee,
    )


def load(kind: str, path: str, fee_bps: float) -> tuple[list[Equity], list, list[str], int]:
    """Instruments, Nautilus data objects, the bar types to subscribe, and the input rows."""
    frame = pd.read_parquet(path)
    instruments, data, bar_types = [], [], []
    for symbol, rows in frame.groupby("symbol", sort=True):
        instrument = equity(str(symbol), fee_bps)
        instruments.append(instrument)
        rows = rows.set_index(pd.to_datetime(rows["ts_event"], unit="ns", utc=True))
        if kind == "bars":
            bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
            data += BarDataWrangler(bar_type, instrument).process(
                rows[["open", "high", "low", "close", "volume"]])
        else:
            bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-INTERNAL")
            ticks = pd.DataFrame({
                "price": rows["price"], "quantity": rows["size"].astype(float),
                "side": rows["aggressor"].str.upper(),
                "trade_id": rows["ts_event"].astype(str) + "-" + str(symbol)}, index=rows.index)
            data += TradeTickDataWrangler(instrument).process(ticks)
        bar_types.append(str(bar_type))
    return instruments, data, bar_types, len(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("bars", "trades"), required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--fast", type=int, default=10)
    parser.add_argument("--slow", type=int, default=30)
    parser.add_argument("--quantity", type=int, default=100)
    parser.add_argument("--fee-bps", type=float, default=1.0)
    parser.add_argument("--cash", type=float, default=1_000_000.0)
    parser.add_argument("--tie", type=float, default=0.0)
    args = parser.parse_args()

    started = time.perf_counter()
    instruments, data, bar_types, rows = load(args.kind, args.input, args.fee_bps)
    engine = BacktestEngine(BacktestEngineConfig(trader_id=TraderId("BENCH-001"),
                                                 logging=LoggingConfig(log_level="ERROR")))
    engine.add_venue(VENUE, oms_type=OmsType.NETTING, account_type=AccountType.CASH,
                     starting_balances=[Money(args.cash, USD)], base_currency=USD,
                     trade_execution=args.kind == "trades")
    for instrument in instruments:
        engine.add_instrument(instrument)
    engine.add_data(data)
    strategy = SmaCross(SmaCrossConfig(bar_types=tuple(bar_types), fast=args.fast,
                                       slow=args.slow, quantity=args.quantity, tie=args.tie))
    engine.add_strategy(strategy)
    loaded = time.perf_counter()
    engine.run()
    done = time.perf_counter()

    cash = engine.portfolio.account(VENUE).balance_total(USD).as_double()
    held = sum(float(engine.portfolio.net_position(i.id)) * strategy.last_close.get(
        i.id.symbol.value, 0.0) for i in instruments)
    result = {"rows": rows, "seconds": done - started, "load_seconds": loaded - started,
              "fills": strategy.fills, "cash": cash, "equity": cash + held}
    engine.dispose()
    with open(args.result, "w") as out:
        json.dump(result, out)


if __name__ == "__main__":
    main()
