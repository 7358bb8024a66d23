"""First-run set-up: make sure the database exists and, when it is empty, holds the sample.

``make run`` calls ``python -m core setup`` before starting the dashboard, and the Upload
page's "Load sample data" button calls ``load_sample_data``, so a newcomer sees a real
forecast without finding an export first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.config import DATA_DIR, SAMPLE_DIR
from core.ingest import IngestResult, ingest_file
from core.receivables import ingest_invoice_file
from core.store import Store

#: The shipped weekly Pipedrive exports; the XLSX twin of the newest one is for trying XLSX
#: uploads by hand and is not loaded, since it would be the same snapshot twice.
SAMPLE_PATTERN = "pipedrive_deals_*.csv"
#: The shipped invoice list (receivables) of the same company, as of the newest deal export.
#: It lives beside data/sample/, which holds exactly the deal sample's generated files.
SAMPLE_INVOICES = DATA_DIR / "receivables" / "invoices_2026-10-26.csv"


def sample_files(sample_dir: Path = SAMPLE_DIR) -> list[Path]:
    """The sample exports in as-of order (their names carry the ISO date)."""
    files = sorted(sample_dir.glob(SAMPLE_PATTERN))
    if not files:
        raise FileNotFoundError(f"No sample exports matching {SAMPLE_PATTERN} in {sample_dir}")
    return files


def load_sample_data(
    store: Store, sample_dir: Path = SAMPLE_DIR, *, uploaded_by: str | None = None
) -> list[IngestResult]:
    """Ingest every sample export, recorded as loaded by ``uploaded_by``; files already
    loaded are reported as duplicates."""
    return [
        ingest_file(store, path, source="pipedrive", label="sample", uploaded_by=uploaded_by)
        for path in sample_files(sample_dir)
    ]


@dataclass(frozen=True)
class SampleLoad:
    """What ``ensure_sample_data`` loaded: the deal snapshots and the invoice list, or nothing."""

    deals: list[IngestResult] = field(default_factory=list)
    invoices: IngestResult | None = None


def ensure_sample_data(
    store: Store, sample_dir: Path = SAMPLE_DIR, *, uploaded_by: str | None = None
) -> SampleLoad:
    """Load the deal sample and the invoice list only when the database has no deal snapshots yet."""
    if store.list_snapshots():
        return SampleLoad()
    deals = load_sample_data(store, sample_dir, uploaded_by=uploaded_by)
    return SampleLoad(deals=deals, invoices=load_sample_invoices(store, uploaded_by=uploaded_by))


def load_sample_invoices(
    store: Store, path: Path = SAMPLE_INVOICES, *, uploaded_by: str | None = None
) -> IngestResult:
    """Ingest the sample invoice list as an invoices snapshot (a duplicate when already loaded)."""
    return ingest_invoice_file(store, path, source="invoice_list", label="sample", uploaded_by=uploaded_by)
