"""sma_cross as a backtrader strategy over one data feed per symbol (see
benchmarks/sma_cross_peers.py for the definition and `backtrader_sma_cross` for the broker
settings). backtrader calls `next` once every feed's SMA(slow) exists, so the first decision
is on each symbol's bar `slow`."""

from __future__ import annotations

import backtrader as bt
import numpy as np

from benchmarks.sma_cross_peers import Fill


class SmaCrossStrategy(bt.Strategy):
    params = (("fast", 10), ("slow", 30), ("quantity", 100), ("tie", 0.0),
              ("ts_by_symbol", None))

    def __init__(self) -> None:
        self.averages = {data: (bt.indicators.SMA(data.close, period=self.p.fast),
                                bt.indicators.SMA(data.close, period=self.p.slow))
                         for data in self.datas}
        self.targets = {data: 0 for data in self.datas}
        self.open_orders: dict[int, tuple[bt.feed.DataBase, int]] = {}  # ref -> (data, signed qty)
        self.fills: list[Fill] = []

    def next(self) -> None:
        for data, (fast, slow) in self.averages.items():
            diff = fast[0] - slow[0]
            if diff > self.p.tie:
                self.targets[data] = self.p.quantity
            elif diff < -self.p.tie:
                self.targets[data] = 0
            held = self.getposition(data).size + sum(
                size for of, size in self.open_orders.values() if of is data)
            delta = self.targets[data] - held
            if delta:
                order = (self.buy if delta > 0 else self.sell)(data=data, size=abs(delta),
                                                               exectype=bt.Order.Market)
                self.open_orders[order.ref] = (data, delta)

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            executed = order.executed
            ts: np.ndarray = self.p.ts_by_symbol[order.data._name]
            self.fills.append(Fill(
                int(ts[len(order.data) - 1]), order.data._name,
                "buy" if order.isbuy() else "sell", int(abs(executed.size)),
                float(executed.price), float(executed.comm)))
        if not order.alive():
            self.open_orders.pop(order.ref, None)
