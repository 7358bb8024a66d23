"""Writer contexts from stored deals: one canonical deal row (plus its history) in, a context out.

"Today" is the snapshot's as-of date, never the wall clock: days in stage and days since
the last note are counted to it, so a summary of last month's snapshot reads as it did then.

    record = load_deal(store, "4821")                 # latest snapshot; or snapshot=12
    context = build_context("health", record, {"tone": "firm"})
    result = get_writer_service().analyze_deal_health_sync(context)
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
from pydantic import BaseModel, ValidationError

from core.deals import DEAL_COLUMNS, conform
from core.errors import InputError, NotFoundError, validation_problems
from core.store import SnapshotRef, Store
from core.writer.models import (
    DEFAULT_EMAIL_INTENT,
    ComplianceContext,
    DealFacts,
    DealHealthContext,
    DealSummaryContext,
    EmailDraftContext,
    Note,
    NoteSummaryContext,
    OrderReceivedContext,
    ReminderDraftContext,
    StageChange,
    parse_notes,
)

#: Each kind of writing and the context it takes.
CONTEXT_TYPES: dict[str, type[BaseModel]] = {
    "summarize": DealSummaryContext,
    "compliance": ComplianceContext,
    "order": OrderReceivedContext,
    "health": DealHealthContext,
    "email": EmailDraftContext,
    "reminder": ReminderDraftContext,
    "notes": NoteSummaryContext,
}

#: What a follow-up email about stored deals is for, unless the caller says.

_HISTORY_SQL = """
SELECT s.as_of, d.stage
FROM deals d JOIN snapshots s ON s.id = d.snapshot_id
WHERE d.deal_id = ? AND s.kind = 'deals' AND s.as_of <= ? AND d.stage IS NOT NULL
ORDER BY s.as_of, s.id
"""


class DealRecord(BaseModel):
    """One deal as the writer needs it: its canonical row, as-of date, notes and history."""

    as_of: dt.date
    row: dict[str, Any]
    notes: list[Note]
    stage_history: list[StageChange]

    @property
    def deal_id(self) -> str:
        return str(self.row["deal_id"])

    def get(self, column: str) -> Any:
        return self.row.get(column)

    @property
    def days_in_stage(self) -> int | None:
        """As-of minus the last stage change, else minus the created date; never negative."""
        since = self.get("stage_changed_at") or self.get("created_at")
        return max((self.as_of - since).days, 0) if since else None

    @property
    def days_since_last_note(self) -> int | None:
        dates = [note.date for note in self.notes if note.date and note.date <= self.as_of]
        return (self.as_of - max(dates)).days if dates else None

    @property
    def custom_fields(self) -> dict[str, str]:
        """The export's unmapped columns (``extra``), as text."""
        extra = self.get("extra")
        values = json.loads(extra) if isinstance(extra, str) and extra else (extra or {})
        return {str(k): "" if v is None else str(v) for k, v in values.items()}

    def facts(self) -> DealFacts:
        return DealFacts(
            deal_id=self.deal_id, title=self.get("title") or self.deal_id, pipeline=self.get("pipeline"),
            stage=self.get("stage"),
            value=self.get("value"), currency=self.get("currency"), organization=self.get("organization"),
            contact=self.get("contact"), owner=self.get("owner"), days_in_stage=self.days_in_stage,
            expected_close=self.get("expected_close"), notes=self.notes,
        )


def _plain(value: Any) -> Any:
    """A frame cell as a plain Python value: dates as dates, missing as None."""
    if value is None or (not isinstance(value, (list, dict, str)) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value.item() if hasattr(value, "item") else value


def load_deal(store: Store, deal_id: str, snapshot: SnapshotRef = "latest") -> DealRecord:
    """The deal ``deal_id`` in a snapshot (default: the latest); raises NotFoundError."""
    found = store.resolve_snapshot(snapshot)
    columns = ", ".join(DEAL_COLUMNS)
    frame = store.query_df(
        f"SELECT {columns} FROM deals WHERE snapshot_id = ? AND deal_id = ?", [found.id, str(deal_id)]
    )
    if frame.empty:
        raise NotFoundError(f"No deal {deal_id!r} in snapshot {found.id} (as of {found.as_of}).")
    row = {name: _plain(value) for name, value in conform(frame).iloc[0].items()}
    history = store.fetchall(_HISTORY_SQL, [str(deal_id), found.as_of])
    return DealRecord(as_of=found.as_of, row=row, notes=parse_notes(row["notes"]),
                      stage_history=_stage_changes(history, row))


def _stage_changes(history: list[tuple[dt.date, str]], row: dict[str, Any]) -> list[StageChange]:
    """One entry per stage the snapshots saw, dated by the first snapshot that showed it;
    the current stage is dated by the export's own stage-change date when it has one."""
    changes: list[StageChange] = []
    for as_of, stage in history:
        if not changes or changes[-1].stage != stage:
            changes.append(StageChange(stage=stage, entered_at=as_of))
    if changes and row.get("stage_changed_at") and changes[-1].stage == row.get("stage"):
        changes[-1] = StageChange(stage=changes[-1].stage, entered_at=row["stage_changed_at"])
    return changes


def _base(kind: str, record: DealRecord) -> dict[str, Any]:
    """What the deal itself says, for the context of ``kind``."""
    facts = record.facts()
    deal = {"deal_id": facts.deal_id, "title": facts.title, "stage": facts.stage, "notes": record.notes}
    if kind == "summarize":
        return {**deal, "owner": facts.owner, "days_in_stage": facts.days_in_stage, "value": facts.value,
                "currency": facts.currency, "organization": facts.organization}
    if kind == "compliance":
        return {**deal, "custom_fields": record.custom_fields}
    if kind == "order":
        return {**deal, "organization": facts.organization, "contact": facts.contact, "value": facts.value,
                "currency": facts.currency, "days_in_stage": facts.days_in_stage}
    if kind == "health":
        return {**deal, "days_in_stage": facts.days_in_stage, "value": facts.value,
                "currency": facts.currency, "owner": facts.owner, "stage_history": record.stage_history,
                "last_activity": record.get("updated_at"),
                "days_since_last_note": record.days_since_last_note}
    if kind == "reminder":
        return {"deal_id": facts.deal_id, "deal_title": facts.title, "stage": facts.stage,
                "recipient_name": facts.contact}
    if kind == "notes":
        return {"deal_id": facts.deal_id, "title": facts.title, "notes": record.notes}
    raise ValueError(f"no single-deal context for {kind!r}")


def build_context(kind: str, records: DealRecord | list[DealRecord], options: dict[str, Any]) -> BaseModel:
    """The context of ``kind`` from one deal (several for an email), with ``options`` on top.

    Raises InputError naming each field that does not fit (e.g. a deal without notes for
    ``notes``, or an email without recipients when the deal has no contact).
    """
    records = records if isinstance(records, list) else [records]
    if kind == "email":
        first = records[0].facts()
        recipients = [name for name in (first.contact or first.organization,) if name]
        base: dict[str, Any] = {"deal_contexts": [record.facts() for record in records],
                                "recipients": recipients, "subject_intent": DEFAULT_EMAIL_INTENT}
    else:
        base = _base(kind, records[0])
    return validate_context(kind, {**base, **options})


def validate_context(kind: str, values: dict[str, Any]) -> BaseModel:
    """``values`` as the context of ``kind``; raises InputError with one line per bad field."""
    try:
        return CONTEXT_TYPES[kind].model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(validation_problems(exc, "context"))
        raise InputError(f"Cannot build the {kind} context: {problems}") from None
