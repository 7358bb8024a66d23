"""CashflowPredictionService: snapshot in, predictions, periods and explanations out.

The columnar path (``run``) returns a ``PredictionRun`` holding the prediction frame;
the dashboard keeps it and re-aggregates on every slider move (``aggregate``). The model
methods (``predict_cashflow``, ``predict_deal_dates``, ``generate_forecast_table``,
``explain_assumptions``) wrap the same path for callers that want Pydantic results.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

# Importing these registers the "learned", "naive" and "auto" engines and the "llm" refiner.
from core.cashflow import auto as _auto  # noqa: F401
from core.cashflow import learned as _learned  # noqa: F401
from core.cashflow import llm_refiner as _llm_refiner  # noqa: F401
from core.cashflow import naive as _naive  # noqa: F401
from core.cashflow.aggregate import Aggregation, aggregate, in_scope
from core.cashflow.assumptions import Assumptions, load_assumptions
from core.cashflow.behaviour import BehaviourModel
from core.cashflow.columns import DATE_OUTPUT_COLUMNS, date_array, day_array
from core.cashflow.convert import deal_predictions, deal_records, deals_frame, predictions_frame, run_warnings
from core.cashflow.engines import (
    EngineContext,
    LLMPathUnavailableError,
    get_engine,
    get_refiner,
    llm_candidates,
)
from core.cashflow.models import (
    Amount,
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
    GroupBy,
    PredictionMetadata,
    PredictionOptions,
    ProgressCallback,
)
from core.cashflow.receivables import Receivables, predict_receivables, resolve_receivables
from core.cashflow.rules import CONFIDENCE_BINS, apply_overrides
from core.deals import FORECAST_COLUMNS
from core.errors import InputError
from core.monitoring import observed_forecast
from core.store import Store, get_store

#: The payment part of the reasoning when a refiner's answer gave the payment date itself.
REFINED_PAYMENT_TEXT = "payment date from the LLM answer"
LLM_UNAVAILABLE = (
    "LLM path not available: no LLM refiner is registered (configure the LLM and install its path)."
)


@dataclass(frozen=True)
class PredictionRun:
    """One forecast run: the prediction frame and what produced it."""

    run_id: str
    snapshot_id: int | None
    as_of: dt.date
    engine: str
    assumptions: Assumptions
    frame: pd.DataFrame
    generated_at: dt.datetime
    #: Run-level warnings from the engine or refiner (e.g. the LLM was off or failed).
    warnings: tuple[str, ...] = ()
    #: Open invoices as cash-in items (``receivables.predict_receivables``), when receivables were used.
    receivables: pd.DataFrame | None = None
    receivables_snapshot_id: int | None = None
    #: The customers' payment behaviour learned from that snapshot's invoices paid by as-of.
    behaviour: BehaviourModel | None = None
    #: The store the snapshot's deals were read from without their text (``titled``).
    text_store: Store | None = field(default=None, repr=False, compare=False)

    def titled(self, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """``frame`` (rows of ``self.frame``, all of them by default) with its deals' titles.

        A stored snapshot's run reads no titles (``CashflowPredictionService.run``); what
        shows deals fetches the titles of the rows it shows. Explicit deals have theirs."""
        frame = self.frame if frame is None else frame
        if self.text_store is None or self.snapshot_id is None:
            return frame
        found = self.text_store.deal_texts(self.snapshot_id, frame["deal_id"], ("title",))
        return frame.assign(title=found["title"].array)

    def aggregate(self, forecast: ForecastOptions | None = None) -> Aggregation:
        """Periods, totals and exclusions of this run under the dashboard's filters."""
        return aggregate(
            self.frame,
            as_of=self.as_of,
            receivables=self.receivables,
            **(forecast or ForecastOptions()).model_dump(),
        )


