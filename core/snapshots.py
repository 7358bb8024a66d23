"""An upload as the store keeps it: the snapshot models, and the raw bytes packed for
``raw_files`` (core/store.py saves and reads them)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

SnapshotRef = int | str  # an id, or "latest"

#: Raw uploads larger than this are stored zstd-compressed (``raw_files.compression``).
RAW_COMPRESS_BYTES = 1024 * 1024



class Snapshot(BaseModel):
    """One stored upload and what happened to its rows."""

    id: int
    kind: str = "deals"
    as_of: dt.date
    source: str
    file_name: str
    sha256: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    mapping: dict[str, Any] = Field(default_factory=dict)
    detection: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    label: str | None = None
    created_at: dt.datetime | None = None
    uploaded_by: str | None = None


class NewSnapshot(BaseModel):
    """What an ingest hands the store to save (the id is assigned on save)."""

    kind: str = "deals"
    as_of: dt.date
    source: str
    file_name: str
    sha256: str
    rows_read: int
    mapping: dict[str, Any] = Field(default_factory=dict)
    detection: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    label: str | None = None
    uploaded_by: str | None = None


def pack_raw(raw: bytes) -> tuple[str | None, bytes]:
    """(compression, content) to store for an upload's bytes."""
    import pyarrow as pa

    if len(raw) <= RAW_COMPRESS_BYTES:
        return None, raw
    return "zstd", pa.Codec("zstd", compression_level=1).compress(raw, asbytes=True)


def unpack_raw(content: bytes, compression: str | None, size: int | None) -> bytes:
    """The original bytes from what ``pack_raw`` stored."""
    import pyarrow as pa

    if compression is None:
        return content
    return pa.Codec(compression).decompress(content, decompressed_size=size, asbytes=True)
