"""The service's edge models: what callers pass in and get back (names kept from the seed).

Deal ids are strings; money is in the base currency of the assumptions in force. Bulk
work never builds these per deal on a hot path: the service works on frames and turns
only what a caller asked for into models.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Literal, get_args

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from core.config import get_settings
from core.errors import InputError

EngineName = str  # "rules", "learned", "auto" or any registered engine
LLMPolicy = Literal["all", "unknown", "stuck", "unknown_and_stuck"]
GroupBy = Literal["week", "month", "owner", "stage"]
#: callable(done, total, message): long work reports progress through it.
ProgressCallback = Callable[[int, int, str], None]


class _Input(BaseModel):
    """Base of every input model: an unknown field is an error, never silently ignored.

    Models here build their validators when first used, not at import (``defer_build``): a
    process that uses two of them (a text forecast: the options) does not build sixteen."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


class _Output(BaseModel):
    """Base of every result model (validators built when first used, as for ``_Input``)."""

    model_config = ConfigDict(defer_build=True)


class DealForPrediction(_Input):
    """One deal in the canonical schema (core.deals), for callers that hold single deals.

    The seed's ``deal_title`` is accepted for ``title`` (and read back as ``deal_title``).
    """

    deal_id: str
    title: str | None = Field(None, validation_alias=AliasChoices("title", "deal_title"))
    pipeline: str | None = None
    stage: str | None = None
    status: str | None = "open"
    value: float | None = None
    currency: str | None = None
    value_base: float | None = None
    probability: float | None = None
    owner: str | None = None
    organization: str | None = None
    contact: str | None = None
    created_at: dt.date | None = None
    updated_at: dt.date | None = None
    stage_changed_at: dt.date | None = None
    expected_close: dt.date | None = None
    won_at: dt.date | None = None
    lost_at: dt.date | None = None
    closed_at: dt.date | None = None
    invoice_date: dt.date | None = None
    payment_date: dt.date | None = None
    notes: str | None = None

    @property
    def deal_title(self) -> str | None:
        """The seed's name for ``title``."""
        return self.title


def _llm_setting(name: str):
    """The LLM path's defaults come from settings (``DEALCAST_LLM_FORECAST_*``)."""
    value = getattr(get_settings(), name)
    if name == "llm_forecast_policy" and value not in get_args(LLMPolicy):
        raise InputError(
            f"DEALCAST_LLM_FORECAST_POLICY={value!r} is not one of {', '.join(get_args(LLMPolicy))}."
        )
    return value


class PredictionOptions(_Input):
    """How to predict: which engine, and whether (and for which deals) to ask the LLM."""

    engine: EngineName = "rules"
    use_llm: bool = False
    llm_policy: LLMPolicy = Field(default_factory=lambda: _llm_setting("llm_forecast_policy"))
    llm_batch_size: int = Field(default_factory=lambda: _llm_setting("llm_forecast_batch_size"), ge=1)
    llm_concurrency: int = Field(default_factory=lambda: _llm_setting("llm_forecast_in_flight"), ge=1)
    min_samples: int = Field(8, ge=1, description="learned engine: fewest observed invoices per stage")
    store_results: bool = True
    receivables: int | str | None = Field(
        "latest",
        description="invoices snapshot whose open invoices and payment behaviour the forecast uses: an id, "
        "'latest' (the newest as of the forecast's as-of date, if any) or None",
    )
    payment_min_samples: int = Field(5, ge=1, description="receivables: fewest paid invoices per customer")


class ForecastOptions(_Input):
    """How to aggregate: the dashboard's sliders and filters."""

    horizon_days: int = Field(90, ge=1, le=3660)
    granularity: Literal["week", "month"] = "week"
    min_confidence: float = Field(0.5, ge=0, le=1)
    pipeline: str | list[str] | None = Field(None, description="one pipeline, or several (a deal in any)")
    owner: str | list[str] | None = Field(None, description="one owner, or several (a deal of any)")


#: The seed's top-level request fields and where Dealcast keeps each of them.
SEED_REQUEST_FIELDS = {"pipeline_name": "pipeline", "owner_name": "owner", "horizon_days": "horizon_days",
                       "granularity": "granularity", "min_confidence": "min_confidence"}


class CashflowPredictionInput(_Input):
    """A forecast request: a stored snapshot (or explicit deals with an as-of date).

    The seed's flat form, ``CashflowPredictionInput(pipeline_name="Aramco Projects",
    horizon_days=90, granularity="week")``, is accepted: those fields (and ``owner_name``,
    ``min_confidence``) go into ``forecast`` and are read back from it, never kept twice.
    A field given both ways is an error.
    """

    snapshot: int | str | None = "latest"
    deals: list[DealForPrediction] | None = None
    as_of: dt.date | None = None
    options: PredictionOptions = PredictionOptions()
    forecast: ForecastOptions = ForecastOptions()
    include_deals: bool = True

    @model_validator(mode="before")
    @classmethod
    def _seed_fields(cls, data: object) -> object:
        if not isinstance(data, dict) or not SEED_REQUEST_FIELDS.keys() & data.keys():
            return data
        data = dict(data)
        given = data.get("forecast") or {}
        forecast = given.model_dump(exclude_unset=True) if isinstance(given, BaseModel) else dict(given)
        for seed, own in SEED_REQUEST_FIELDS.items():
            if seed not in data:
                continue
            if own in forecast:
                raise ValueError(f"{seed} and forecast.{own} are the same setting; give one of them")
            forecast[own] = data.pop(seed)
        data["forecast"] = forecast
        return data

    @property
    def pipeline_name(self) -> str | list[str] | None:
        return self.forecast.pipeline

    @property
    def owner_name(self) -> str | list[str] | None:
        return self.forecast.owner

    @property
    def horizon_days(self) -> int:
        return self.forecast.horizon_days

    @property
    def granularity(self) -> str:
        return self.forecast.granularity


