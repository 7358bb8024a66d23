"""The save of an upload, shared by every ingest (deal exports and invoice lists).

``ingest_upload`` is the frame each ingest runs in: the options every ingest takes
(``IngestOptions``), "already loaded?" by sha256, the raw bytes compressed in a thread while
the file is parsed, and the parse's temporary tables dropped at the end. Its ``Upload``
turns a ``Parse`` into a snapshot and saves it, under one lock for every kind of upload.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from core.config import get_settings
from core.currency import RateTable
from core.errors import InputError
from core.ingest.errors import UnreadableFileError
from core.ingest.results import IngestResult, Parse, Reject
from core.ingest.values import DATE_ORDERS
from core.snapshots import NewSnapshot, Snapshot, pack_raw
from core.store import Store

if TYPE_CHECKING:
    import pyarrow as pa

#: Serialises the "already loaded?" check with the save, so two threads loading the same
#: bytes at once make one snapshot.
_save_lock = threading.Lock()
#: Compresses uploads for ``raw_files`` (and counts their lines) while DuckDB parses them
#: (zstd and numpy release the GIL).
packer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dealcast-pack")


@dataclass(frozen=True)
class IngestOptions:
    """What every ingest (``ingest_bytes``, ``ingest_invoice_bytes``) takes beside the file.

    ``source``: a preset name or ``auto`` (detected from the headers); ``as_of``: the
    snapshot's date (default: the newest date in the file, else today); ``mapping``:
    canonical column -> file column, over the preset's; ``rates``: currency rates to the base
    currency (default: the settings' base currency alone); ``label``: shown with the snapshot;
    ``date_order``: for ambiguous date columns (default: the preset's); ``max_bytes``: the
    upload limit (default ``DEALCAST_MAX_UPLOAD_MB``); ``path``: a file holding exactly the
    bytes, read in place; ``uploaded_by``: the signed-in email, or ``cli:<user>``.
    """

    source: str = "auto"
    as_of: dt.date | str | None = None
    mapping: dict[str, str] | None = None
    rates: RateTable | None = None
    label: str | None = None
    date_order: str | None = None
    max_bytes: int | None = None
    path: str | Path | None = None
    uploaded_by: str | None = None

    def check(self, sources: Sequence[str], what: str = "source") -> None:
        """Raise InputError for a ``source`` not among ``sources`` (or auto) or an unknown date order."""
        if self.source != "auto" and self.source not in sources:
            raise InputError(f"unknown {what} {self.source!r}; choose auto or one of {', '.join(sources)}.")
        if self.date_order is not None and self.date_order not in DATE_ORDERS:
            raise InputError(
                f"unknown date order {self.date_order!r}; choose one of {', '.join(DATE_ORDERS)}."
            )

    def rate_table(self) -> RateTable:
        """``rates``, else the settings' base currency alone."""
        return self.rates or RateTable.default(get_settings().base_currency)

    def byte_limit(self) -> int:
        """``max_bytes``, else the settings' upload limit."""
        return get_settings().max_upload_bytes if self.max_bytes is None else self.max_bytes

    def file_path(self) -> str | None:
        return None if self.path is None else str(self.path)


@dataclass
class Upload:
    """An upload being ingested: its bytes, where they go, and what was said of them. ``cursor``
    is the store's cursor of this thread, which holds the parse's temporary tables."""

    store: Store
    cursor: duckdb.DuckDBPyConnection
    data: bytes
    file_name: str
    kind: str
    sha256: str
    as_of: dt.date | None
    options: IngestOptions
    packed: Future[tuple[str | None, bytes]]

    def snapshot_as_of(self, guess: dt.date | None) -> dt.date:
        """The snapshot's date: the one given, else ``guess`` (the newest in the file), else today."""
        return self.as_of or guess or dt.datetime.now(dt.UTC).date()

    def snapshot(self, parse: Parse) -> NewSnapshot:
        """The snapshot ``parse`` makes of this upload."""
        return NewSnapshot(
            kind=self.kind,
            as_of=self.snapshot_as_of(parse.as_of_guess),
            source=parse.source,
            file_name=self.file_name,
            sha256=self.sha256,
            rows_read=parse.rows_read,
            mapping=parse.mapping,
            detection=parse.detection,
            warnings=parse.warnings,
            label=self.options.label,
            uploaded_by=self.options.uploaded_by,
        )

    def save(self, parse: Parse, rows_table: str) -> IngestResult:
        """Save the rows ``parse.rows_sql`` selects into ``rows_table``, with the rejects, raw bytes
        and counts, as one snapshot (unless the same bytes were loaded meanwhile)."""
        new = self.snapshot(parse)

        def write() -> IngestResult:
            rows = self.cursor.sql(parse.rows_sql)
            snapshot = self.store.save_snapshot(
                new, rows, parse.rejects, self.data, rows_table=rows_table, packed=self.packed
            )
            return saved_result(snapshot, new, parse.rejects)

        return save_upload(self.store, self.sha256, self.kind, write)


def ingest_upload(
    store: Store,
    data: bytes,
    file_name: str,
    kind: str,
    options: IngestOptions,
    load: Callable[[Upload], IngestResult],
    work_tables: Sequence[str],
) -> IngestResult:
    """Ingest ``data`` as a snapshot of ``kind``: ``load`` parses and saves it (``Upload.save``),
    unless these exact bytes are already loaded; the temporary ``work_tables`` it leaves on the
    store's cursor are dropped, whatever happens."""
    as_of = as_date(options.as_of) if options.as_of is not None else None
    packed = packer.submit(pack_raw, data)  # while the bytes are hashed and parsed
    sha256 = hashlib.sha256(data).hexdigest()
    existing = store.find_snapshot_by_sha(sha256, kind=kind)
    if existing is not None:
        return duplicate_result(store, existing.id)
    cur = store.cursor()
    try:
        return load(Upload(store, cur, data, file_name, kind, sha256, as_of, options, packed))
    finally:
        for table in work_tables:
            cur.execute(f"DROP TABLE IF EXISTS temp.{table}")


def ingest_path(
    ingest: Callable[..., IngestResult], store: Store, path: str | Path, options: dict[str, Any]
) -> IngestResult:
    """``ingest(store, data, file_name, ...)`` for a file on disk; the snapshot keeps its name."""
    path = Path(path)
    return ingest(store, file_bytes(path), path.name, path=path, **options)

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


def saved_result(snapshot: Snapshot, new: NewSnapshot, rejects: pa.Table) -> IngestResult:
    """The result of saving ``new`` with its ``rejects`` as ``snapshot``."""
    columns = rejects.select(["row_number", "reason"]).to_pydict()
    return _result(
        snapshot,
        _reject_list(columns["row_number"], columns["reason"]),
        new.warnings,
        mapping=new.mapping,
        detection=new.detection,
    )


def duplicate_result(store: Store, snapshot_id: int) -> IngestResult:
    snapshot = store.get_snapshot(snapshot_id)
    warning = (
        f"{snapshot.file_name}: these exact bytes are already loaded as snapshot {snapshot.id}; "
        "nothing was written."
    )
    rejects = store.load_rejects(snapshot.id)
    return _result(
        snapshot,
        _reject_list(rejects["row_number"], rejects["reason"]),
        [warning],
        mapping=snapshot.mapping,
        detection=snapshot.detection,
        duplicate_of=snapshot.id,
    )


def _result(
    snapshot: Snapshot,
    rejects: list[Reject],
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
        rejects=rejects,
        warnings=warnings,
        duplicate_of=duplicate_of,
        mapping=mapping,
        detection=detection,
    )


def _reject_list(rows: Iterable[Any], reasons: Iterable[Any]) -> list[Reject]:
    return [Reject(row=int(row), reason=str(reason)) for row, reason in zip(rows, reasons, strict=True)]


def as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"as-of date {value!r} is not a date; use YYYY-MM-DD.") from None

