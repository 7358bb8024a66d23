"""DuckDB storage: a versioned schema, snapshots of uploads, and the tables other parts own.

The connection string comes from settings (``DEALCAST_DB``): a file path, ``:memory:``,
or ``md:<name>`` for MotherDuck, so nothing here touches a file directly and only SQL that
DuckDB shares with MotherDuck is used.

A DuckDB connection object is not thread-safe, and Streamlit runs each session in its
own thread: ``Store.cursor()`` hands each thread its own cursor on one shared connection.
A database file is open only during a unit of work (``Store.session()``), so the dashboard,
the API and the CLI can share it: see core/connections.py.

Tables (core/migrations.py, frozen DDL, is the source of truth):

- ``snapshots``: one row per upload (``kind`` deals or invoices) with its counts.
- ``deals``: the canonical deal columns (core.deals) per snapshot; ``extra`` keeps every
  unmapped source column as JSON.
- ``invoices``: the canonical invoice columns (core.receivables) per invoices snapshot.
- ``rejected_rows``: every source row that did not load, with its reason.
- ``raw_files``: the uploaded bytes, so the original can be downloaded unchanged (files
  over ``RAW_COMPRESS_BYTES``, core/snapshots.py, are kept zstd-compressed: a 270 MB export costs DuckDB
  seconds to write as one value, its 60 MB compressed form a fraction of that).
- ``column_mappings``: a user's mapping remembered per header signature.
- ``assumptions``: versioned forecast assumptions (stage table, terms, penalties).
- ``predictions``: per-deal forecast results per snapshot and run.
- ``llm_calls`` and ``llm_cache``: the LLM call log and response cache.
- ``prompt_outcomes``: results per prompt version and A/B variant.

Other modules own the SQL for their tables and run it through ``cursor()`` /
``transaction()``; this module owns the snapshot life cycle. Beside it: core/migrations.py
(the schema), core/snapshots.py (the snapshot models, raw bytes packed) and core/database.py
(the checks made before a database is opened).
"""

from __future__ import annotations

import array
import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import duckdb

from core import migrations
from core.config import get_settings
from core.connections import Connections
from core.database import check_database, is_read_only
from core.deals import DEAL_COLUMNS, DISPLAY_COLUMNS, from_arrow
from core.errors import InputError, NotFoundError
from core.migrations import SCHEMA_VERSION
from core.monitoring.logs import get_logger
from core.snapshots import NewSnapshot, Snapshot, SnapshotRef, pack_raw, unpack_raw

if TYPE_CHECKING:  # imported where used: listing snapshots needs none of the frame libraries
    import pandas as pd
    import pyarrow as pa

    #: Rows DuckDB can scan: a pandas frame or an Arrow table.
    Rows = pd.DataFrame | pa.Table

_log = get_logger("core.store")

