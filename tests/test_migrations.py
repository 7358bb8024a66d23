"""The frozen migrations: a fresh database and one upgraded from any earlier version end alike."""

import duckdb
import pytest

from core.deals import DEAL_COLUMNS
from core.migrations import MIGRATIONS, SCHEMA_VERSION, migrate, schema_version
from core.receivables.invoices import INVOICE_COLUMNS


def schema(conn: duckdb.DuckDBPyConnection) -> dict[str, list]:
    """Everything a migration decides: each table's DDL as DuckDB prints it (columns, types,
    defaults, constraints, compression), the sequences, indexes and views."""
    return {
        "tables": conn.execute("SELECT table_name, sql FROM duckdb_tables() ORDER BY table_name").fetchall(),
        "sequences": conn.execute(
            "SELECT sequence_name, start_value, increment_by FROM duckdb_sequences() ORDER BY sequence_name"
        ).fetchall(),
        "indexes": conn.execute(
            "SELECT index_name, sql FROM duckdb_indexes() ORDER BY index_name"
        ).fetchall(),
        "views": conn.execute(
            "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY view_name"
        ).fetchall(),
    }


def table_columns(conn: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
        "AND column_name <> 'snapshot_id' ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return dict(rows)


@pytest.fixture(scope="module")
def fresh_schema():
    with duckdb.connect() as conn:
        migrate(conn)
        return schema(conn)


def test_migrations_are_numbered_one_to_the_latest():
    assert [migration.version for migration in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))


@pytest.mark.parametrize("start", range(SCHEMA_VERSION))
def test_migrate_from_every_earlier_version_ends_with_the_fresh_schema(start, fresh_schema):
    with duckdb.connect() as conn:
        migrate(conn, to=start)
        assert schema_version(conn) == start
        migrate(conn)
        assert schema_version(conn) == SCHEMA_VERSION
        assert schema(conn) == fresh_schema


def test_migrated_tables_hold_the_canonical_deal_and_invoice_columns():
    with duckdb.connect() as conn:
        migrate(conn)
        assert table_columns(conn, "deals") == DEAL_COLUMNS
        assert table_columns(conn, "invoices") == INVOICE_COLUMNS


def test_migrate_keeps_deal_rows_written_before_the_deals_table_was_rebuilt():
    with duckdb.connect() as conn:
        migrate(conn, to=1)
        conn.execute(
            "INSERT INTO deals (snapshot_id, deal_id, value, extra) VALUES (1, 'D-1', 5.0, '{\"a\": 1}')"
        )
        migrate(conn)
        assert conn.execute("SELECT snapshot_id, deal_id, value, extra FROM deals").fetchall() == [
            (1, "D-1", 5.0, '{"a": 1}')
        ]


def test_a_failing_migration_leaves_the_database_at_the_version_before_it(monkeypatch):
    failing = MIGRATIONS[2]._replace(statements=("CREATE TABLE invoices (x INTEGER)", "SELECT nope"))
    broken = (*MIGRATIONS[:2], failing)
    monkeypatch.setattr("core.migrations.MIGRATIONS", broken)
    with duckdb.connect() as conn:
        with pytest.raises(duckdb.BinderException):
            migrate(conn)
        assert schema_version(conn) == 2
        tables = conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        assert ("invoices",) not in tables
