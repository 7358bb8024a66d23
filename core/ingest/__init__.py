"""Ingest of CRM deal exports (CSV/XLSX) into canonical deals and dated snapshots.

    parsed = parse_export(data, "deals.csv")            # parse only, writes nothing
    result = ingest_bytes(store, data, "deals.csv")     # parse + save as one snapshot
    result = ingest_file(store, "exports/deals.csv")

In the CLI: ``python -m core ingest FILE``.
"""

from core.ingest.errors import (
    EmptyFileError,
    FileTooLargeError,
    IngestError,
    MissingColumnsError,
    NoHeaderError,
    NotTabularError,
    UnreadableFileError,
)
from core.ingest.pipeline import IngestResult, ParsedExport, Reject, ingest_bytes, ingest_file, parse_export
from core.ingest.presets import PRESET_NAMES

__all__ = [
    "PRESET_NAMES",
    "EmptyFileError",
    "FileTooLargeError",
    "IngestError",
    "IngestResult",
    "MissingColumnsError",
    "NoHeaderError",
    "NotTabularError",
    "ParsedExport",
    "Reject",
    "UnreadableFileError",
    "ingest_bytes",
    "ingest_file",
    "parse_export",
]
