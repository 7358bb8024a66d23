"""The forecast as one JSON document: what ``forecast --json`` prints and the API's predict returns.

Both call ``forecast_document`` on a ``PredictionRun``, so the command line and the HTTP API
give the same periods, totals and deals for the same snapshot and options.
"""

from __future__ import annotations

from typing import Any

from core.cashflow.aggregate import Aggregation
from core.cashflow.checks import run_warnings
from core.cashflow.models import ForecastOptions
from core.cashflow.receivables import receivables_json
from core.cashflow.scope import in_scope

PERIOD_FIELDS = (
    "period",
    "start",
    "end",
    "invoice_value",
    "invoice_value_unweighted",
    "cash_in",
    "cash_in_unweighted",
    "cash_in_p10",
    "cash_in_p90",
    "deal_count",
    "avg_confidence",
    "cash_in_pipeline",
    "cash_in_receivables",
    "receivable_count",
)


def period_rows(agg: Aggregation) -> list[dict[str, Any]]:
    """The periods of an aggregation as dicts (NaN as None), in ``PERIOD_FIELDS`` order."""
    columns = agg.period_columns
    periods = range(len(columns["period"]))
    return [{name: _none_for_nan(columns[name][row]) for name in PERIOD_FIELDS} for row in periods]


def _none_for_nan(value: Any) -> Any:
    return None if isinstance(value, float) and value != value else value


def forecast_document(
    run, forecast: ForecastOptions, agg: Aggregation | None = None, *, include_deals: bool = True
) -> dict[str, Any]:
    """Periods, totals, exclusions, warnings, per-deal predictions and receivables of one run.

    ``agg`` is ``run.aggregate(forecast)`` when the caller has it already; ``include_deals``
    False leaves the per-deal list empty (the periods and totals are the same).
    """
    agg = agg or run.aggregate(forecast)
    # A pipeline or owner filter shows only its deals; one no deal matches shows nothing and says so.
    shown, empty = in_scope(run.frame, forecast.pipeline, forecast.owner)
    return {
        "snapshot_id": run.snapshot_id,
        "as_of": run.as_of,
        "engine": run.engine,
        "horizon_days": forecast.horizon_days,
        "granularity": forecast.granularity,
        "min_confidence": forecast.min_confidence,
        "pipeline": forecast.pipeline,
        "owner": forecast.owner,
        "base_currency": run.assumptions.base_currency,
        "assumptions_version": run.assumptions.version,
        "run_id": run.run_id,
        "periods": [] if empty else period_rows(agg),
        "totals": agg.totals,
        "excluded": agg.excluded,
        "shown": agg.shown,
        "warnings": [*run.warnings, *empty, *run_warnings(shown, run.as_of, run.assumptions)],
        "deals": _deals(run, shown) if include_deals else [],
        "receivables": receivables_json(run, agg),
    }


def _deals(run, shown) -> list[dict[str, Any]]:
    """The per-deal predictions of the deals shown, with their titles (pandas loads here: a
    forecast that prints only periods never needs it)."""
    from core.cashflow.convert import deal_records

    return deal_records(run.titled(shown), run.as_of, run.assumptions)
