"""CashflowPredictionService: snapshot in, predictions, periods and explanations out.

The columnar path (``run``) returns a ``PredictionRun`` holding the prediction frame;
the dashboard keeps it and re-aggregates on every slider move (``aggregate``). The model
methods (``predict_cashflow``, ``predict_deal_dates``, ``generate_forecast_table``,
``explain_assumptions``) wrap the same path for callers that want Pydantic results.

The frame libraries (pandas, pyarrow) and the modules built on them load inside the methods
that use them: a rules forecast of a stored snapshot runs in DuckDB, and a command-line
forecast that only prints periods never needs them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from core.cashflow.assumptions import Assumptions, load_assumptions
from core.cashflow.engines import (
    EngineContext,
    LLMPathUnavailableError,
    StoredDeals,
    get_engine,
    get_refiner,
    llm_candidates,
)
from core.cashflow.fields import PREDICTION_FIELDS, STORED_FIELDS
from core.cashflow.models import (
    AssumptionsReport,
    CashflowPredictionInput,
    CashflowPredictionResult,
    DealForPrediction,
    DealPrediction,
    ForecastOptions,
    ForecastTable,
    GroupBy,
    PredictionOptions,
    ProgressCallback,
)
from core.cashflow.receivables import Receivables, resolve_receivables
from core.cashflow.run import PredictionRun
from core.errors import InputError
from core.monitoring import observed_forecast
from core.store import Store, get_store, registered

if TYPE_CHECKING:  # the LLM package (httpx) loads only when the LLM path runs
    import pandas as pd

    from core.llm import LLMClient

LLM_UNAVAILABLE = (
    "LLM path not available: no LLM refiner is registered (configure the LLM and install its path)."
)


class CashflowPredictionService:
    """Forecasts for stored snapshots or explicit deals, with any registered engine."""

    def __init__(
        self, store: Store, *, assumptions: Assumptions | None = None, llm: LLMClient | None = None
    ) -> None:
        """``llm`` is the client the LLM path asks (the command line's, for its ``--db``); None
        uses the process-wide ``get_llm_client()``, as the dashboard and the API do."""
        self.store = store
        self._assumptions = assumptions
        self._llm = llm

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
        deal_ids: Sequence[str] | None = None,
        lazy: bool = False,
    ) -> PredictionRun:
        """Predict every deal of a stored snapshot (``deal_ids``: those only) as of its own as-of date.

        A deal's prediction depends on its own row and the store's history, never on the other
        deals, so a page that shows one deal predicts that one. The rules run inside DuckDB
        over the stored deals; the other engines read the columns they use
        (``FORECAST_COLUMNS``). The run's ``title`` is empty until ``titled`` fetches it for
        the deals a caller shows.

        ``lazy`` (the command line): a rules run keeps its predictions a DuckDB relation, which
        its aggregation and warnings read in DuckDB; the frame is made the first time
        ``frame`` is read. Only for a caller that holds this store's session for as long as it
        uses the run (``with store:``): the relation reads the database when used."""
        found = self.store.resolve_snapshot(snapshot)
        return self.run_deals(
            StoredDeals(self.store, found.id, deal_ids),
            found.as_of,
            options,
            snapshot_id=found.id,
            progress=progress,
            lazy=lazy,
        )

    @observed_forecast
    def run_deals(
        self,
        deals: pd.DataFrame | StoredDeals,
        as_of: dt.date,
        options: PredictionOptions | None = None,
        *,
        snapshot_id: int | None = None,
        progress: ProgressCallback | None = None,
        lazy: bool = False,
    ) -> PredictionRun:
        """Predict a canonical deals frame (or a snapshot's ``StoredDeals``); history (learned
        engine) is read up to ``as_of`` only. ``lazy``: see ``run``."""
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
            llm=self._llm,
        )
        context.report(0, 1, f"predicting {len(deals)} deals with the {options.engine} engine")
        engine = get_engine(options.engine)
        stored = isinstance(deals, StoredDeals)
        if stored and not options.use_llm and hasattr(engine, "predict_stored"):
            cursor = self.store.cursor()  # a database file stays open while this is referenced
            predictions = engine.predict_stored(cursor, deals, context)
            if not lazy:
                predictions = predictions.to_frame()
        else:
            if stored:
                deals = deals.load()
            predictions = engine.predict(deals, context)
            if options.use_llm:
                predictions = self._refine(deals, predictions, context)
        run = PredictionRun(
            run_id=uuid.uuid4().hex,
            snapshot_id=snapshot_id,
            as_of=as_of,
            engine=options.engine,
            assumptions=context.assumptions,
            predictions=predictions,
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
        from core.cashflow.refine import merge_refined

        return merge_refined(frame, refined, context.as_of, context.assumptions)

    def save_run(self, run: PredictionRun) -> None:
        """Store a run's per-deal predictions in ``predictions`` under its run id, in one Arrow insert.

        Text columns go as Arrow dictionaries (each distinct reasoning once), flags as JSON
        made per distinct set; at 1M deals the write is still seconds (every row's reasoning
        lands in the file), which is why the CLI and the Forecast page store only on request."""
        from core.cashflow.columns import arrow_table

        columns = ", ".join(STORED_FIELDS)
        values = ", ".join(f"CAST({name} AS {PREDICTION_FIELDS[name]})" for name in STORED_FIELDS)
        rows = arrow_table(run.frame, STORED_FIELDS)
        with self.store.transaction() as cur, registered(cur, "run_rows", rows):
            cur.execute(
                f"INSERT INTO predictions (snapshot_id, run_id, engine, {columns}) "
                f"SELECT ?, ?, ?, {values} FROM run_rows",
                [run.snapshot_id, run.run_id, run.engine],
            )

    # -- model path ------------------------------------------------------------------

    def _run_for(self, request: CashflowPredictionInput, progress: ProgressCallback | None) -> PredictionRun:
        from core.cashflow.convert import deals_frame

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
        import asyncio  # ~17 ms a command-line run has no use for

        return await asyncio.to_thread(self.predict_cashflow_sync, request, progress=progress)

    def predict_cashflow_sync(
        self, request: CashflowPredictionInput, *, progress: ProgressCallback | None = None
    ) -> CashflowPredictionResult:
        """Per-deal predictions, dense periods, totals, exclusions, warnings and metadata.

        A pipeline or owner filter limits the per-deal predictions and counts to the deals
        it names; a filter no deal matches gives an empty forecast and a warning.
        """
        from core.cashflow.reports import build_result

        run = self._run_for(request, progress)
        if request.include_deals:
            run = dataclasses.replace(run, predictions=run.titled())
        return build_result(run, request.forecast, include_deals=request.include_deals)

    async def predict_deal_dates(
        self,
        deals: Sequence[DealForPrediction],
        options: PredictionOptions | None = None,
        today: dt.date | None = None,
    ) -> list[DealPrediction]:
        """Awaitable ``predict_deal_dates_sync``."""
        import asyncio

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
        from core.cashflow.convert import deal_predictions, deals_frame

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
        from core.cashflow.reports import forecast_table

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
        from core.cashflow.reports import assumptions_report

        return assumptions_report(self.assumptions if run is None else run.assumptions, run)

    def _run_of(self, predictions: Sequence[DealPrediction], today: dt.date | None) -> PredictionRun:
        """A run around predictions made elsewhere, so tables and reports read them like any run."""
        from core.cashflow.convert import predictions_frame

        return PredictionRun(
            run_id="",
            snapshot_id=None,
            as_of=today or _utc_today(),
            engine=",".join(sorted({p.method for p in predictions})) or "rules",
            assumptions=self.assumptions,
            predictions=predictions_frame(predictions),
            generated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        )


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _receivable_fields(receivables: Receivables | None, a: Assumptions) -> dict[str, object]:
    """The receivables part of a ``PredictionRun`` (nothing when no invoices were used)."""
    if receivables is None:
        return {}
    from core.cashflow.receivable_cash import predict_receivables

    return {
        "receivables": predict_receivables(receivables, a),
        "receivables_snapshot_id": receivables.snapshot.id,
        "behaviour": receivables.behaviour,
    }


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