class DealPrediction(_Output):
    """One deal's forecast with its reasoning."""

    deal_id: str
    title: str | None = None
    stage: str | None = None
    pipeline: str | None = None
    owner: str | None = None
    organization: str | None = None
    kind: Literal["forecast", "received", "not_forecast"] = "forecast"
    value_base: float | None = None
    probability: float | None = None
    weighted_value: float = 0.0
    predicted_invoice_date: dt.date | None = None
    predicted_payment_date: dt.date | None = None
    invoice_p10: dt.date | None = None
    invoice_p90: dt.date | None = None
    payment_p10: dt.date | None = None
    payment_p90: dt.date | None = None
    confidence: float | None = None
    method: str = "rules"
    reasoning: str = ""
    flags: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    @property
    def deal_title(self) -> str | None:
        """The seed's name for ``title``."""
        return self.title


class Amount(_Output):
    """A number of deals and their weighted value."""

    count: int
    value: float


class CashflowBucket(_Output):
    """One dense time period of the forecast."""

    period: str
    start: dt.date
    end: dt.date
    invoice_value: float
    invoice_value_unweighted: float
    cash_in: float
    cash_in_unweighted: float
    cash_in_p10: float
    cash_in_p90: float
    deal_count: int
    avg_confidence: float | None = None
    #: ``cash_in`` split by where the cash comes from: deals and open invoices.
    cash_in_pipeline: float = 0.0
    cash_in_receivables: float = 0.0
    receivable_count: int = 0

    @property
    def expected_invoice_value_sar(self) -> float:
        """The seed's name for ``invoice_value`` (weighted, in the base currency: SAR by default)."""
        return self.invoice_value


class ForecastPeriod(_Output):
    """One row of a forecast table: a period, an owner or a stage."""

    key: str
    start: dt.date | None = None
    end: dt.date | None = None
    invoice_value: float
    invoice_value_unweighted: float
    cash_in: float
    cash_in_unweighted: float
    deal_count: int
    avg_confidence: float | None = None

    @property
    def period(self) -> str:
        """The seed's name for ``key``."""
        return self.key

    @property
    def expected_invoice_value_sar(self) -> float:
        """The seed's name for ``invoice_value`` (weighted, in the base currency: SAR by default)."""
        return self.invoice_value


class ForecastTotals(_Output):
    """Sums over the periods, and the whole forecast they reconcile with."""

    invoice_value: float
    invoice_value_unweighted: float
    cash_in: float
    cash_in_unweighted: float
    cash_in_p10: float
    cash_in_p90: float
    deal_count: int
    avg_confidence: float | None = None
    forecast_value: float
    forecast_deal_count: int
    cash_in_pipeline: float = 0.0
    cash_in_receivables: float = 0.0
    receivable_count: int = 0


class ForecastTable(_Output):
    """Forecast values grouped by week, month, owner or stage."""

    group_by: GroupBy
    base_currency: str
    rows: list[ForecastPeriod]
    totals: ForecastTotals
    excluded: dict[str, Amount]


class PredictionMetadata(_Output):
    """What a forecast run was."""

    run_id: str
    snapshot_id: int | None = None
    as_of: dt.date
    engine: str
    deals_analysed: int
    deals_with_predictions: int
    average_confidence: float | None = None
    methods: dict[str, int] = Field(default_factory=dict)
    assumptions_version: int
    base_currency: str
    generated_at: dt.datetime
    receivables_snapshot_id: int | None = None

    @property
    def deals_analyzed(self) -> int:
        """The seed's name for ``deals_analysed``."""
        return self.deals_analysed

    @property
    def avg_confidence(self) -> float | None:
        """The seed's name for ``average_confidence``."""
        return self.average_confidence


class CashflowPredictionResult(_Output):
    """Per-deal predictions, periods, totals, exclusions, warnings and metadata."""

    predictions: list[DealPrediction]
    buckets: list[CashflowBucket]
    totals: ForecastTotals
    excluded: dict[str, Amount]
    shown: dict[str, Amount]
    #: Open invoices: all, in the periods, and left out by reason (empty without receivables).
    receivables: dict[str, Amount] = Field(default_factory=dict)
    warnings: list[str]
    assumptions: dict[str, object]
    metadata: PredictionMetadata

    @property
    def aggregated_forecast(self) -> list[CashflowBucket]:
        """The seed's name for ``buckets``."""
        return self.buckets

    @property
    def per_deal_predictions(self) -> list[DealPrediction]:
        """The seed's name for ``predictions``."""
        return self.predictions


class StageEstimate(_Output):
    """What the stage table says about one stage name."""

    stage: str | None
    matched: str | None
    known: bool
    optimistic: int
    realistic: int
    conservative: int
    confidence: float
    late: bool = False
    invoiced: bool = False
    paid: bool = False


class DealPrecheck(_Output):
    """Whether a deal is forecast, and what is wrong with its data."""

    deal_id: str
    kind: Literal["forecast", "received", "not_forecast"]
    flags: list[str]
    issues: list[str]


class AssumptionsReport(_Output):
    """The assumptions in force, how each deal used them, and the confidence spread."""

    assumptions_version: int
    base_currency: str
    global_assumptions: list[str]
    stage_table: list[dict[str, object]]
    per_deal: list[dict[str, object]]
    confidence_distribution: dict[str, int]
    methods: dict[str, int]
