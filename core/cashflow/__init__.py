"""The forecast: rules, learned history model, prediction service, aggregation, backtest (DESIGN 5).

    from core.cashflow import get_cashflow_prediction_service, CashflowPredictionInput
    service = get_cashflow_prediction_service()
    result = await service.predict_cashflow(CashflowPredictionInput(pipeline_name="Aramco Projects"))
    result = service.predict_cashflow_sync(CashflowPredictionInput(horizon_days=90, granularity="week"))
    result.metadata.deals_analyzed, result.aggregated_forecast[0].expected_invoice_value_sar

Engines and refiners are found through ``register_engine`` / ``register_refiner``; the
LLM path registers its refiner as ``"llm"``.
"""

from core.cashflow.aggregate import Aggregation, aggregate
from core.cashflow.assumptions import SEED_PROFILE, Assumptions, load_assumptions, save_assumptions
from core.cashflow.backtest import BacktestDetail, BacktestResult, backtest_detail, run_backtest
from core.cashflow.deterministic import DeterministicRules
from core.cashflow.engines import (
    EngineContext,
    LLMPathUnavailableError,
    engine_names,
    get_refiner,
    register_engine,
    register_refiner,
)
from core.cashflow.models import (
    AssumptionsReport,
    CashflowBucket,
    CashflowPredictionInput,
    CashflowPredictionResult,
    DealForPrediction,
    DealPrediction,
    ForecastOptions,
    ForecastPeriod,
    ForecastTable,
    ForecastTotals,
    PredictionMetadata,
    PredictionOptions,
)
from core.cashflow.rules import apply_overrides, predict_frame
from core.cashflow.run import PredictionRun
from core.cashflow.service import CashflowPredictionService, get_cashflow_prediction_service

__all__ = [
    "SEED_PROFILE",
    "Aggregation",
    "Assumptions",
    "AssumptionsReport",
    "BacktestDetail",
    "BacktestResult",
    "CashflowBucket",
    "CashflowPredictionInput",
    "CashflowPredictionResult",
    "CashflowPredictionService",
    "DealForPrediction",
    "DealPrediction",
    "DeterministicRules",
    "EngineContext",
    "ForecastOptions",
    "ForecastPeriod",
    "ForecastTable",
    "ForecastTotals",
    "LLMPathUnavailableError",
    "PredictionMetadata",
    "PredictionOptions",
    "PredictionRun",
    "aggregate",
    "apply_overrides",
    "backtest_detail",
    "engine_names",
    "get_cashflow_prediction_service",
    "get_refiner",
    "load_assumptions",
    "predict_frame",
    "register_engine",
    "register_refiner",
    "run_backtest",
    "save_assumptions",
]
