"""The wire contract: one pydantic model per catalog value model.

`MODELS` maps the names used in topics.yaml to their classes.
"""

from streams.schema.base import Event
from streams.schema.logic import (
    Alert,
    AnalyticsResult,
    ApprovedOrder,
    CancelRequest,
    DeadLetter,
    EngineHealth,
    EngineMetrics,
    FactorExposure,
    FactorReturns,
    FactorVector,
    FeatureVector,
    MarginState,
    MicrostructureFeatures,
    Order,
    OrderEvent,
    PortfolioSnapshot,
    Position,
    Prediction,
    RiskCommand,
    RiskReport,
    Signal,
    VpinReading,
)
from streams.schema.market import (
    DEPTH_LEVELS,
    Bar,
    DailyPrice,
    DepthSnapshot,
    Execution,
    Filing,
    Fundamental,
    MacroObservation,
    Quote,
    Trade,
)
from streams.schema.storage import Stored

MODELS: dict[str, type[Event]] = {
    m.__name__: m
    for m in (
        Trade, Quote, DepthSnapshot, Bar, Execution, MacroObservation, Fundamental,
        Filing, DailyPrice,
        VpinReading, MicrostructureFeatures, FeatureVector, Signal, Prediction, Alert,
        FactorVector,
        MarginState, Order, ApprovedOrder, CancelRequest, OrderEvent, Position, PortfolioSnapshot,
        RiskReport, RiskCommand, AnalyticsResult,
        EngineHealth, EngineMetrics, DeadLetter,
        FactorReturns, FactorExposure,
    )
}
STORED: dict[str, Stored] = {name: m.STORED for name, m in MODELS.items() if m.STORED}
"""Model name -> how its records are stored, for every stored model (streams/schema/storage.py)."""

__all__ = [
    "DEPTH_LEVELS", "MODELS", "Alert", "AnalyticsResult", "ApprovedOrder", "CancelRequest",
    "Bar", "DailyPrice", "DeadLetter", "DepthSnapshot",
    "EngineHealth", "EngineMetrics", "Event", "Execution", "FeatureVector", "Filing", "Fundamental",
    "MacroObservation",
    "MarginState", "MicrostructureFeatures", "Order", "OrderEvent", "PortfolioSnapshot", "Position",
    "FactorExposure", "FactorReturns",
    "Prediction", "Quote", "RiskCommand", "RiskReport", "STORED", "Signal", "Stored", "Trade",
    "VpinReading",
    "FactorVector",
]
