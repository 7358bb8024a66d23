"""Request and response models of the HTTP API (the ones the services do not already define).

The service models are reused as they are: ``EmailDraftContext`` / ``DraftEmailResult``,
``ReminderDraftContext`` / ``DraftReminderResult``, ``IngestResult``, ``Snapshot``,
``BacktestResult``, ``DealPrediction``, ``CashflowBucket``, ``ForecastTotals``, ``Amount``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from core.cashflow.engines import engine_names
from core.cashflow.models import (
    Amount,
    CashflowBucket,
    DealPrediction,
    ForecastOptions,
    ForecastTotals,
    LLMPolicy,
)


class ErrorBody(BaseModel):
    """Every error answer: a sentence saying what went wrong and, where it helps, what to do."""

    detail: str | list[dict[str, Any]] = Field(
        description="what went wrong; for 422, one entry per invalid field (loc, msg, type)"
    )


def _known_engine(name: str) -> str:
    if name not in engine_names():
        raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(engine_names())}")
    return name


class PredictRequest(BaseModel):
    """What ``POST /cashflow/predict`` forecasts: the options of ``python -m core forecast``."""

    snapshot: int | Literal["latest"] = Field("latest", description="snapshot id or 'latest'")
    horizon_days: int = Field(90, ge=1, le=3660, description="days ahead")
    granularity: Literal["week", "month"] = "week"
    min_confidence: float = Field(0.5, ge=0, le=1, description="leave out deals below this confidence")
    engine: str = Field("rules", description="rules, learned, auto or any registered engine")
    llm: bool = Field(False, description="refine unsettled deals with the LLM (503 when it is off)")
    llm_policy: LLMPolicy | None = Field(None, description="deals sent to the LLM (default: the setting)")
    pipeline: str | None = Field(None, description="only this pipeline")
    owner: str | None = Field(None, description="only this owner")
    receivables: int | Literal["latest", "none"] = Field(
        "latest", description="invoice snapshot whose open invoices add cash; 'none': deals only"
    )
    include_deals: bool = Field(True, description="list every deal's prediction (false: periods only)")

    _engine = field_validator("engine")(_known_engine)

    @property
    def forecast(self) -> ForecastOptions:
        return ForecastOptions(
            horizon_days=self.horizon_days,
            granularity=self.granularity,
            min_confidence=self.min_confidence,
            pipeline=self.pipeline,
            owner=self.owner,
        )


class ReceivablesPart(BaseModel):
    """The open invoices a forecast used, and how their cash was counted."""

    snapshot_id: int | None = None
    summary: dict[str, Amount] = Field(default_factory=dict)
    invoices: list[dict[str, Any]] = Field(default_factory=list)


class ForecastResponse(BaseModel):
    """The forecast of one snapshot: the same document as ``python -m core forecast --json``."""

    snapshot_id: int | None
    as_of: dt.date
    engine: str
    horizon_days: int
    granularity: Literal["week", "month"]
    min_confidence: float
    pipeline: str | None
    owner: str | None
    base_currency: str
    assumptions_version: int
    run_id: str
    periods: list[CashflowBucket]
    totals: ForecastTotals
    excluded: dict[str, Amount]
    shown: dict[str, Amount]
    warnings: list[str]
    deals: list[DealPrediction]
    receivables: ReceivablesPart


class ExplainResponse(BaseModel):
    """One deal's prediction with its reasoning, flags, method, and the assumptions behind it."""

    snapshot_id: int
    as_of: dt.date
    engine: str
    assumptions_version: int
    base_currency: str
    prediction: DealPrediction
    assumptions: list[str] = Field(description="the global assumptions in force, as sentences")


class RejectedRow(BaseModel):
    """A source row that did not load: its row number in the file, its text, and why."""

    row_number: int
    raw: str | None
    reason: str


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class LLMState(BaseModel):
    enabled: bool
    disabled_reason: str | None
    circuit_state: str


class Readiness(BaseModel):
    """Whether the database answers, and what state the (optional) LLM is in."""

    status: Literal["ready", "unavailable"]
    database: str
    snapshots: int | None = None
    llm: LLMState