class CashflowPredictionService:
    """Forecasts for stored snapshots or explicit deals, with any registered engine."""

    def __init__(self, store: Store, *, assumptions: Assumptions | None = None) -> None:
        self.store = store
        self._assumptions = assumptions

    @property
    def assumptions(self) -> Assumptions:
        """The explicit profile given at construction, else the newest stored one."""
        return self._assumptions or load_assumptions(self.store)

    # -- columnar path ---------------------------------------------------------------

    def run(
        self,
        snapshot: int | str = "latest",
        options: PredictionOptions | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> PredictionRun:
        """Predict every deal of a stored snapshot as of its own as-of date.

        Only the columns the engines use are read (``FORECAST_COLUMNS``): the run's
        ``title`` is empty until ``titled`` fetches it for the deals a caller shows."""
        found = self.store.resolve_snapshot(snapshot)
        deals = self.store.load_deals(found.id, FORECAST_COLUMNS)
        return self.run_deals(deals, found.as_of, options, snapshot_id=found.id, progress=progress)

    @observed_forecast
    def run_deals(
        self,
        deals: pd.DataFrame,
        as_of: dt.date,
        options: PredictionOptions | None = None,
        *,
        snapshot_id: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> PredictionRun:
        """Predict a canonical deals frame; history (learned engine) is read up to ``as_of`` only."""
        options = options or PredictionOptions()
        if options.use_llm and get_refiner("llm") is None:
            raise LLMPathUnavailableError(LLM_UNAVAILABLE)
        assumptions = self.assumptions
        receivables = resolve_receivables(
            self.store,
            options.receivables,
            as_of,
            default_terms=assumptions.default_payment_days,
            min_samples=options.payment_min_samples,
        )
        context = EngineContext(
            as_of=as_of,
            assumptions=assumptions,
            options=options,
            store=self.store,
            snapshot_id=snapshot_id,
            progress=progress,
            receivables=receivables,
        )
        context.report(0, 1, f"predicting {len(deals)} deals with the {options.engine} engine")
        frame = get_engine(options.engine).predict(deals, context)
        if options.use_llm:
            frame = self._refine(deals, frame, context)
        run = PredictionRun(
            run_id=uuid.uuid4().hex,
            snapshot_id=snapshot_id,
            as_of=as_of,
            engine=options.engine,
            assumptions=context.assumptions,
            frame=frame,
            generated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
            warnings=tuple(context.warnings),
            text_store=self.store if snapshot_id is not None else None,
            **_receivable_fields(receivables, context.assumptions),
        )
        if options.store_results and snapshot_id is not None:
            self.save_run(run)
        context.report(1, 1, "forecast ready")
        return run

    def _refine(self, deals: pd.DataFrame, frame: pd.DataFrame, context: EngineContext) -> pd.DataFrame:
        """Hand the policy's deals to the registered refiner and merge its answers."""
        refiner = get_refiner("llm")
        chosen = llm_candidates(frame, context.options.llm_policy)
        if refiner is None or not chosen.any():
            return frame
        chosen_deals = deals[chosen].reset_index(drop=True)
        if context.snapshot_id is not None:  # read without its text (``run``): the prompt needs some
            texts = self.store.deal_texts(context.snapshot_id, chosen_deals["deal_id"], ("title", "notes"))
            chosen_deals = chosen_deals.assign(title=texts["title"].array, notes=texts["notes"].array)
        refined = refiner.refine(chosen_deals, frame[chosen].reset_index(drop=True), context)
        return merge_refined(frame, refined, context.as_of, context.assumptions)

    def save_run(self, run: PredictionRun) -> None:
        """Store a run's per-deal predictions in ``predictions`` under its run id, in one Arrow insert.

        Text columns go as Arrow dictionaries (each distinct reasoning once), flags as JSON
        made per distinct set; at 1M deals the write is still seconds (every row's reasoning
        lands in the file), which is why the CLI and the Forecast page store only on request."""
        frame = run.frame
        flags = pd.Categorical(frame["flags"])
        flag_json = [json.dumps(text.split(",") if text else []) for text in flags.categories]
        rows = pa.table(
            {
                "deal_id": pa.array(frame["deal_id"].array, type=pa.string()),
                "method": pa.array(pd.Categorical(frame["method"])),
                **{name: pa.array(date_array(frame[name])) for name in DATE_OUTPUT_COLUMNS},
                **{
                    name: pa.array(frame[name].to_numpy(dtype=np.float64, na_value=np.nan), from_pandas=True)
                    for name in ("confidence", "value_base", "weighted_value")
                },
                "reasoning": pa.array(pd.Categorical(frame["reasoning"])),
                "flags": pa.DictionaryArray.from_arrays(pa.array(flags.codes), pa.array(flag_json)),
            }
        )
        with self.store.transaction() as cur:
            cur.register("run_rows", rows)
            try:
                cur.execute(
                    """INSERT INTO predictions (snapshot_id, run_id, deal_id, engine, method,
                           predicted_invoice_date, predicted_payment_date, invoice_p10, invoice_p90,
                           payment_p10, payment_p90, confidence, value_base, weighted_value, reasoning, flags)
                       SELECT ?, ?, deal_id, ?, method,
                           CAST(predicted_invoice_date AS DATE), CAST(predicted_payment_date AS DATE),
                           CAST(invoice_p10 AS DATE), CAST(invoice_p90 AS DATE),
                           CAST(payment_p10 AS DATE), CAST(payment_p90 AS DATE),
                           confidence, value_base, weighted_value, reasoning, CAST(flags AS JSON)
                       FROM run_rows""",
                    [run.snapshot_id, run.run_id, run.engine],
                )
            finally:
                cur.unregister("run_rows")

    # -- model path ------------------------------------------------------------------

    def _run_for(self, request: CashflowPredictionInput, progress: ProgressCallback | None) -> PredictionRun:
        if request.deals is not None:
            if request.as_of is None:
                raise InputError("Explicit deals need an as_of date (the forecast's 'today').")
            return self.run_deals(
                deals_frame(request.deals), request.as_of, request.options, progress=progress
            )
        return self.run(request.snapshot or "latest", request.options, progress=progress)

    async def predict_cashflow(
        self, request: CashflowPredictionInput, *, progress: ProgressCallback | None = None
    ) -> CashflowPredictionResult:
        """Awaitable ``predict_cashflow_sync``: the forecast runs in a worker thread."""
        return await asyncio.to_thread(self.predict_cashflow_sync, request, progress=progress)

    def predict_cashflow_sync(
        self, request: CashflowPredictionInput, *, progress: ProgressCallback | None = None
    ) -> CashflowPredictionResult:
        """Per-deal predictions, dense periods, totals, exclusions, warnings and metadata.

        A pipeline or owner filter limits the per-deal predictions and counts to the deals
        it names; a filter no deal matches gives an empty forecast and a warning.
        """
        run = self._run_for(request, progress)
        if request.include_deals:
            run = dataclasses.replace(run, frame=run.titled())
        return build_result(run, request.forecast, include_deals=request.include_deals)

    async def predict_deal_dates(
        self,
        deals: Sequence[DealForPrediction],
        options: PredictionOptions | None = None,
        today: dt.date | None = None,
    ) -> list[DealPrediction]:
        """Awaitable ``predict_deal_dates_sync``."""
        return await asyncio.to_thread(self.predict_deal_dates_sync, deals, options, today)

    def predict_deal_dates_sync(
        self,
        deals: Sequence[DealForPrediction],
        options: PredictionOptions | None = None,
        today: dt.date | None = None,
    ) -> list[DealPrediction]:
        """Invoice and payment dates for explicit deals as of ``today`` (default: today's UTC
        date, since explicit deals have no snapshot); results are not stored."""
        today = today or _utc_today()
        options = (options or PredictionOptions()).model_copy(update={"store_results": False})
        run = self.run_deals(deals_frame(deals), today, options)
        return deal_predictions(run.frame, today, run.assumptions)

    def generate_forecast_table(
        self,
        source: CashflowPredictionInput | Sequence[DealPrediction],
        options: ForecastOptions | GroupBy | None = None,
        *,
        run: PredictionRun | None = None,
        today: dt.date | None = None,
    ) -> ForecastTable:
        """Forecast values grouped by week, month, owner or stage; real sums over the included deals.

        ``source`` is a request (forecast now) or, as in the seed, predictions already made
        (their periods start at ``today``, default today's UTC date). ``options`` is a
        ``ForecastOptions`` (grouped by its granularity) or a grouping name.
        """
        forecast = options if isinstance(options, ForecastOptions) else None
        if isinstance(source, CashflowPredictionInput):
            forecast = forecast or source.forecast
            run = run or self._run_for(source, None)
        else:
            forecast = forecast or ForecastOptions()
            run = self._run_of(source, today)
        group_by = options if isinstance(options, str) else forecast.granularity
        return forecast_table(run, forecast, group_by)

    def explain_assumptions(
        self,
        source: CashflowPredictionInput | Sequence[DealPrediction] | None = None,
        *,
        run: PredictionRun | None = None,
    ) -> AssumptionsReport:
        """The assumptions in force, how each deal used them, and the spread of confidence.

        ``source`` is a request (forecast now), the seed's list of predictions, or None
        (the assumptions alone, or ``run``'s use of them)."""
        if run is None and isinstance(source, CashflowPredictionInput):
            run = self._run_for(source, None)
        elif run is None and source is not None:
            run = self._run_of(source, None)
        return assumptions_report(self.assumptions if run is None else run.assumptions, run)

    def _run_of(self, predictions: Sequence[DealPrediction], today: dt.date | None) -> PredictionRun:
        """A run around predictions made elsewhere, so tables and reports read them like any run."""
        return PredictionRun(
            run_id="",
            snapshot_id=None,
            as_of=today or _utc_today(),
            engine=",".join(sorted({p.method for p in predictions})) or "rules",
            assumptions=self.assumptions,
            frame=predictions_frame(predictions),
            generated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        )


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _receivable_fields(receivables: Receivables | None, a: Assumptions) -> dict[str, object]:
    """The receivables part of a ``PredictionRun`` (nothing when no invoices were used)."""
    if receivables is None:
        return {}
    return {
        "receivables": predict_receivables(receivables, a),
        "receivables_snapshot_id": receivables.snapshot.id,
        "behaviour": receivables.behaviour,
    }


def merge_refined(frame: pd.DataFrame, refined: pd.DataFrame, as_of: dt.date, a: Assumptions) -> pd.DataFrame:
    """Put a refiner's answers into the frame (matched by deal id) and re-run the overrides."""
    position = pd.Series(np.arange(len(frame)), index=frame["deal_id"].astype(str))
    refined = refined[refined["deal_id"].astype(str).isin(position.index)]
    rows = position.loc[refined["deal_id"].astype(str)].to_numpy()
    out = frame.copy()
    forecast = (out["kind"] == "forecast").to_numpy()
    payment = day_array(out["predicted_payment_date"])
    payment[forecast] = np.datetime64("NaT")
    for name in ("predicted_invoice_date", "invoice_p10", "invoice_p90"):
        values = day_array(out[name])
        given = day_array(refined[name]) if name in refined else day_array(refined["predicted_invoice_date"])
        values[rows] = np.where(np.isnat(given), values[rows], given)
        out[name] = values
    given_payment = day_array(refined["predicted_payment_date"])
    payment[rows] = given_payment
    out["predicted_payment_date"] = payment
    terms = pd.Categorical(out["terms_reason"]).copy()
    if not np.isnat(given_payment).all():
        if REFINED_PAYMENT_TEXT not in terms.categories:
            terms = terms.add_categories([REFINED_PAYMENT_TEXT])
        terms[rows[~np.isnat(given_payment)]] = REFINED_PAYMENT_TEXT
    out["terms_reason"] = terms
    confidence = out["confidence"].to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    confidence[rows] = refined["confidence"].to_numpy(dtype=np.float64, na_value=np.nan)
    out["confidence"] = confidence
    method = pd.Categorical(out["method"]).copy()
    method[rows] = refined["method"].astype(str).to_numpy()
    out["method"] = method
    reasons = pd.Categorical(out["invoice_reason"])
    texts = refined["reasoning"].astype(str).str.rstrip(".").to_numpy()
    reasons = reasons.add_categories([t for t in pd.unique(texts) if t not in reasons.categories])
    reasons[rows] = texts
    out["invoice_reason"] = reasons
    return apply_overrides(out, as_of, a)


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


_service: CashflowPredictionService | None = None
_service_lock = threading.Lock()


def get_cashflow_prediction_service() -> CashflowPredictionService:
    """The process-wide service over ``get_store()``; rebuilt when the configured store changes."""
    global _service
    store = get_store()
    with _service_lock:
        if _service is None or _service.store is not store:
            _service = CashflowPredictionService(store)
        return _service
