"""The endpoints: each parses its input, calls one service (the same code the CLI calls), returns.

Handlers are plain ``def``: FastAPI runs them in its thread pool, each thread with its own
store cursor, and LLM work goes through ``run_sync`` onto the process's one LLM loop (the
``*_sync`` writer methods), never onto uvicorn's loop.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from core.api.models import (
    ErrorBody,
    ExplainResponse,
    ForecastResponse,
    Health,
    LLMState,
    PredictRequest,
    Readiness,
    RejectedRow,
)
from core.cashflow.assumptions import upload_rates
from core.cashflow.backtest import BacktestResult, run_backtest
from core.cashflow.convert import deal_predictions
from core.cashflow.models import PredictionOptions
from core.cashflow.reports import assumptions_report
from core.cashflow.service import get_cashflow_prediction_service
from core.config import get_settings
from core.errors import InputError, NotFoundError
from core.ingest import IngestResult, ingest_bytes
from core.ingest.presets import PRESET_NAMES
from core.llm.runner import get_llm_client
from core.receivables import ingest_invoice_bytes
from core.store import Snapshot, get_store
from core.writer import (
    DraftEmailResult,
    DraftReminderResult,
    EmailDraftContext,
    ReminderDraftContext,
    WriterResult,
    get_writer_service,
)

#: Error answers every authenticated endpoint may give, for the OpenAPI document.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad input (the detail names the field, row or value)"},
    401: {"model": ErrorBody, "description": "missing or unknown bearer token"},
    404: {"model": ErrorBody, "description": "unknown snapshot or deal"},
    503: {"model": ErrorBody, "description": "the LLM is needed and unavailable, or the database is busy"},
}
UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": "file larger than DEALCAST_MAX_UPLOAD_MB"}
}

api = APIRouter(responses=ERRORS)
public = APIRouter()


def _unit_of_work() -> Iterator[None]:
    """One store session per request: the database file is opened once for the request's
    statements and let go of after it (other processes may be waiting for it)."""
    with get_store().session():
        yield


#: For the endpoints that read or write the database (not the writer's: it would hold the
#: file through LLM calls; its few statements each hold it briefly instead).
UnitOfWork = Depends(_unit_of_work)

LLM_NEEDED = "The LLM is needed and unavailable"

Fallback = Annotated[
    bool,
    Query(description="false: answer 503 instead of the writer's fallback text when the LLM is off or fails"),
]


# -- forecasts ------------------------------------------------------------------------


def _require_llm() -> None:
    client = get_llm_client()
    if not client.enabled:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"{LLM_NEEDED}: {client.disabled_reason}")


@api.post("/cashflow/predict", response_model=ForecastResponse, tags=["cashflow"], dependencies=[UnitOfWork])
def predict(body: PredictRequest, request: Request) -> JSONResponse:
    """Forecast invoices and cash in per period; the same document as ``python -m core forecast --json``."""
    if body.llm:
        _require_llm()
    policy = {"llm_policy": body.llm_policy} if body.llm_policy else {}
    options = PredictionOptions(
        engine=body.engine,
        use_llm=body.llm,
        receivables=None if body.receivables == "none" else body.receivables,
        **policy,
    )
    # The answer is built once per run and forecast options (then kept as JSON bytes) from plain
    # values the service has checked: validating 100k deal models again would cost more than
    # the forecast.
    service = get_cashflow_prediction_service()
    document = request.app.state.runs.document(
        service, body.snapshot, options, body.forecast, include_deals=body.include_deals
    )
    return Response(document, media_type="application/json")


@api.get("/cashflow/explain", response_model=ExplainResponse, tags=["cashflow"], dependencies=[UnitOfWork])
def explain(
    request: Request,
    deal_id: Annotated[str, Query(min_length=1, description="the deal's id in the snapshot")],
    snapshot: Annotated[str, Query(description="snapshot id or 'latest'")] = "latest",
    engine: Annotated[str, Query(description="rules, learned, auto or any registered engine")] = "rules",
) -> ExplainResponse:
    """One deal's predicted invoice and payment dates with reasoning, flags, method and assumptions."""
    options = PredictionOptions(engine=engine)
    run = request.app.state.runs.get(get_cashflow_prediction_service(), snapshot, options)
    rows = run.frame[run.frame["deal_id"].astype(str) == deal_id]
    if rows.empty:
        raise NotFoundError(f"No deal {deal_id!r} in snapshot {run.snapshot_id}.")
    a = run.assumptions
    return ExplainResponse(
        snapshot_id=run.snapshot_id,
        as_of=run.as_of,
        engine=run.engine,
        assumptions_version=a.version,
        base_currency=a.base_currency,
        prediction=deal_predictions(rows.reset_index(drop=True), run.as_of, a)[0],
        assumptions=assumptions_report(a, None).global_assumptions,
    )


@api.get("/backtest", response_model=BacktestResult, tags=["cashflow"], dependencies=[UnitOfWork])
def backtest(
    from_: Annotated[str, Query(alias="from", description="snapshot id to forecast from")],
    to: Annotated[str, Query(description="snapshot that shows what happened (id or 'latest')")] = "latest",
    engine: Annotated[str, Query(description="rules, learned, auto or any registered engine")] = "rules",
) -> BacktestResult:
    """How good the forecast from one snapshot was against later ones: MAE, bias, WAPE, band coverage."""
    return run_backtest(get_store(), from_, to, engine=engine)


# -- writer ---------------------------------------------------------------------------


def _llm_or_503(result: WriterResult, fallback: bool) -> None:
    if result.source == "fallback" and not fallback:
        reason = "; ".join(result.warnings) or "the LLM did not answer"
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"{LLM_NEEDED}: {reason}")


