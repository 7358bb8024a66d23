"""Ingest of CRM deal exports (CSV/XLSX) into canonical deals and dated snapshots.

    parsed = parse_export(data, "deals.csv")            # parse only, writes nothing
    result = ingest_bytes(store, data, "deals.csv")     # parse + save as one snapshot
    result = ingest_file(store, "exports/deals.csv")

The modules: readers.py (bytes -> cells: csv_reader.py, excel_reader.py, layout.py for the
header, blank and summary rows), detect.py, presets.py and mapping.py (which columns mean
what), plan.py and values.py (how each column's values are written), parse.py (the full
parse), direct.py (the direct load of a plain CSV), save.py (the save every ingest shares),
results.py (what an ingest hands back) and pipeline.py (the entry points above).

Importing this package is cheap: the errors and preset names load at once, the pipeline
(DuckDB, pandas, pyarrow) on first use of a name that needs it.

In the CLI: ``python -m core ingest FILE``.
"""

from typing import TYPE_CHECKING

from core.ingest.errors import (
    EmptyFileError,
    FileTooLargeError,
    IngestError,
    MissingColumnsError,
    NoHeaderError,
    NotTabularError,
    UnreadableFileError,
)
from core.ingest.presets import PRESET_NAMES

if TYPE_CHECKING:
    from core.ingest.pipeline import ingest_bytes, ingest_file, parse_export
    from core.ingest.results import IngestResult, ParsedExport, Reject

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

#: Names loaded on first use, and the module that defines each.
_LAZY = {
    "IngestResult": "core.ingest.results",
    "ParsedExport": "core.ingest.results",
    "Reject": "core.ingest.results",
    "ingest_bytes": "core.ingest.pipeline",
    "ingest_file": "core.ingest.pipeline",
    "parse_export": "core.ingest.pipeline",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
