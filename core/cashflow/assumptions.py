"""Forecast assumptions as data: the stage table, payment terms, penalties and thresholds.

The numbers of DESIGN 5.1 live in ``SEED_PROFILE``; the Settings page edits a copy and
saves it as a new version in the store's ``assumptions`` table. ``load_assumptions``
returns the newest saved version, or the seed when nothing has been saved, so a forecast
always names the assumptions it used (``Assumptions.version``; 0 is the seed).
"""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from core.config import get_settings
from core.currency import DEFAULT_SAR_RATES, RateTable
from core.deals import normalise_stage
from core.store import Store


class StageRule(BaseModel):
    """One row of the stage table: days from the as-of date to the invoice."""

    name: str
    optimistic: int = Field(ge=0)
    realistic: int = Field(ge=0)
    conservative: int = Field(ge=0)
    late: bool = Field(False, description="late stage: confidence is late_stage_confidence")
    probability: float | None = Field(None, ge=0, le=1, description="win probability when the deal has none")
    aliases: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> StageRule:
        if not self.optimistic <= self.realistic <= self.conservative:
            raise ValueError(f"stage {self.name!r}: optimistic <= realistic <= conservative is required")
        return self


class StuckRule(BaseModel):
    """A deal longer than ``over_days`` in its stage: invoice later, confidence lower."""

    over_days: int = Field(ge=0)
    add_days: int = Field(ge=0)
    confidence_penalty: float = Field(ge=0, le=1)


class PaymentRule(BaseModel):
    """Payment terms for deals whose organization or pipeline matches ``pattern``.

    ``pattern`` is a case-insensitive regular expression searched in the field, so a
    plain word such as ``aramco`` matches "Saudi Aramco".
    """

    field: Literal["organization", "pipeline"] = "organization"
    pattern: str
    days: int = Field(ge=0)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"payment rule pattern {pattern!r} is not a valid expression: {exc}") from exc
        return pattern


class ValidationThresholds(BaseModel):
    """When ``validate_prediction`` warns."""

    max_invoice_days_ahead: int = 365
    max_payment_gap_days: int = 90


class Assumptions(BaseModel):
    """Everything the rules engine assumes, editable as one versioned profile."""

    version: int = Field(0, description="0 for the seed profile, else the stored version")
    stages: list[StageRule]
    invoiced_stages: list[str] = Field(default_factory=lambda: ["Invoice Issued", "Invoiced"])
    paid_stages: list[str] = Field(default_factory=lambda: ["Payment Received", "Paid"])
    unknown_stage: StageRule = StageRule(name="(unknown stage)", optimistic=30, realistic=45, conservative=90)
    unknown_stage_confidence: float = 0.50
    base_confidence: float = 0.70
    late_stage_confidence: float = 0.85
    invoiced_confidence: float = 0.95
    stuck: list[StuckRule] = Field(
        default_factory=lambda: [
            StuckRule(over_days=60, add_days=14, confidence_penalty=0.10),
            StuckRule(over_days=30, add_days=7, confidence_penalty=0.05),
        ]
    )
    confidence_min: float = 0.30
    confidence_max: float = 0.95
    data_issue_penalty: float = Field(
        0.10, description="off the confidence of a deal with inconsistent dates"
    )
    default_payment_days: int = 37
    payment_rules: list[PaymentRule] = Field(
        default_factory=lambda: [
            PaymentRule(field="organization", pattern="aramco", days=7),
        ]
    )
    past_invoice_days: int = Field(30, description="a non-fact invoice date this far in the past is moved")
    past_invoice_reset_days: int = Field(7, description="... to as-of plus this many days")
    past_invoice_penalty: float = 0.20
    validation: ValidationThresholds = ValidationThresholds()
    base_currency: str = "SAR"
    rates: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_SAR_RATES),
        description="base-currency units per one unit of each currency (the ingest's defaults)",
    )

    @model_validator(mode="after")
    def _stuck_longest_first(self) -> Assumptions:
        self.stuck = sorted(self.stuck, key=lambda rule: rule.over_days, reverse=True)
        self.rates = {code.upper(): rate for code, rate in self.rates.items()}
        return self

    @property
    def stage_index(self) -> dict[str, int]:
        """Normalised stage name or alias -> row of ``stages``."""
        index: dict[str, int] = {}
        for row, stage in enumerate(self.stages):
            for name in (stage.name, *stage.aliases):
                index[normalise_stage(name)] = row
        return index

    def match_stage(self, name: object) -> int | None:
        """The row of the stage table a raw stage name means, or None when unknown."""
        return self.stage_index.get(normalise_stage(name))

    def is_invoiced_stage(self, name: object) -> bool:
        return normalise_stage(name) in {normalise_stage(s) for s in self.invoiced_stages}

    def is_paid_stage(self, name: object) -> bool:
        return normalise_stage(name) in {normalise_stage(s) for s in self.paid_stages}

    def payment_rule_for(self, organization: object, pipeline: object) -> int | None:
        """The first payment rule matching this organization or pipeline, or None."""
        for position, rule in enumerate(self.payment_rules):
            text = organization if rule.field == "organization" else pipeline
            if isinstance(text, str) and re.search(rule.pattern, text, re.IGNORECASE):
                return position
        return None

    def rate_table(self) -> RateTable:
        """The rates as the ingest takes them (``ingest_bytes(..., rates=...)``)."""
        return RateTable(base=self.base_currency, rates=self.rates)

    def profile_json(self) -> str:
        """The profile without its version, as stored in the ``assumptions`` table."""
        return self.model_dump_json(exclude={"version"})


