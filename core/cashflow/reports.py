"""What a run becomes for callers that want models: the result, grouped tables, the assumptions report."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.cashflow.assumptions import Assumptions
from core.cashflow.checks import run_warnings
from core.cashflow.convert import deal_predictions, deal_records
from core.cashflow.models import (
    Amount,
    AssumptionsReport,
    CashflowBucket,
    CashflowPredictionResult,
    ForecastOptions,
    ForecastPeriod,
    ForecastTable,
    ForecastTotals,
    GroupBy,
    PredictionMetadata,
)
from core.cashflow.rules import CONFIDENCE_BINS
from core.cashflow.run import PredictionRun
from core.cashflow.scope import in_scope


def _amounts(values: dict[str, dict[str, float | int]]) -> dict[str, Amount]:
    return {name: Amount(count=int(v["count"]), value=float(v["value"])) for name, v in values.items()}


def build_result(
    run: PredictionRun, forecast: ForecastOptions, *, include_deals: bool
) -> CashflowPredictionResult:
    """The result model of a run under a request's filters: the per-deal part holds the deals
    in the pipeline and owner asked for; a filter no deal matches gives no periods and a warning."""
    agg = run.aggregate(forecast)
    a = run.assumptions
    frame, empty = in_scope(run.frame, forecast.pipeline, forecast.owner)
    predicted = frame["kind"] == "forecast"
    buckets = [] if empty else [CashflowBucket.model_validate(row) for row in _records(agg.periods)]
    return CashflowPredictionResult(
        predictions=deal_predictions(frame, run.as_of, a) if include_deals else [],
        buckets=buckets,
        totals=ForecastTotals.model_validate(agg.totals),
        excluded=_amounts(agg.excluded),
        shown=_amounts(agg.shown),
        receivables=_amounts(agg.receivables),
        warnings=[*run.warnings, *empty, *run_warnings(frame, run.as_of, a)],
        assumptions=a.model_dump(mode="json"),
        metadata=PredictionMetadata(
            run_id=run.run_id,
            snapshot_id=run.snapshot_id,
            as_of=run.as_of,
            engine=run.engine,
            deals_analysed=len(frame),
            deals_with_predictions=int(predicted.sum()),
            average_confidence=round(float(frame.loc[predicted, "confidence"].mean()), 2)
            if predicted.any()
            else None,
            methods={str(k): int(v) for k, v in frame.loc[predicted, "method"].value_counts().items() if v},
            assumptions_version=a.version,
            base_currency=a.base_currency,
            generated_at=run.generated_at,
            receivables_snapshot_id=run.receivables_snapshot_id,
        ),
    )


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts with NaN as None."""
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def forecast_table(run: PredictionRun, forecast: ForecastOptions, group_by: GroupBy) -> ForecastTable:
    """Group the included deals by period, owner or stage."""
    options = (
        forecast.model_copy(update={"granularity": group_by}) if group_by in ("week", "month") else forecast
    )
    agg = run.aggregate(options)
    if group_by in ("week", "month"):
        rows = [
            ForecastPeriod(key=row["period"], **{k: v for k, v in row.items() if k != "period"})
            for row in _records(agg.periods)
        ]
    else:
        included = run.frame[agg.included]
        unweighted = included["value_base"].fillna(0.0)
        grouped = pd.DataFrame(
            {
                "key": included[group_by].astype(object).fillna("(none)").astype(str),
                "weighted": included["weighted_value"],
                "unweighted": unweighted,
                "confidence": included["confidence"],
            }
        ).groupby("key", sort=True)
        sums = grouped.agg(
            invoice_value=("weighted", "sum"),
            invoice_value_unweighted=("unweighted", "sum"),
            deal_count=("weighted", "size"),
            avg_confidence=("confidence", "mean"),
        )
        rows = [
            ForecastPeriod(
                key=str(key),
                invoice_value=round(r.invoice_value, 2),
                invoice_value_unweighted=round(r.invoice_value_unweighted, 2),
                cash_in=round(r.invoice_value, 2),
                cash_in_unweighted=round(r.invoice_value_unweighted, 2),
                deal_count=int(r.deal_count),
                avg_confidence=round(float(r.avg_confidence), 2),
            )
            for key, r in sums.iterrows()
        ]
    return ForecastTable(
        group_by=group_by,
        base_currency=run.assumptions.base_currency,
        rows=rows,
        totals=ForecastTotals.model_validate(agg.totals),
        excluded=_amounts(agg.excluded),
    )


def assumptions_report(
    a: Assumptions, run: PredictionRun | None, *, per_deal_limit: int | None = None
) -> AssumptionsReport:
    """Global assumptions as sentences, the stage table, and per-deal use when a run is given.

    ``per_deal_limit`` keeps only the first forecast deals' rows (a page shows a thousand of a
    million); the distribution and methods always count every forecast deal."""
    sentences = [
        f"Base confidence {a.base_confidence:.2f}; late stages {a.late_stage_confidence:.2f}; "
        f"invoiced {a.invoiced_confidence:.2f}; unknown stage {a.unknown_stage.realistic} days at "
        f"{a.unknown_stage_confidence:.2f}; "
        f"confidence clamped to [{a.confidence_min:.2f}, {a.confidence_max:.2f}].",
        *(
            f"Over {r.over_days} days in stage: +{r.add_days} days, confidence -{r.confidence_penalty:.2f}."
            for r in a.stuck
        ),
        f"Payment {a.default_payment_days} days after invoice by default; "
        + "; ".join(f"{r.field} matching '{r.pattern}': {r.days} days" for r in a.payment_rules)
        + ".",
        f"Overdue payments roll to the as-of date; "
        f"a guessed invoice over {a.past_invoice_days} days in the past "
        f"moves to as-of + {a.past_invoice_reset_days} days with -{a.past_invoice_penalty:.2f} confidence.",
        f"Values in {a.base_currency}, weighted by the deal's probability, else the stage's, else 1.0.",
    ]
    stage_table = [s.model_dump() for s in a.stages]
    per_deal: list[dict[str, object]] = []
    distribution: dict[str, int] = {}
    methods: dict[str, int] = {}
    if run is not None:
        # deal_records aligns its columns by position, so the rows are renumbered.
        frame = run.frame[run.frame["kind"] == "forecast"].reset_index(drop=True)
        per_deal = [
            {k: r[k] for k in ("deal_id", "stage", "method", "confidence", "reasoning", "flags")}
            for r in deal_records(frame.head(per_deal_limit), run.as_of, a)
        ]
        bins = pd.cut(frame["confidence"], list(CONFIDENCE_BINS), include_lowest=True)
        distribution = {str(k): int(v) for k, v in bins.value_counts(sort=False).items()}
        methods = {str(k): int(v) for k, v in frame["method"].value_counts().items() if v}
    return AssumptionsReport(
        assumptions_version=a.version,
        base_currency=a.base_currency,
        global_assumptions=sentences,
        stage_table=stage_table,
        per_deal=per_deal,
        confidence_distribution=distribution,
        methods=methods,
    )
