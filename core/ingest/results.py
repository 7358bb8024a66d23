"""What an ingest hands back: the parsed file (``ParsedExport``), and what was saved
(``IngestResult``, with every ``Reject``)."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from core.deals import conform

if TYPE_CHECKING:  # a result needs neither: the API's models import this module
    import pandas as pd
    import pyarrow as pa


@dataclass
class ParsedExport:
    """A parsed file, nothing written yet.

    ``table`` holds the loadable deals as Arrow with the canonical columns of core.deals
    (what ``Store.save_snapshot`` scans); ``deals`` is the same as a pandas frame with
    canonical dtypes, built on first use. ``rejects`` has ``row_number``, ``raw`` and
    ``reason``.
    """

    file_name: str
    sha256: str
    source: str
    table: pa.Table
    rejects: pd.DataFrame
    rows_read: int
    mapping: dict[str, str]
    detection: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    as_of_guess: dt.date | None = None

    @property
    def rows_loaded(self) -> int:
        return self.table.num_rows

    @property
    def rows_rejected(self) -> int:
        return len(self.rejects)

    @functools.cached_property
    def deals(self) -> pd.DataFrame:
        """The loadable deals as a pandas frame with canonical dtypes."""
        return conform(self.table.to_pandas())


class Reject(BaseModel):
    """One source row that did not load, and why."""

    row: int
    reason: str


class IngestResult(BaseModel):
    """What an ingest did: the snapshot, its counts, every rejected row and warning.

    For bytes already loaded nothing is written: ``snapshot_id`` and ``duplicate_of`` are
    both the existing snapshot, and the counts are its counts.
    """

    snapshot_id: int
    source: str
    as_of: dt.date
    file_name: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    rejects: list[Reject] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    duplicate_of: int | None = None
    mapping: dict[str, str] = Field(default_factory=dict)
    detection: dict[str, Any] = Field(default_factory=dict)



@dataclass
class Run:
    """The rows of a parse sorted by its checks: ``rejects`` (``row_number``, ``raw``,
    ``reason``), the data rows read, the newest date among the rows that load (the as-of date
    when none is given) and ``rows_sql``, the SQL selecting the rows to load."""

    rejects: pa.Table
    rows_read: int
    as_of_guess: dt.date | None
    rows_sql: str


@dataclass
class Parse:
    """A parse held in temporary tables of one connection (deal export or invoice list): how
    the file was read and mapped, its warnings, and its ``Run`` (``rows_sql`` selects the
    rows to load)."""

    source: str
    mapping: dict[str, str]
    detection: dict[str, Any]
    warnings: list[str]
    rejects: pa.Table
    rows_read: int
    as_of_guess: dt.date | None
    rows_sql: str