SEED_PROFILE = Assumptions(
    stages=[
        StageRule(name="Order Received", optimistic=27, realistic=42, conservative=67),
        StageRule(name="Approved", optimistic=17, realistic=29, conservative=51),
        StageRule(name="Awaiting Payment", optimistic=16, realistic=27, conservative=49),
        StageRule(name="Awaiting Site Readiness", optimistic=13, realistic=22, conservative=42),
        StageRule(
            name="Everything Ready (but not started)",
            optimistic=10,
            realistic=17,
            conservative=35,
            aliases=["Everything Ready"],
        ),
        StageRule(
            name="Under Progress", optimistic=7, realistic=12, conservative=28, aliases=["Underprogress"]
        ),
        StageRule(name="Production/Supplying", optimistic=7, realistic=12, conservative=28),
        StageRule(name="Awaiting MDD", optimistic=7, realistic=12, conservative=28, late=True),
        StageRule(name="Awaiting GCC", optimistic=5, realistic=10, conservative=21, late=True),
        StageRule(name="Awaiting GR", optimistic=4, realistic=7, conservative=14, late=True),
    ],
)


def load_assumptions(store: Store) -> Assumptions:
    """The newest saved assumptions, or ``SEED_PROFILE`` when none were saved."""
    row = (
        store.cursor()
        .execute("SELECT version, profile FROM assumptions ORDER BY version DESC LIMIT 1")
        .fetchone()
    )
    if row is None:
        return SEED_PROFILE
    return Assumptions.model_validate({**json.loads(row[1]), "version": row[0]})


def upload_rates(store: Store, base_currency: str | None = None) -> RateTable | None:
    """The rate table new uploads convert with: the saved assumptions' rates (edited on the
    Settings page) when they convert to ``base_currency`` (by default the configured one, as
    every upload path wants); None means the ingest defaults."""
    if base_currency is None:
        base_currency = get_settings().base_currency
    assumptions = load_assumptions(store)
    if assumptions.version == 0 or assumptions.base_currency != base_currency:
        return None
    return assumptions.rate_table()


def save_assumptions(store: Store, profile: Assumptions, note: str = "") -> Assumptions:
    """Store ``profile`` as a new version and return it carrying that version number."""
    with store.transaction() as cur:
        (latest,) = cur.execute("SELECT coalesce(max(version), 0) FROM assumptions").fetchone()
        version = int(latest) + 1
        cur.execute(
            "INSERT INTO assumptions (version, profile, note) VALUES (?, ?, ?)",
            [version, profile.profile_json(), note or None],
        )
    return profile.model_copy(update={"version": version})


def list_assumption_versions(store: Store) -> list[dict[str, object]]:
    """Every saved version with its note and time, newest first."""
    frame = store.query_df("SELECT version, note, created_at FROM assumptions ORDER BY version DESC")
    return frame.to_dict("records")