@api.post("/writer/draft-email", response_model=DraftEmailResult, tags=["writer"])
def draft_email(context: EmailDraftContext, fallback: Fallback = True) -> DraftEmailResult:
    """A follow-up email about one or more deals (a template with confidence 0 when the LLM is off)."""
    result = get_writer_service().draft_email_sync(context)
    _llm_or_503(result, fallback)
    return result


@api.post("/writer/draft-reminder", response_model=DraftReminderResult, tags=["writer"])
def draft_reminder(context: ReminderDraftContext, fallback: Fallback = True) -> DraftReminderResult:
    """A WhatsApp, SMS or email reminder about one deal."""
    result = get_writer_service().draft_reminder_sync(context)
    _llm_or_503(result, fallback)
    return result


# -- data -----------------------------------------------------------------------------


def _mapping(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    try:
        mapping = json.loads(text)
    except ValueError as exc:
        raise InputError(f"mapping: not valid JSON: {exc}") from None
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise InputError(
            'mapping: give a JSON object of canonical field -> file column, e.g. {"value": "Amount"}.'
        )
    return mapping


def _upload(
    file: UploadFile, ingest: Any, source: str, as_of: dt.date | None, label: str | None, mapping: str | None
) -> JSONResponse:
    store = get_store()
    settings = get_settings()
    result: IngestResult = ingest(
        store,
        file.file.read(),
        file.filename or "upload",
        source=source,
        as_of=as_of,
        mapping=_mapping(mapping),
        label=label,
        rates=upload_rates(store),
        max_bytes=settings.max_upload_bytes,
    )
    code = status.HTTP_200_OK if result.duplicate_of is not None else status.HTTP_201_CREATED
    return JSONResponse(result.model_dump(mode="json"), status_code=code)


UploadForm = Annotated[UploadFile, File(description="the export: CSV, TSV, TXT or XLSX")]
AsOfForm = Annotated[dt.date | None, Form(description="the snapshot's date (default: read from the file)")]
LabelForm = Annotated[str | None, Form(description="a label shown with the snapshot")]
MappingForm = Annotated[
    str | None, Form(description='JSON object canonical field -> file column, e.g. {"deal_id": "Opp #"}')
]


@api.post(
    "/snapshots",
    response_model=IngestResult,
    status_code=status.HTTP_201_CREATED,
    responses={**UPLOAD_ERRORS, 200: {"model": IngestResult, "description": "bytes loaded already"}},
    tags=["data"],
    dependencies=[UnitOfWork],
)
def upload_snapshot(
    file: UploadForm,
    source: Annotated[str, Form(description=f"auto or one of {', '.join(PRESET_NAMES)}")] = "auto",
    as_of: AsOfForm = None,
    label: LabelForm = None,
    mapping: MappingForm = None,
) -> JSONResponse:
    """Load a CRM export as a dated snapshot: the same ingest and limits as the Upload page."""
    return _upload(file, ingest_bytes, source, as_of, label, mapping)


@api.get("/snapshots", response_model=list[Snapshot], tags=["data"], dependencies=[UnitOfWork])
def list_snapshots() -> list[Snapshot]:
    """Every deals snapshot, oldest as-of first."""
    return get_store().list_snapshots()


@api.get(
    "/snapshots/{snapshot_id}/rejects",
    response_model=list[RejectedRow],
    tags=["data"],
    dependencies=[UnitOfWork],
)
def snapshot_rejects(snapshot_id: int) -> list[RejectedRow]:
    """The rows of an upload that did not load, each with its reason."""
    store = get_store()
    store.get_snapshot(snapshot_id)
    frame = store.load_rejects(snapshot_id)
    return [RejectedRow(**row) for row in frame.astype(object).where(frame.notna(), None).to_dict("records")]


@api.post(
    "/receivables/invoices",
    response_model=IngestResult,
    status_code=status.HTTP_201_CREATED,
    responses=UPLOAD_ERRORS,
    tags=["data"],
    dependencies=[UnitOfWork],
)
def upload_invoices(
    file: UploadForm,
    source: Annotated[str, Form(description="auto, invoice_list or generic")] = "auto",
    as_of: AsOfForm = None,
    label: LabelForm = None,
    mapping: MappingForm = None,
) -> JSONResponse:
    """Load an invoice list (accounts receivable) as an invoices snapshot."""
    return _upload(file, ingest_invoice_bytes, source, as_of, label, mapping)


# -- health and metrics ---------------------------------------------------------------


@api.get("/metrics", response_class=PlainTextResponse, tags=["health"])
def prometheus_metrics() -> PlainTextResponse:
    """Prometheus metrics in the text exposition format (LLM, forecasts, ingest, HTTP)."""
    return PlainTextResponse(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)



@public.get("/healthz", response_model=Health, tags=["health"])
def healthz() -> Health:
    """The process is up."""
    return Health()


@public.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "the database does not answer"}},
    tags=["health"],
)
def readyz() -> JSONResponse:
    """The database answers (count of snapshots), and the LLM's state (the API works without it)."""
    client = get_llm_client()
    llm = LLMState(
        enabled=client.enabled,
        disabled_reason=client.disabled_reason,
        circuit_state=str(client.circuit_state),
    )
    try:
        (count,) = get_store().fetchone("SELECT count(*) FROM snapshots")
    except Exception as exc:  # any database failure means "not ready", with its class for the operator
        body = Readiness(status="unavailable", database=f"{type(exc).__name__}", llm=llm)
        return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    body = Readiness(status="ready", database="ok", snapshots=int(count), llm=llm)
    return JSONResponse(body.model_dump(mode="json"))
