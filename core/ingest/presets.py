"""Source presets: how each CRM names the canonical deal columns.

A preset maps each canonical column (core.deals) to the header names that CRM uses for
it, best first, plus the defaults that cannot be read from a column: which date order
to assume when a column is ambiguous, and whether probabilities are 0..100 or 0..1.
Header names are compared normalised (case, spaces, a trailing ``*`` of Pipedrive's
import template), so ``Deal - Currency of value`` matches ``Deal - Currency of Value``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PRESET_NAMES = ("pipedrive", "hubspot", "salesforce", "generic")


def normalise_header(name: str) -> str:
    """The form headers are compared in: lower case, single spaces, no trailing ``*``."""
    cleaned = re.sub(r"\s+", " ", name.replace("\ufeff", "")).strip().lower()
    return cleaned.rstrip("*").strip()


@dataclass(frozen=True)
class Preset:
    """How one source names the canonical columns, and its defaults."""

    name: str
    columns: dict[str, tuple[str, ...]]
    #: Headers only this source uses; detection counts them as evidence.
    signature: tuple[str, ...] = ()
    #: Header prefix every column of this source carries (Pipedrive's ``Deal - ``).
    prefix: str | None = None
    date_order: str = "dmy"
    #: 100 when probabilities are percentages without a ``%`` sign, 1 when fractions,
    #: None to decide from the values (any value above 1 means percentages).
    probability_scale: float | None = None

    def resolve(self, headers: list[str]) -> dict[str, str]:
        """Canonical column -> the header of ``headers`` this preset reads it from."""
        by_norm: dict[str, str] = {}
        for header in headers:
            by_norm.setdefault(normalise_header(header), header)
        found: dict[str, str] = {}
        used: set[str] = set()
        for canonical, aliases in self.columns.items():
            for alias in aliases:
                header = by_norm.get(normalise_header(alias))
                if header is not None and header not in used:
                    found[canonical] = header
                    used.add(header)
                    break
        return found


PIPEDRIVE = Preset(
    name="pipedrive",
    prefix="deal - ",
    columns={
        "deal_id": ("Deal - ID",),
        "title": ("Deal - Title",),
        "pipeline": ("Deal - Pipeline",),
        "stage": ("Deal - Stage", "Deal - Stage (pipeline)"),
        "status": ("Deal - Status",),
        "value": ("Deal - Value",),
        "currency": ("Deal - Currency of Value", "Deal - Currency"),
        "probability": ("Deal - Probability",),
        "owner": ("Deal - Owner", "Deal - Owner name"),
        "organization": ("Deal - Organization", "Deal - Organization name", "Organization - Name"),
        "contact": ("Deal - Contact person", "Deal - Person", "Person - Name"),
        "created_at": ("Deal - Deal created", "Deal - Add time", "Deal - Created"),
        "updated_at": ("Deal - Update time", "Deal - Updated"),
        "stage_changed_at": ("Deal - Last stage change", "Deal - Stage change time"),
        "expected_close": ("Deal - Expected close date",),
        "won_at": ("Deal - Won time", "Deal - Won date"),
        "lost_at": ("Deal - Lost time", "Deal - Lost date"),
        "closed_at": ("Deal - Deal closed on", "Deal - Close time", "Deal - Closed on"),
        "invoice_date": ("Deal - Invoice date", "Deal - Invoice issued date"),
        "payment_date": ("Deal - Payment date", "Deal - Payment received date"),
        "notes": ("Deal - Notes", "Deal - Note", "Notes"),
    },
    signature=(
        "Deal - ID",
        "Deal - Title",
        "Deal - Value",
        "Deal - Currency of Value",
        "Deal - Stage",
        "Deal - Status",
        "Deal - Deal created",
        "Deal - Update time",
        "Deal - Stage (pipeline)",
        "Deal - Weighted value",
        "Deal - Owner",
    ),
    date_order="dmy",
    probability_scale=100,
)

HUBSPOT = Preset(
    name="hubspot",
    columns={
        "deal_id": ("Record ID", "Deal ID"),
        "title": ("Deal Name",),
        "pipeline": ("Pipeline",),
        "stage": ("Deal Stage",),
        "status": ("Deal Status",),
        "value": ("Amount",),
        "currency": ("Currency", "Deal currency code"),
        "probability": ("Deal probability",),
        "owner": ("Deal owner",),
        "organization": ("Associated Company", "Company name", "Associated Company (Primary)"),
        "contact": ("Associated Contact", "Contact name"),
        "created_at": ("Create Date",),
        "updated_at": ("Last Modified Date",),
        "stage_changed_at": ("Date entered current stage",),
        "expected_close": ("Close Date",),
        "closed_at": ("Closed Date",),
        "invoice_date": ("Invoice Date",),
        "payment_date": ("Payment Date",),
        "notes": ("Deal Description", "Notes"),
    },
    signature=(
        "Record ID",
        "Deal Name",
        "Deal Stage",
        "Amount in company currency",
        "Create Date",
        "Deal owner",
        "Deal probability",
        "Date entered current stage",
    ),
    date_order="mdy",
    probability_scale=1,
)

SALESFORCE = Preset(
    name="salesforce",
    columns={
        "deal_id": ("Opportunity ID", "Opportunity 18 Digit ID"),
        "title": ("Opportunity Name",),
        "pipeline": ("Opportunity Record Type", "Type"),
        "stage": ("Stage",),
        "value": ("Amount",),
        "currency": ("Opportunity Currency", "Amount Currency"),
        "probability": ("Probability (%)", "Probability"),
        "owner": ("Opportunity Owner",),
        "organization": ("Account Name",),
        "contact": ("Primary Contact", "Contact Name"),
        "created_at": ("Created Date",),
        "updated_at": ("Last Modified Date",),
        "stage_changed_at": ("Last Stage Change Date",),
        "expected_close": ("Close Date",),
        "invoice_date": ("Invoice Date",),
        "payment_date": ("Payment Date",),
        "notes": ("Description",),
    },
    signature=(
        "Opportunity Name",
        "Account Name",
        "Opportunity Owner",
        "Forecast Category",
        "Probability (%)",
        "Expected Revenue",
        "Opportunity Currency",
        "Opportunity ID",
    ),
    date_order="mdy",
    probability_scale=100,
)

GENERIC = Preset(
    name="generic",
    columns={
        "deal_id": ("deal_id", "Deal ID", "ID", "Record ID", "Opportunity ID"),
        "title": ("title", "Deal", "Deal Name", "Deal Title", "Name", "Opportunity Name", "Opportunity"),
        "pipeline": ("pipeline", "Pipeline"),
        "stage": ("stage", "Deal Stage", "Stage"),
        "status": ("status", "Deal Status", "State"),
        "value": ("value", "Amount", "Deal Value", "Deal Amount"),
        "currency": ("currency", "Currency Code"),
        "probability": ("probability", "Probability (%)", "Win Probability"),
        "owner": ("owner", "Deal Owner", "Sales Rep", "Salesperson", "Assigned To"),
        "organization": (
            "organization",
            "Organisation",
            "Company",
            "Account",
            "Account Name",
            "Customer",
            "Client",
        ),
        "contact": ("contact", "Contact Person", "Contact Name"),
        "created_at": ("created_at", "Created", "Created Date", "Create Date", "Created On"),
        "updated_at": ("updated_at", "Updated", "Last Modified", "Last Modified Date", "Update Time"),
        "stage_changed_at": ("stage_changed_at", "Last Stage Change"),
        "expected_close": ("expected_close", "Expected Close Date", "Close Date", "Expected Close"),
        "won_at": ("won_at", "Won Date", "Won Time"),
        "lost_at": ("lost_at", "Lost Date", "Lost Time"),
        "closed_at": ("closed_at", "Closed Date", "Closed On"),
        "invoice_date": ("invoice_date", "Invoice Date"),
        "payment_date": ("payment_date", "Payment Date"),
        "notes": ("notes", "Note", "Comments", "Description"),
    },
    date_order="dmy",
)

PRESETS: dict[str, Preset] = {preset.name: preset for preset in (PIPEDRIVE, HUBSPOT, SALESFORCE, GENERIC)}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; raises KeyError naming the choices when there is none."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; choose one of {', '.join(PRESET_NAMES)}") from None
