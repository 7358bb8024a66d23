"""The database schema: every change to it, in order, frozen as literal DDL.

A migration is written once and never edited, so it means today what it meant the day it was
written: no statement is built from live code (a table built from ``core.deals.DEAL_COLUMNS``
would change under an old database when a deal column is added, and a later migration copying
it with ``SELECT *`` would break a fresh one). To change the schema, append a ``Migration``
with the next version; ``tests/test_migrations.py`` builds a fresh database and one from every
earlier version and checks they end with the same schema, and that the ``deals`` and
``invoices`` tables hold the canonical columns of core.deals and core.receivables (so adding
a canonical column without its migration fails there).

``migrate`` brings a database up to a version, one transaction per migration; the versions
applied are rows of ``schema_version``. ``Store`` (core/store.py) runs it on opening.
"""

from __future__ import annotations

from typing import NamedTuple

import duckdb


class Migration(NamedTuple):
    """One schema change: its version and the statements that make it, run in one transaction."""

    version: int
    statements: tuple[str, ...]


#: Every schema change, oldest first. Append a new entry to change the schema; never edit an old one.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, (
        "CREATE SEQUENCE snapshot_id_seq START 1",
        """CREATE TABLE snapshots (
    id INTEGER PRIMARY KEY DEFAULT nextval('snapshot_id_seq'),
    kind VARCHAR NOT NULL DEFAULT 'deals',
    as_of DATE NOT NULL,
    source VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    rows_read INTEGER NOT NULL,
    rows_loaded INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL,
    mapping JSON,
    detection JSON,
    warnings JSON,
    label VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
)""",
        # The deal columns of core.deals as they were then (migration 4 rebuilds the table).
        """CREATE TABLE deals (
    snapshot_id INTEGER NOT NULL, deal_id VARCHAR, title VARCHAR, pipeline VARCHAR, stage VARCHAR,
    status VARCHAR, value DOUBLE, currency VARCHAR, value_base DOUBLE, probability DOUBLE,
    owner VARCHAR, organization VARCHAR, contact VARCHAR, created_at DATE, updated_at DATE,
    stage_changed_at DATE, expected_close DATE, won_at DATE, lost_at DATE, closed_at DATE,
    invoice_date DATE, payment_date DATE, notes VARCHAR, extra JSON
)""",
        """CREATE TABLE rejected_rows (
    snapshot_id INTEGER NOT NULL,
    row_number INTEGER NOT NULL,
    raw VARCHAR,
    reason VARCHAR NOT NULL
)""",
        """CREATE TABLE raw_files (
    snapshot_id INTEGER PRIMARY KEY,
    file_name VARCHAR NOT NULL,
    content BLOB NOT NULL
)""",
        """CREATE TABLE column_mappings (
    header_signature VARCHAR PRIMARY KEY,
    source VARCHAR NOT NULL,
    mapping JSON NOT NULL,
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
)""",
        """CREATE TABLE assumptions (
    version INTEGER PRIMARY KEY,
    profile JSON NOT NULL,
    note VARCHAR,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
)""",
        """CREATE TABLE predictions (
    snapshot_id INTEGER NOT NULL,
    run_id VARCHAR NOT NULL,
    deal_id VARCHAR NOT NULL,
    engine VARCHAR NOT NULL,
    method VARCHAR NOT NULL,
    predicted_invoice_date DATE,
    predicted_payment_date DATE,
    invoice_p10 DATE,
    invoice_p90 DATE,
    payment_p10 DATE,
    payment_p90 DATE,
    confidence DOUBLE,
    value_base DOUBLE,
    weighted_value DOUBLE,
    reasoning VARCHAR,
    flags JSON,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
)""",
        """CREATE TABLE llm_calls (
    ts TIMESTAMP NOT NULL DEFAULT current_timestamp,
    prompt_id VARCHAR,
    prompt_version VARCHAR,
    variant VARCHAR,
    model VARCHAR,
    tier VARCHAR,
    status VARCHAR NOT NULL,
    attempts INTEGER,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cached_tokens INTEGER,
    total_tokens INTEGER,
    cost_usd DOUBLE,
    latency_ms DOUBLE,
    error_type VARCHAR,
    cache_hit BOOLEAN,
    request_id VARCHAR
)""",
        """CREATE TABLE llm_cache (
    key VARCHAR PRIMARY KEY,
    model VARCHAR,
    response JSON NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    expires_at TIMESTAMP NOT NULL
)""",
        """CREATE TABLE prompt_outcomes (
    ts TIMESTAMP NOT NULL DEFAULT current_timestamp,
    prompt_id VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    variant VARCHAR,
    assignment_key VARCHAR,
    success BOOLEAN NOT NULL,
    confidence DOUBLE,
    total_tokens INTEGER,
    cost_usd DOUBLE,
    latency_ms DOUBLE
)""",
    )),
    Migration(2, (
        "ALTER TABLE raw_files ADD COLUMN compression VARCHAR",
        "ALTER TABLE raw_files ADD COLUMN size BIGINT",
    )),
    Migration(3, (
        # Invoice lists (snapshots of kind 'invoices'): the canonical invoice schema of
        # core/receivables/invoices.py.
        """CREATE TABLE invoices (
    snapshot_id INTEGER NOT NULL,
    invoice_id VARCHAR,
    customer VARCHAR,
    invoice_date DATE,
    due_date DATE,
    amount DOUBLE,
    currency VARCHAR,
    amount_base DOUBLE,
    paid_date DATE,
    disputed BOOLEAN,
    deal_id VARCHAR,
    extra JSON
)""",
    )),
    Migration(4, (
        # Text that is different on every deal (id, title, notes, the extra JSON) is stored
        # zstd-compressed: DuckDB's default string compression took twice as long to write
        # on a million-deal upload and stored the extra JSON larger.
        """CREATE TABLE deals_v4 (
    snapshot_id INTEGER NOT NULL,
    deal_id VARCHAR USING COMPRESSION zstd,
    title VARCHAR USING COMPRESSION zstd,
    pipeline VARCHAR,
    stage VARCHAR,
    status VARCHAR,
    value DOUBLE,
    currency VARCHAR,
    value_base DOUBLE,
    probability DOUBLE,
    owner VARCHAR,
    organization VARCHAR,
    contact VARCHAR,
    created_at DATE,
    updated_at DATE,
    stage_changed_at DATE,
    expected_close DATE,
    won_at DATE,
    lost_at DATE,
    closed_at DATE,
    invoice_date DATE,
    payment_date DATE,
    notes VARCHAR USING COMPRESSION zstd,
    extra JSON USING COMPRESSION zstd
)""",
        """INSERT INTO deals_v4 SELECT
    snapshot_id, deal_id, title, pipeline, stage, status, value, currency, value_base,
    probability, owner, organization, contact, created_at, updated_at, stage_changed_at,
    expected_close, won_at, lost_at, closed_at, invoice_date, payment_date, notes, extra
FROM deals""",
        "DROP TABLE deals",
        "ALTER TABLE deals_v4 RENAME TO deals",
    )),
    Migration(5, (
        # The response cache is an LRU with a size bound: a hit marks the row used.
        "ALTER TABLE llm_cache ADD COLUMN last_used_at TIMESTAMP",
        "UPDATE llm_cache SET last_used_at = created_at",
    )),
    Migration(6, (
        # Who uploaded each snapshot: the signed-in email when the dashboard has login on.
        "ALTER TABLE snapshots ADD COLUMN uploaded_by VARCHAR",
    )),
    Migration(7, (
        # The engine ``auto`` chose by backtest, under a key of everything the choice depends on
        # (core/cashflow/auto.py); snapshot_id is the later snapshot of the pair, so deleting it
        # deletes the choice.
        """CREATE TABLE auto_choices (
    key VARCHAR PRIMARY KEY,
    snapshot_id INTEGER NOT NULL,
    engine VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
)""",
    )),
    Migration(8, (
        # The LLM circuit breaker's last change per server, so every process sees it (UTC times;
        # base_url is the masked one, never a password).
        """CREATE TABLE llm_circuit (
    base_url VARCHAR PRIMARY KEY,
    failures INTEGER NOT NULL,
    opened_at TIMESTAMP,
    half_open_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
)""",
    )),
)

SCHEMA_VERSION = MIGRATIONS[-1].version


def schema_version(cur: duckdb.DuckDBPyConnection) -> int:
    """The version a database is at: 0 for one that has never been migrated.

    It asks the table itself: looking it up in ``information_schema`` loads every table's
    metadata, ~10 ms of each command's first statement. (Outside a transaction: the missing
    table's error would end it.)"""
    try:
        (version,) = cur.execute("SELECT max(version) FROM schema_version").fetchone()
    except duckdb.CatalogException:  # no such table
        return 0
    return int(version or 0)


def migrate(cur: duckdb.DuckDBPyConnection, *, to: int = SCHEMA_VERSION) -> None:
    """Apply the migrations after the database's version, up to version ``to``, each in its own
    transaction (a failing one leaves the database at the version before it)."""
    cur.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
    current = schema_version(cur)
    for migration in MIGRATIONS:
        if not current < migration.version <= to:
            continue
        cur.execute("BEGIN TRANSACTION")
        try:
            for statement in migration.statements:
                cur.execute(statement)
            cur.execute("INSERT INTO schema_version VALUES (?)", [migration.version])
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
