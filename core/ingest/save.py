"""The save of an upload, shared by every ingest (deal exports and invoice lists): the file's
bytes, the as-of date, "already loaded?" by sha256 under one lock, and the result of a save or
of bytes already loaded."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from core.errors import InputError
from core.ingest.errors import UnreadableFileError
from core.ingest.results import IngestResult, Reject
from core.store import NewSnapshot, Snapshot, Store

#: Serialises the "already loaded?" check with the save, so two threads loading the same
#: bytes at once make one snapshot.
_save_lock = threading.Lock()
#: Compresses uploads for ``raw_files`` (and counts their lines) while DuckDB parses them
#: (zstd and numpy release the GIL).
packer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dealcast-pack")

def file_bytes(path: Path) -> bytes:
    """The bytes of an upload on disk; a missing or unreadable file is a clear error."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file.") from None
    except OSError as exc:
        raise UnreadableFileError(f"{path}: cannot be read: {exc.strerror or exc}.") from None


def save_upload(store: Store, sha256: str, kind: str, save: Callable[[], IngestResult]) -> IngestResult:
    """Run ``save`` (which stores an upload of ``kind`` with ``sha256`` and says what it did)
    unless the same bytes were loaded while this upload was parsed. One lock for every kind
    of upload, so two threads loading the same bytes at once make one snapshot."""
    with _save_lock:
        existing = store.find_snapshot_by_sha(sha256, kind=kind)
        if existing is not None:
            return duplicate_result(store, existing.id)
        return save()


def saved_result(snapshot: Snapshot, new: NewSnapshot, rejects: pd.DataFrame) -> IngestResult:
    """The result of saving ``new`` with its ``rejects`` as ``snapshot``."""
    return _result(snapshot, rejects, new.warnings, mapping=new.mapping, detection=new.detection)


def duplicate_result(store: Store, snapshot_id: int) -> IngestResult:
    snapshot = store.get_snapshot(snapshot_id)
    warning = (
        f"{snapshot.file_name}: these exact bytes are already loaded as snapshot {snapshot.id}; "
        "nothing was written."
    )
    return _result(
        snapshot,
        store.load_rejects(snapshot.id),
        [warning],
        mapping=snapshot.mapping,
        detection=snapshot.detection,
        duplicate_of=snapshot.id,
    )


def _result(
    snapshot: Snapshot,
    rejects: pd.DataFrame,
    warnings: list[str],
    *,
    mapping: dict[str, str],
    detection: dict[str, Any],
    duplicate_of: int | None = None,
) -> IngestResult:
    """The result of an upload that is (now, or already was) ``snapshot``."""
    return IngestResult(
        snapshot_id=snapshot.id,
        source=snapshot.source,
        as_of=snapshot.as_of,
        file_name=snapshot.file_name,
        rows_read=snapshot.rows_read,
        rows_loaded=snapshot.rows_loaded,
        rows_rejected=snapshot.rows_rejected,
        rejects=_reject_list(rejects),
        warnings=warnings,
        duplicate_of=duplicate_of,
        mapping=mapping,
        detection=detection,
    )


def _reject_list(rejects: pd.DataFrame) -> list[Reject]:
    return [
        Reject(row=int(row), reason=str(reason))
        for row, reason in zip(rejects["row_number"], rejects["reason"], strict=True)
    ]


def as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"as-of date {value!r} is not a date; use YYYY-MM-DD.") from None