class Store:
    """One DuckDB database: schema migrations, per-thread cursors, snapshot life cycle.

    A database file this process cannot write is opened read-only: commands that only read
    (listing snapshots, a forecast that is not saved) work on it, and a write says it is
    read-only.

    The constructor only checks the connection string (``check_database``): a file is opened,
    and its schema brought up to date, by the first unit of work (``with Store(...)``, a
    session, a cursor), so a command opens its database once."""

    def __init__(self, database: str = ":memory:", *, lock_timeout: float | None = None) -> None:
        self.database = check_database(database)
        self.read_only = is_read_only(database)
        timeout = get_settings().db_lock_timeout if lock_timeout is None else lock_timeout
        self._connections = Connections(
            database, lock_timeout=timeout, read_only=self.read_only, on_first_open=self._migrate
        )

    # -- connection handling (core.connections: a file is open only while work needs it) ---

    def session(self) -> contextlib.AbstractContextManager[None]:
        """Hold the database open for a unit of work; waits (bounded) for another process's hold."""
        return self._connections.session()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (for a file: one that keeps it open while referenced). Prefer
        ``fetchall`` / ``fetchone`` / ``query_df``, which let go of the file explicitly."""
        return self._connections.cursor()

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> None:
        """Run a parameterised statement that returns nothing, holding the database just for that."""
        with self._connections.holding() as cur:
            cur.execute(sql, params)

    def fetchall(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        """Run a parameterised statement and return its rows, holding the database just for that."""
        with self._connections.holding() as cur:
            return cur.execute(sql, params).fetchall()

    def fetchone(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> tuple[Any, ...] | None:
        """Run a parameterised statement and return its first row (None when there is none)."""
        with self._connections.holding() as cur:
            return cur.execute(sql, params).fetchone()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block in one transaction on this thread's cursor: all of it lands, or none."""
        if self.read_only:
            raise InputError(f"The database {self.database} is read-only: this needs to write to it.")
        with self._connections.holding():  # the file stays open until the block is done
            cur = self.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def query_df(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> pd.DataFrame:
        """Run a parameterised query and return its rows as a DataFrame."""
        with self._connections.holding() as cur:
            return cur.execute(sql, params).df()

    def query_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run a parameterised query (``$1``, ``$2``...) and return its rows as an Arrow table.

        Columnar all the way: nothing becomes a Python object. It runs on a cursor of its own,
        so a result this thread's cursor has not finished reading is left alone."""
        cur = self._cursor_for_read()
        try:
            return cur.sql(sql, params=list(params)).to_arrow_table()
        finally:
            cur.close()

    def _cursor_for_read(self) -> duckdb.DuckDBPyConnection:
        return self._connections.own_cursor()

    def close(self) -> None:
        self._connections.close()

    def __enter__(self) -> Store:
        """``with Store(...) as store:`` is one session, and closes the store at the end."""
        self._connections.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._connections.release()
        self.close()

    # -- schema ----------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return migrations.schema_version(self.cursor())

    def _migrate(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Bring the database up to ``SCHEMA_VERSION`` (core/migrations.py), one transaction per
        migration (a read-only database must already be up to date)."""
        if self.read_only:
            if migrations.schema_version(conn) < SCHEMA_VERSION:
                raise InputError(
                    f"The database {self.database} is read-only and needs its schema upgraded; "
                    "open it once where it can be written."
                )
            return
        migrations.migrate(conn)

    # -- snapshots -------------------------------------------------------------------

    def save_snapshot(
        self,
        snapshot: NewSnapshot,
        rows: Any,
        rejects: Rows,
        raw: bytes,
        *,
        rows_table: str = "deals",
        packed: Future[tuple[str | None, bytes]] | None = None,
    ) -> Snapshot:
        """Store one upload atomically: its rows, rejected rows, raw bytes and counts.

        ``rows`` is anything DuckDB can scan (a pandas frame or Arrow table) with the
        columns of ``rows_table`` minus ``snapshot_id``. ``rejects`` (a pandas frame or Arrow
        table too) has ``row_number``, ``raw`` and ``reason``. ``packed`` is ``pack_raw(raw)``
        running in another thread (ingest starts it once its parse is done, so it overlaps the
        rows being written; it is waited for just before the raw bytes are). Raises ``ValueError`` when
        the counts do not add up, and nothing is written.
        """
        columns = self._table_columns(rows_table)

        def write(cur: duckdb.DuckDBPyConnection, snapshot_id: int) -> tuple[NewSnapshot, Rows, int]:
            with registered(cur, "incoming_rows", rows):
                select = ", ".join(f"CAST({name} AS {kind})" for name, kind in columns.items())
                (written,) = cur.execute(
                    f"INSERT INTO {rows_table} SELECT ?, {select} FROM incoming_rows", [snapshot_id]
                ).fetchall()[0]
            return snapshot, rejects, written

        return self.write_snapshot(write, raw, packed=packed)

    def write_snapshot(
        self,
        write: Callable[[duckdb.DuckDBPyConnection, int], tuple[NewSnapshot, Rows, int]],
        raw: bytes,
        *,
        packed: Future[tuple[str | None, bytes]] | None = None,
    ) -> Snapshot:
        """``save_snapshot`` for an upload whose rows ``write(cur, snapshot_id)`` inserts itself,
        in the same transaction, before its counts are known: it returns the snapshot, its
        rejected rows and how many rows it wrote. Whatever ``write`` raises undoes it all."""
        with self.transaction() as cur:
            (snapshot_id,) = cur.execute("SELECT nextval('snapshot_id_seq')").fetchall()[0]
            snapshot, rejects, rows_loaded = write(cur, snapshot_id)
            rows_rejected = len(rejects)
            if rows_loaded + rows_rejected != snapshot.rows_read:
                raise ValueError(
                    f"{snapshot.file_name}: rows read ({snapshot.rows_read}) != loaded "
                    f"({rows_loaded}) + rejected ({rows_rejected})"
                )
            cur.execute(
                """INSERT INTO snapshots (id, kind, as_of, source, file_name, sha256, rows_read,
                       rows_loaded, rows_rejected, mapping, detection, warnings, label, uploaded_by)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [
                    snapshot_id,
                    snapshot.kind,
                    snapshot.as_of,
                    snapshot.source,
                    snapshot.file_name,
                    snapshot.sha256,
                    snapshot.rows_read,
                    rows_loaded,
                    rows_rejected,
                    json.dumps(snapshot.mapping),
                    json.dumps(snapshot.detection),
                    json.dumps(snapshot.warnings),
                    snapshot.label,
                    snapshot.uploaded_by,
                ],
            )
            if rows_rejected:
                with registered(cur, "incoming_rejects", rejects):
                    cur.execute(
                        """INSERT INTO rejected_rows
                           SELECT ?, CAST(row_number AS INTEGER), CAST(raw AS VARCHAR),
                                  CAST(reason AS VARCHAR)
                           FROM incoming_rejects""",
                        [snapshot_id],
                    )
            compression, content = packed.result() if packed else pack_raw(raw)
            _insert_raw_file(cur, [snapshot_id, snapshot.file_name, compression, len(raw)], content)
        return self.get_snapshot(snapshot_id)

    def _table_columns(self, table: str) -> dict[str, str]:
        """Column -> type of a rows table, without its ``snapshot_id``."""
        rows = self.fetchall(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = ? AND column_name <> 'snapshot_id' ORDER BY ordinal_position",
            [table],
        )
        if not rows:
            raise ValueError(f"unknown rows table {table!r}")
        return dict(rows)

    def find_snapshot_by_sha(self, sha256: str, kind: str = "deals") -> Snapshot | None:
        """The snapshot that already holds these exact bytes, if any."""
        row = self.fetchone(
            "SELECT id FROM snapshots WHERE sha256 = ? AND kind = ? ORDER BY id LIMIT 1",
            [sha256, kind],
        )
        return self.get_snapshot(row[0]) if row else None

    def list_snapshots(self, kind: str = "deals") -> list[Snapshot]:
        """Snapshots of one kind, oldest as-of first."""
        ids = self.fetchall("SELECT id FROM snapshots WHERE kind = ? ORDER BY as_of, id", [kind])
        return [self.get_snapshot(snapshot_id) for (snapshot_id,) in ids]

    def get_snapshot(self, snapshot_id: int) -> Snapshot:
        """One snapshot by id; raises NotFoundError when there is none."""
        with self._connections.holding() as cur:
            row = cur.execute("SELECT * FROM snapshots WHERE id = ?", [int(snapshot_id)]).fetchone()
            names = [d[0] for d in cur.description]
        if row is None:
            raise NotFoundError(f"No snapshot with id {snapshot_id}.")
        record = dict(zip(names, row, strict=True))
        for key in ("mapping", "detection", "warnings"):
            record[key] = json.loads(record[key]) if record[key] else None
        return Snapshot(**{k: v for k, v in record.items() if v is not None})

    def resolve_snapshot(self, ref: SnapshotRef, kind: str = "deals") -> Snapshot:
        """A snapshot from an id (int or digits) or ``"latest"`` (newest as-of, then id)."""
        if isinstance(ref, str) and ref.strip().lower() == "latest":
            row = self.fetchone(
                "SELECT id FROM snapshots WHERE kind = ? ORDER BY as_of DESC, id DESC LIMIT 1",
                [kind],
            )
            if row is None:
                raise NotFoundError(f"There are no {kind} snapshots yet; ingest a file first.")
            return self.get_snapshot(row[0])
        try:
            snapshot_id = int(ref)
        except (TypeError, ValueError):
            raise NotFoundError(f"{ref!r} is not a snapshot id or 'latest'.") from None
        snapshot = self.get_snapshot(snapshot_id)
        if snapshot.kind != kind:
            raise NotFoundError(f"Snapshot {snapshot_id} holds {snapshot.kind}, not {kind}.")
        return snapshot

    def load_deals(
        self, snapshot_id: int, columns: Sequence[str] | None = None, *, deal_ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """The canonical deal frame of one snapshot, in stored (source file) order.

        ``columns`` reads only those (a forecast reads ``FORECAST_COLUMNS``); the others come
        back all-null. ``deal_ids`` reads only those deals. Read through Arrow, so no value
        becomes a Python object on the way."""
        return from_arrow(self.query_arrow(*self.deals_query(snapshot_id, columns, deal_ids=deal_ids)))

    def deals_query(
        self,
        snapshot_id: int,
        columns: Sequence[str] | None = None,
        *,
        deal_ids: Sequence[str] | None = None,
        positions: bool = False,
    ) -> tuple[str, list[Any]]:
        """The SQL (and its parameters) that selects what ``load_deals`` reads, for work that
        runs inside DuckDB over the stored deals (the rules forecast) instead of reading them.

        ``positions`` adds ``_row``, each deal's place in the stored order (``load_deals``'s
        order), for work whose own output order is not guaranteed."""
        self.get_snapshot(snapshot_id)
        names = list(DEAL_COLUMNS if columns is None else columns)
        unknown = sorted(set(names) - set(DEAL_COLUMNS))
        if unknown:
            raise ValueError(f"not deal columns: {', '.join(unknown)}")
        if positions:
            names.insert(0, "rowid AS _row")
        sql = f"SELECT {', '.join(names)} FROM deals WHERE snapshot_id = $1"
        params: list[Any] = [snapshot_id]
        if deal_ids is not None:
            sql += " AND list_contains($2::VARCHAR[], deal_id)"
            params.append([str(deal_id) for deal_id in deal_ids])
        return sql, params

    def deal_texts(
        self, snapshot_id: int, deal_ids: Sequence[str], columns: Sequence[str] = ("title",)
    ) -> pd.DataFrame:
        """Display text (``DISPLAY_COLUMNS``: title, notes...) of some deals of one snapshot.

        One row per id in ``deal_ids``, in that order, with ``deal_id`` and ``columns``
        (null for an id the snapshot does not hold): what a table or the LLM path shows of
        the deals it shows, which a forecast does not read."""
        import numpy as np
        import pandas as pd
        import pyarrow as pa

        unknown = sorted(set(columns) - set(DISPLAY_COLUMNS))
        if unknown:
            raise ValueError(f"not display columns: {', '.join(unknown)}")
        ids = pa.array(pd.array(deal_ids, dtype="string"), type=pa.string())
        wanted = pa.table({"deal_id": ids, "position": pa.array(np.arange(len(ids)))})
        picked = ", ".join(f"d.{name}" for name in columns)
        cur = self._cursor_for_read()
        try:
            cur.register("wanted_deals", wanted)
            table = cur.sql(
                f"""SELECT w.deal_id, {picked} FROM wanted_deals w
                    LEFT JOIN deals d ON d.snapshot_id = $1 AND d.deal_id = w.deal_id
                    ORDER BY w.position""",
                params=[snapshot_id],
            ).to_arrow_table()
        finally:
            cur.close()
        return pd.DataFrame(
            {name: pd.arrays.ArrowStringArray(column.cast(pa.string()))
             for name, column in zip(table.column_names, table.columns, strict=True)}
        )

    def load_rejects(self, snapshot_id: int, *, limit: int | None = None) -> pd.DataFrame:
        """Rejected rows of one snapshot (the first ``limit`` when given): row_number, raw, reason."""
        return self.query_df(
            "SELECT row_number, raw, reason FROM rejected_rows WHERE snapshot_id = ? ORDER BY row_number"
            + ("" if limit is None else " LIMIT ?"),
            [snapshot_id] if limit is None else [snapshot_id, limit],
        )

    def raw_file(self, snapshot_id: int) -> tuple[str, bytes]:
        """The original file name and bytes of an upload."""
        row = self.fetchone(
            "SELECT file_name, content, compression, size FROM raw_files WHERE snapshot_id = ?",
            [snapshot_id],
        )
        if row is None:
            raise NotFoundError(f"No original file stored for snapshot {snapshot_id}.")
        return row[0], unpack_raw(bytes(row[1]), row[2], row[3])

    def delete_snapshot(self, snapshot_id: int, *, deleted_by: str | None = None) -> None:
        """Remove a snapshot and everything stored with it, in one transaction, and log who
        did (``deleted_by``: the signed-in email, ``cli:<user>`` from the command line, None
        when nobody signed in). The event is a warning, since data is gone: a command-line run
        logs warnings and up, so its deletions are in its log too."""
        snapshot = self.get_snapshot(snapshot_id)
        with self.transaction() as cur:
            for table in self._tables_with_snapshot_id():
                cur.execute(f"DELETE FROM {table} WHERE snapshot_id = ?", [snapshot_id])
            cur.execute("DELETE FROM snapshots WHERE id = ?", [snapshot_id])
        _log.warning("snapshot_deleted", snapshot_id=snapshot.id, kind=snapshot.kind,
                  file_name=snapshot.file_name, uploaded_by=snapshot.uploaded_by, deleted_by=deleted_by)

    def _tables_with_snapshot_id(self) -> list[str]:
        rows = self.fetchall(
            "SELECT DISTINCT table_name FROM information_schema.columns "
            "WHERE column_name = 'snapshot_id' ORDER BY table_name"
        )
        return [name for (name,) in rows]


_default_stores: dict[str, Store] = {}
_default_lock = threading.Lock()


def get_store() -> Store:
    """The process-wide store for the configured ``DEALCAST_DB``, opened and migrated on first use.

    Keyed by the connection string, so a process whose settings change (a test pointing
    ``DEALCAST_DB`` at a temporary file) gets that database, not a stale one.
    """
    database = get_settings().db
    with _default_lock:
        if database not in _default_stores:
            _default_stores[database] = Store(database)
        return _default_stores[database]


def _insert_raw_file(cur: duckdb.DuckDBPyConnection, params: list[Any], content: bytes) -> None:
    """Insert a ``raw_files`` row (snapshot id, file name, compression, size; ``content``).

    The content goes in as a one-row Arrow column over the bytes themselves, which DuckDB scans
    in place: as a statement parameter, a 58 MB blob is copied into a DuckDB value first, and
    that insert and its commit took 0.4 s where this takes 0.25 s. (Built from buffers:
    ``pa.array`` of a Python list imports pandas.)"""
    import pyarrow as pa

    offsets = pa.py_buffer(array.array("q", [0, len(content)]))
    column = pa.LargeBinaryArray.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(content)])
    with registered(cur, "incoming_raw", pa.Table.from_arrays([column], names=["content"])):
        cur.execute(
            "INSERT INTO raw_files (snapshot_id, file_name, compression, size, content) "
            "SELECT ?, ?, ?, ?, content FROM incoming_raw",
            params,
        )


@contextlib.contextmanager
def registered(cur: duckdb.DuckDBPyConnection, name: str, rows: Rows) -> Iterator[None]:
    """``rows`` (a pandas frame or an Arrow table) readable as the view ``name`` on ``cur``
    while the block runs: what a write of many rows inserts from."""
    cur.register(name, rows)
    try:
        yield
    finally:
        cur.unregister(name)
