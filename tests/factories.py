"""Stub factories with overridable defaults, for the wire models and the columnar batches.

`trade(**overrides)` and friends build valid models; `event(name, **overrides)` builds one
valid instance of any model in `streams.schema.MODELS`. `columns(name, events)` (and
`trade_columns(trades)`) builds the columnar batch exactly as `streams.codec.decode_columns`
does, from the one layout of streams/schema/columns.py, so engine tests can skip the JSON
round trip.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import numpy as np

from streams.codec import event_columns
from streams.schema import MODELS, Event, Quote, Trade

MINUTE_NS = 60 * 1_000_000_000
# 2023-11-14T22:13:00Z: a minute boundary, so offsets from it read as "second s of minute m".
T0 = 1_699_999_980 * 1_000_000_000
assert T0 % MINUTE_NS == 0


_DEFAULTS: dict[str, dict[str, Any]] = {
    "Trade": {"symbol": "AAPL", "price": "101.01", "size": 100, "aggressor": "buy",
              "trade_id": "t-1", "venue": "XNAS"},
    "Quote": {"symbol": "AAPL", "bid_price": "101.00", "bid_size": 300,
              "ask_price": "101.02", "ask_size": 200, "venue": "XNAS"},
    "DepthSnapshot": {"symbol": "AAPL",
                      "bid_prices": ["101.00", "100.99", "100.98"], "bid_sizes": [300, 200, 100],
                      "ask_prices": ["101.02", "101.03"], "ask_sizes": [200, 400],
                      "venue": "XNAS"},
    "Bar": {"bar_id": f"AAPL@1m@{T0}", "symbol": "AAPL", "start_ns": T0,
            "open": "101.00", "high": "101.50", "low": "100.75", "close": "101.25",
            "volume": 1_000, "trade_count": 12, "vwap": "101.125"},
    "Execution": {"exec_id": "e-1", "order_id": "o-1", "account": "ACC1", "symbol": "AAPL",
                  "side": "buy", "price": "101.01", "quantity": 10, "commission": "0.35"},
    "MacroObservation": {"source": "fred", "series": "DGS10", "date": "2024-01-02",
                         "realtime_start": "2024-01-03", "value": 4.42, "unit": "percent"},
    "Fundamental": {"source": "edgar", "symbol": "AAPL", "field": "revenue", "period": "FY2023",
                    "period_end": "2023-09-30", "value": 383_285_000_000.0, "unit": "USD",
                    "filed": "2023-11-03", "form": "10-K"},
    "Filing": {"source": "edgar", "symbol": "AAPL", "cik": 320193,
               "accession": "0000320193-23-000106", "form": "10-K", "filed": "2023-11-03",
               "report_date": "2023-09-30", "primary_document": "aapl-20230930.htm",
               "description": "10-K", "items": None},
    "DailyPrice": {"source": "alphavantage", "symbol": "IBM", "date": "2024-05-09",
                   "open": "167.50", "high": "168.25", "low": "166.50", "close": "167.15",
                   "volume": 3_148_234, "dividend": "1.67", "split": 1.0},
    "VpinReading": {"symbol": "AAPL", "bucket": 7, "bucket_volume": 10_000,
                    "buy_volume": 6_000.0, "sell_volume": 4_000.0, "vpin": 0.31, "vpin_cdf": 0.8},
    "MicrostructureFeatures": {"symbol": "AAPL", "spread": "0.02", "mid": "101.01",
                               "microprice": "101.012", "imbalance_1": 0.2, "imbalance_5": 0.1,
                               "imbalance_10": 0.05, "bid_depth": [300, 200], "ask_depth": [200],
                               "pressure": 0.4},
    "FeatureVector": {"symbol": "AAPL", "values": {"ret_1m": 0.001, "vol_5m": 0.02}},
    "FactorVector": {"symbol": "AAPL", "values": {"KMID": 0.0025, "MA5": 1.001}},
    "Signal": {"signal_id": "s-1", "strategy": "mom", "symbol": "AAPL", "direction": 1,
               "strength": 0.7},
    "Prediction": {"prediction_id": "p-1", "model": "gbm", "version": 1, "symbol": "AAPL",
                   "horizon_ns": MINUTE_NS, "value": 0.0012},
    "Alert": {"alert_id": "a-1", "kind": "vpin", "state": "raised", "severity": "warning",
              "symbol": "AAPL", "message": "VPIN above 0.8", "values": {"vpin": 0.83}},
    "MarginState": {"account": "ACC1", "currency": "USD", "equity": "100000.00",
                    "initial_margin": "25000.00", "maintenance_margin": "20000.00",
                    "excess_liquidity": "80000.00"},
    "ApprovedOrder": {"order_id": "o-1", "strategy": "mom", "account": "ACC1", "symbol": "AAPL",
                      "side": "buy", "quantity": 10, "order_type": "market"},
    "CancelRequest": {"cancel_id": "o-1:cancel:c-1", "order_id": "o-1", "account": "ACC1",
                      "symbol": "AAPL", "reason": "account halted: c-1"},
    "RiskReport": {"account": "ACC1", "currency": "USD", "gross_exposure": 10_101.0,
                   "net_exposure": -10_101.0, "horizon_bars": 1, "bar_seconds": 60,
                   "window_bars": 250, "var_hist_95": 120.5, "cvar_hist_95": 150.25,
                   "var_param_95": 118.0, "var_mc_95": 119.0, "stress": {"crash": 1010.1},
                   "worst_stress": 1010.1, "drawdown": 0.02},
    "RiskCommand": {"command_id": "c-1", "account": "ACC1", "action": "halt",
                    "reason": "desk limit", "issued_by": "cli"},
    "Order": {"order_id": "o-1", "strategy": "mom", "account": "ACC1", "symbol": "AAPL",
              "side": "sell", "quantity": 10, "order_type": "limit", "limit_price": "101.05",
              "time_in_force": "GTC"},
    "OrderEvent": {"event_id": "o-1#2", "order_id": "o-1", "strategy": "mom", "account": "ACC1",
                   "symbol": "AAPL", "state": "partially_filled", "filled_quantity": 4,
                   "leaves_quantity": 6, "avg_fill_price": "101.05"},
    "Position": {"account": "ACC1", "symbol": "AAPL", "quantity": -10, "avg_price": "101.01",
                 "realized_pnl": "12.50", "mark": "101.05", "unrealized_pnl": "-0.40"},
    "PortfolioSnapshot": {"account": "ACC1", "currency": "USD", "equity": "100000.00",
                          "cash": "98989.90", "gross_exposure": "1010.10",
                          "net_exposure": "-1010.10", "unrealized_pnl": "-0.40",
                          "realized_pnl": "12.50"},
    "AnalyticsResult": {"account": "ACC1", "name": "performance", "period_seconds": 86400,
                        "periods": 2, "values": {"sharpe": 1.1, "sortino": None}},
    "FactorReturns": {"model": "style", "day": "2023-11-14",
                      "returns": {"market": 0.004, "Tech": -0.001, "momentum": 0.0005},
                      "covariance": {"market": {"market": 1e-4, "momentum": 2e-6},
                                     "momentum": {"market": 2e-6, "momentum": 4e-6}},
                      "symbols": 40},
    "FactorExposure": {"model": "style", "symbol": "AAPL", "day": "2023-11-14",
                       "sector": "Tech", "market_cap": 3.4e12,
                       "exposures": {"momentum": 0.8, "size": -1.9}, "residual": -0.002,
                       "specific_variance": 3e-4},
    "EngineHealth": {"engine": "bars", "worker": "w-1", "status": "running", "lag": 3,
                     "events_in": 1_000, "events_out": 10, "errors": 0, "dead_letters": 1,
                     "last_event_ts": T0},
    "EngineMetrics": {"engine": "bars", "worker": "w-1", "counters": {"events": 1_000},
                      "timings_ms": {"process": 0.8}},
    "DeadLetter": {"source_topic": "market.trades", "source_partition": 2,
                   "source_offset": 41, "reason": "missing field 'price'",
                   "key_b64": "QUFQTA==", "value_b64": "e30="},
}
assert set(_DEFAULTS) == set(MODELS), "add a default for every model in MODELS"


def event(model_name: str, **overrides: Any) -> Event:
    """A valid instance of `MODELS[model_name]`; keyword arguments replace defaults."""
    fields = {"ts_event": T0 + 1_000, "ts_init": T0 + 2_000, **_DEFAULTS[model_name]}
    fields.update(overrides)
    return MODELS[model_name](**fields)


def trade(**overrides: Any) -> Trade:
    return event("Trade", **overrides)  # type: ignore[return-value]


def quote(**overrides: Any) -> Quote:
    return event("Quote", **overrides)  # type: ignore[return-value]


def event_fields(model_name: str, **overrides: Any) -> dict[str, Any]:
    """The JSON-ready fields of a valid record (what goes on the wire), for corrupting in tests."""
    return event(model_name, **overrides).model_dump(mode="json")


def columns(model_name: str, events: Iterable[Event]) -> dict[str, np.ndarray]:
    """Events as the columnar batch `decode_columns(model_name, ...)` gives for their wire
    records (same keys, dtypes and values), in input order."""
    return event_columns(model_name, list(events))


def trade_columns(trades: Iterable[Trade]) -> dict[str, np.ndarray]:
    """Trades as the columnar batch `decode_columns("Trade", ...)` produces, in input order."""
    return columns("Trade", trades)


def tape(*rows: tuple[int, str, str | Decimal, int]) -> list[Trade]:
    """Trades from `(ts_event, symbol, price, size)` tuples; ts_init equals ts_event."""
    return [
        trade(ts_event=ts, ts_init=ts, symbol=symbol, price=price, size=size, trade_id=f"t-{i}")
        for i, (ts, symbol, price, size) in enumerate(rows)
    ]
