"""The pre-trade risk engine: logic.orders -> logic.orders.approved, or a rejection.

A thin shell around the checks (processors/pretrade/checks.py) and the per-account state
(account.py); the rules are in `processors.pretrade`. Outputs: approved orders keyed by
symbol (the execution engine's key), rejections as order events keyed by symbol plus an
alert, cancels of a halted account's open orders keyed by symbol, trading-state alerts keyed
by account.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch

from processors.base import Emit, Engine, State, handles
from processors.pretrade.account import Account, MarginView, Side
from processors.pretrade.checks import Checks, Rejection
from processors.pretrade.margin import MarginGate
from processors.pretrade.market import MarketView
from processors.pretrade.params import PretradeParams
from processors.prices import decimal_of
from processors.strategies.rows import RowModels
from streams.clock import Clock
from streams.schema import Alert, ApprovedOrder, CancelRequest, Order, OrderEvent, RiskCommand
from streams.schema.columns import SIDE_CODES
from streams.schema.logic import STATE_AFTER, TradingState

log = logging.getLogger(__name__)

ORDERS, APPROVED = "logic.orders", "logic.orders.approved"
ORDER_EVENTS, EXECUTIONS = "logic.order.events", "market.executions"
CANCELS, ALERTS = "logic.order.cancels", "logic.risk.alerts"
MARGIN, COMMANDS, BARS = "logic.margin", "logic.risk.commands", "market.bars.1m"
REJECTED_KIND, STATE_KIND = "order_rejected", "trading_state"
SEVERITY: dict[TradingState, Literal["info", "warning", "critical"]] = {
    "HALTED": "critical", "REDUCING": "warning", "ACTIVE": "info"}
_ORDER_ROWS, _COMMAND_ROWS = RowModels("Order"), RowModels("RiskCommand")
_SIDE_NAMES: dict[int, Side] = {SIDE_CODES["buy"]: "buy", SIDE_CODES["sell"]: "sell"}


class PretradeEngine(Engine):
    """Pre-trade risk per account, between the strategies and the venue (processors.pretrade)."""

    name = "pretrade"
    outputs = (APPROVED, ORDER_EVENTS, CANCELS, ALERTS)
    key_field = "account"
    params_model = PretradeParams

    def __init__(self, params: PretradeParams, clock: Clock, device: torch.device) -> None:
        super().__init__(params, clock, device)
        self.params: PretradeParams = params
        self._accounts: dict[str, Account] = {}
        self._market = MarketView()
        self._checks = Checks(params, self._market, MarginGate(device))
        self._unmargined: set[str] = set()  # accounts logged as checked without a margin state

    # ---- orders -------------------------------------------------------------------------

    @handles(ORDERS)
    def on_orders(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        emits: list[Emit] = []
        now = self.clock.timestamp_ns()
        for order in _ORDER_ROWS.build(columns, range(len(columns["ts_event"]))):
            assert isinstance(order, Order)
            account = self._account(order.account)
            self.mark_dirty(order.account)
            if not account.seen.add(order.order_id):
                log.info("re-delivered order ignored order_id=%s", order.order_id)
                continue
            self._note_unmargined(order.account, account)
            rejection = self._checks.first_failure(order.account, account, order)
            if rejection is None:
                account.ledger(order.symbol).submitted(order)
                approved = ApprovedOrder(**{**order.model_dump(), "ts_init": now})
                emits.append(Emit(APPROVED, order.symbol, approved))
            else:
                emits += _rejected(order, rejection, now)
        return emits

    def _note_unmargined(self, name: str, account: Account) -> None:
        if self.params.margin_gate and account.margin is None and name not in self._unmargined:
            self._unmargined.add(name)
            log.info("margin gate open until the account's first margin state account=%s",
                     name)

    # ---- what happened to orders and positions -------------------------------------------

    @handles(ORDER_EVENTS)
    def on_order_events(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        rows = zip(columns["account"].tolist(), columns["symbol"].tolist(),
                   columns["order_id"].tolist(), columns["state"].tolist(),
                   columns["filled_quantity"].tolist(), strict=True)
        for name, symbol, order_id, state, filled in rows:
            account = self._accounts.get(name)
            ledger = None if account is None else account.ledgers.get(symbol)
            if ledger is None or order_id not in ledger.orders:  # not an order it approved
                continue
            ledger.order_event(order_id, state, filled)
            self.mark_dirty(name)
        return []

    @handles(EXECUTIONS)
    def on_executions(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        rows = zip(columns["account"].tolist(), columns["symbol"].tolist(),
                   columns["ts_event"].tolist(), columns["exec_id"].tolist(),
                   columns["order_id"].tolist(), columns["side"].tolist(),
                   columns["quantity"].tolist(), columns["price"].tolist(), strict=True)
        for name, symbol, ts, exec_id, order_id, side, quantity, price in rows:
            account = self._account(name)
            if account.ledger(symbol).executed(exec_id, order_id, _SIDE_NAMES[side], quantity):
                account.filled(symbol, ts, decimal_of(price))
            self.mark_dirty(name)
        return []

    @handles(MARGIN)
    def on_margin(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        rows = zip(columns["account"].tolist(), columns["ts_event"].tolist(),
                   columns["equity"].tolist(), columns["maintenance_margin"].tolist(),
                   columns["excess_liquidity"].tolist(), columns["method"].tolist(),
                   strict=True)
        for name, ts, equity, maintenance, excess, method in rows:
            account = self._account(name)
            if account.margin is None or ts >= account.margin.ts:
                account.margin = MarginView(ts, decimal_of(equity), decimal_of(maintenance),
                                            decimal_of(excess), method)
            self.mark_dirty(name)
        return []

    # ---- operators' commands --------------------------------------------------------------

    @handles(COMMANDS)
    def on_commands(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        emits: list[Emit] = []
        for command in _COMMAND_ROWS.build(columns, range(len(columns["ts_event"]))):
            assert isinstance(command, RiskCommand)
            emits += self._command(self._account(command.account), command)
            self.mark_dirty(command.account)
        return emits

    def _command(self, account: Account, command: RiskCommand) -> list[Emit]:
        """Set the trading state; a halt also cancels every open order of the account."""
        now, name = self.clock.timestamp_ns(), command.account
        emits = []
        if command.action == "halt":
            emits = [Emit(CANCELS, symbol, CancelRequest(
                ts_event=command.ts_event, ts_init=now,
                cancel_id=f"{order_id}:cancel:{command.command_id}", order_id=order_id,
                account=name, symbol=symbol, reason=f"account {name} halted {_by(command)}"))
                for symbol, order_id in account.open_orders()]
        mode, state = account.mode, STATE_AFTER[command.action]
        if state == mode.state:
            return emits
        if mode.state == "ACTIVE":
            mode.episode = f"{STATE_KIND}:{name}:{command.ts_event}:{command.command_id}"
        message = f"account {name}: {mode.state} -> {state} {_by(command)}"
        if command.action == "halt":
            message += f"; {len(emits)} open orders canceled"
        alert = Alert(
            ts_event=command.ts_event, ts_init=now, alert_id=mode.episode or "",
            kind=STATE_KIND, state="cleared" if state == "ACTIVE" else "raised",
            severity=SEVERITY[state], symbol=None, message=message,
            values={"open_orders_canceled": len(emits)} if command.action == "halt" else {})
        log.warning("trading state changed account=%s from=%s to=%s command=%s canceled=%d",
                    name, mode.state, state, command.command_id, len(emits))
        mode.state, mode.command_id, mode.reason = state, command.command_id, command.reason
        if state == "ACTIVE":
            mode.episode = None
        return [*emits, Emit(ALERTS, name, alert)]

    # ---- the market (broadcast) -----------------------------------------------------------

    @handles(BARS, broadcast=True)
    def on_bars(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        self._market.on_bars(columns)
        return []

    @handles(ALERTS, broadcast=True)
    def on_alerts(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        self._market.on_alerts(columns)
        return []

    def quiet_rows(self, topic: str, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Bars and alerts only update reference prices and toxicity (what later orders are
        checked against): they never emit, and every row of them is quiet."""
        return np.full(len(columns["ts_event"]), topic in (BARS, ALERTS), dtype=bool)

    # ---- state ----------------------------------------------------------------------------

    def _account(self, name: str) -> Account:
        account = self._accounts.get(name)
        if account is None:
            account = self._accounts[name] = Account()
        return account

    def keys(self) -> list[str]:
        return list(self._accounts)

    def snapshot(self, key: str) -> State:
        return self._accounts[key].snapshot()

    def restore(self, key: str, state: State) -> None:
        self._accounts[key] = Account.restore(state)

    def forget(self, key: str) -> None:
        self._accounts.pop(key, None)
        self._dirty.discard(key)


