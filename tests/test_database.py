"""The database connection string (--db / DEALCAST_DB): only :memory:, md:..., a DuckDB file or a
new file is opened; anything else is one clear line (exit 2), and a read-only database file
still serves the commands that only read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.cli import EXIT_BAD_INPUT, EXIT_OK, main
from core.config import get_settings
from core.errors import InputError
from core.ingest import ingest_bytes
from core.store import Store, check_database
from tests.ingest.exports import pipedrive_csv, pipedrive_row


@pytest.fixture
def stored(db_path) -> str:
    """A database file with one snapshot of two deals."""
    with Store(db_path) as store:
        ingest_bytes(store, pipedrive_csv([pipedrive_row(1), pipedrive_row(2)]), "first.csv")
    return db_path


def one_line_error(capsys, *words: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


@pytest.mark.parametrize("database", [":memory:", "md:dealcast", "new.duckdb"])
def test_memory_motherduck_and_a_new_file_are_accepted(tmp_path, monkeypatch, database):
    monkeypatch.chdir(tmp_path)
    assert check_database(database) == database


def bad_databases(tmp_path: Path) -> list[tuple[str, str]]:
    (tmp_path / "notadb.csv").write_text("a,b\n1,2\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "empty.duckdb").write_bytes(b"")
    return [
        ("", "is empty"),
        ("   ", "is empty"),
        (str(tmp_path / "notadb.csv"), "is not a DuckDB database file"),
        (str(tmp_path / "empty.duckdb"), "is not a DuckDB database file"),
        (str(tmp_path / "folder"), "is a folder, not a DuckDB file"),
        (str(tmp_path / "missing" / "x.duckdb"), f"the folder {tmp_path / 'missing'} does not exist"),
        (str(tmp_path / "new.csv"), "named like a data file"),
    ]


def test_anything_else_is_refused_with_the_reason(tmp_path):
    for database, reason in bad_databases(tmp_path):
        with pytest.raises(InputError, match=reason):
            Store(database)


def test_cli_refuses_a_bad_db_with_one_line_and_exit_2_leaving_the_file_alone(tmp_path, capsys):
    export = tmp_path / "deals.csv"
    export.write_bytes(pipedrive_csv([pipedrive_row(1)]))
    for database, reason in bad_databases(tmp_path):
        assert main(["ingest", str(export), "--db", database]) == EXIT_BAD_INPUT, database
        one_line_error(capsys, reason)
    assert (tmp_path / "notadb.csv").read_text() == "a,b\n1,2\n"
    assert not (tmp_path / "missing").exists() and not (tmp_path / "new.csv").exists()


def test_serve_refuses_a_bad_db_with_one_line_and_exit_2_before_listening(tmp_path, monkeypatch, capsys):
    served = []
    monkeypatch.setattr("core.api.server.serve", lambda *args, **kwargs: served.append(args))
    for database, reason in bad_databases(tmp_path):
        assert main(["serve", "--db", database]) == EXIT_BAD_INPUT, database
        one_line_error(capsys, reason)
    assert served == []


def test_a_malformed_dealcast_db_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    (tmp_path / "folder").mkdir()
    monkeypatch.setenv("DEALCAST_DB", str(tmp_path / "folder"))
    get_settings.cache_clear()
    try:
        assert main(["snapshots"]) == EXIT_BAD_INPUT
    finally:
        get_settings.cache_clear()
    one_line_error(capsys, "is a folder")


@pytest.fixture
def read_only(stored, monkeypatch) -> str:
    """``stored`` as this process sees a file it may not write (the tests may run as root, for
    whom file modes do not forbid writing, so the access check says so)."""
    real_access = os.access
    target = os.path.realpath(stored)
    monkeypatch.setattr(
        os, "access", lambda path, mode, **kw: False if os.path.realpath(path) == target and mode & os.W_OK
        else real_access(path, mode, **kw)
    )
    os.chmod(stored, 0o444)
    yield stored
    os.chmod(stored, 0o644)


def test_read_only_database_serves_the_commands_that_only_read(read_only, capsys):
    before = Path(read_only).read_bytes()
    assert main(["snapshots", "--db", read_only]) == EXIT_OK
    assert "first.csv" in capsys.readouterr().out
    assert main(["forecast", "--db", read_only, "--json"]) == EXIT_OK
    assert '"periods"' in capsys.readouterr().out
    assert main(["llm", "status", "--db", read_only]) == EXIT_OK
    assert "LLM:" in capsys.readouterr().out
    assert Path(read_only).read_bytes() == before


def test_writing_to_a_read_only_database_is_one_line_and_changes_nothing(read_only, tmp_path, capsys):
    before = Path(read_only).read_bytes()
    export = tmp_path / "deals.csv"
    export.write_bytes(pipedrive_csv([pipedrive_row(3)]))
    assert main(["ingest", str(export), "--db", read_only]) == EXIT_BAD_INPUT
    one_line_error(capsys, "is read-only")
    assert main(["forecast", "--db", read_only, "--save"]) == EXIT_BAD_INPUT
    one_line_error(capsys, "is read-only")
    assert Path(read_only).read_bytes() == before
    with Store(read_only) as store:
        assert [s.file_name for s in store.list_snapshots()] == ["first.csv"]
