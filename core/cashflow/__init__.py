"""The forecast: rules, learned history model, prediction service, aggregation, backtest (DESIGN 5).

    from core.cashflow import get_cashflow_prediction_service, CashflowPredictionInput
    service = get_cashflow_prediction_service()
    result = await service.predict_cashflow(CashflowPredictionInput(pipeline_name="Aramco Projects"))
    result = service.predict_cashflow_sync(CashflowPredictionInput(horizon_days=90, granularity="week"))
    result.metadata.deals_analyzed, result.aggregated_forecast[0].expected_invoice_value_sar

Engines and refiners are found through ``register_engine`` / ``register_refiner``; the
LLM path registers its refiner as ``"llm"``.

The names are imported from their modules on first use (``__getattr__``), so a rules
forecast loads neither the learned engine nor the backtest, and an ingest that reads the
assumptions loads no forecast. ``aggregate`` is imported from ``core.cashflow.aggregate``:
the function shares its module's name, so the package could not tell the two apart.
"""

from __future__ import annotations

from core.lazy import lazy_exports

#: Public name -> the module of this package that defines it (imported on first use).
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("SEED_PROFILE", "Assumptions", "load_assumptions", "save_assumptions"), "assumptions"),
    **dict.fromkeys(("BacktestDetail", "BacktestResult", "backtest_detail", "run_backtest"), "backtest"),
    "DeterministicRules": "deterministic",
    **dict.fromkeys(
        (
            "EngineContext",
            "LLMPathUnavailableError",
            "engine_names",
            "get_refiner",
            "register_engine",
            "register_refiner",
        ),
        "engines",
    ),
    **dict.fromkeys(
        (
            "AssumptionsReport",
            "CashflowBucket",
            "CashflowPredictionInput",
            "CashflowPredictionResult",
            "DealForPrediction",
            "DealPrediction",
            "ForecastOptions",
            "ForecastPeriod",
            "ForecastTable",
            "ForecastTotals",
            "PredictionMetadata",
            "PredictionOptions",
        ),
        "models",
    ),
    **dict.fromkeys(("apply_overrides", "predict_frame"), "rules"),
    "PredictionRun": "run",
    **dict.fromkeys(("CashflowPredictionService", "get_cashflow_prediction_service"), "service"),
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