def _by(command: RiskCommand) -> str:
    """`by <command_id> (<issued_by>): <reason>`, the parts it has."""
    issued_by = f" ({command.issued_by})" if command.issued_by else ""
    reason = f": {command.reason}" if command.reason else ""
    return f"by {command.command_id}{issued_by}{reason}"


def _rejected(order: Order, rejection: Rejection, now: int) -> list[Emit]:
    """The order's lifecycle at pre-trade risk: submitted, then rejected with the reason
    (the venue's event ids), and the rejection as an alert."""
    common: dict[str, Any] = {
        "ts_event": order.ts_event, "ts_init": now, "order_id": order.order_id,
        "strategy": order.strategy, "account": order.account, "symbol": order.symbol,
        "filled_quantity": 0}
    submitted = OrderEvent(**common, event_id=f"{order.order_id}#1", state="submitted",
                           leaves_quantity=order.quantity)
    rejected = OrderEvent(**common, event_id=f"{order.order_id}#2", state="rejected",
                          leaves_quantity=0, reason=rejection.reason)
    alert = Alert(
        ts_event=order.ts_event, ts_init=now,
        alert_id=f"{REJECTED_KIND}:{order.account}:{order.order_id}", kind=REJECTED_KIND,
        state="raised", severity="warning", symbol=order.symbol,
        message=f"order {order.order_id} ({order.side} {order.quantity} {order.symbol}, "
                f"strategy {order.strategy}) rejected: {rejection.reason}",
        values=rejection.values)
    return [Emit(ORDER_EVENTS, order.symbol, submitted),
            Emit(ORDER_EVENTS, order.symbol, rejected),
            Emit(ALERTS, order.symbol, alert)]
