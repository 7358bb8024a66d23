"""Two ingests on one database file at once: the second waits its turn (bounded), never a lock error.

DuckDB lets one process at a time open a file read-write; core.connections retries the open
for up to ``DEALCAST_DB_LOCK_TIMEOUT`` seconds. These tests hold the file in another process,
so the ingests are sure to find it held: one ingest runs in another process, one in this one.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from core import connections
from core.cli import EXIT_FAILED, main
from core.config import get_settings
from core.store import Store
from tests.ingest.exports import pipedrive_csv, pipedrive_row

ROOT = Path(__file__).resolve().parents[2]

#: Holds the file read-write until a line arrives on stdin, then lets go.
HOLDER = (
    "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
    "sys.stdin.readline(); c.close()"
)
#: ``python -m core`` that says 'waiting' on stdout the first time it finds the file held.
INGEST = """
import runpy, sys
import core.connections as connections

opened, told = connections.Connections._open, []

def _open(self):
    try:
        return opened(self)
    except connections._LockHeldError:
        if not told:
            print("waiting", flush=True)
            told.append(True)
        raise

connections.Connections._open = _open
sys.argv = ["core", *sys.argv[1:]]
runpy.run_module("core", run_name="__main__")
"""


def hold(db: str) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, db], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


@pytest.fixture
def lock_timeout(monkeypatch):
    """``lock_timeout("0.3")`` sets DEALCAST_DB_LOCK_TIMEOUT for this process's commands."""

    def set_(seconds: str) -> None:
        monkeypatch.setenv("DEALCAST_DB_LOCK_TIMEOUT", seconds)
        get_settings.cache_clear()

    yield set_
    get_settings.cache_clear()


def write_export(folder: Path, name: str, first_id: int, deals: int) -> Path:
    path = folder / name
    path.write_bytes(pipedrive_csv([pipedrive_row(first_id + n) for n in range(deals)]))
    return path


def test_two_ingests_on_a_held_file_both_wait_and_both_snapshots_are_saved(db_path, tmp_path, capsys,
                                                                           monkeypatch, lock_timeout):
    """One ingest in another process and one in this one: both find the file held, wait, and load."""
    with Store(db_path):  # the database file and its schema, before another process holds it
        pass
    other, ours = write_export(tmp_path, "a.csv", 100, 3), write_export(tmp_path, "b.csv", 200, 5)
    waiting = threading.Event()
    opened = connections.Connections._open

    def noting_a_wait(self):
        try:
            return opened(self)
        except connections._LockHeldError:
            waiting.set()
            raise

    monkeypatch.setattr(connections.Connections, "_open", noting_a_wait)
    lock_timeout("120")
    holder = hold(db_path)
    ingest = subprocess.Popen([sys.executable, "-c", INGEST, "ingest", str(other), "--db", db_path], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with ThreadPoolExecutor(1) as pool:
            status = pool.submit(main, ["ingest", str(ours), "--db", db_path])
            assert ingest.stdout.readline().strip() == "waiting"
            assert waiting.wait(60)
            # Both wait for the file before it is let go; then one waits for the other.
            holder.communicate("\n", timeout=30)
            assert status.result(timeout=300) == 0
        out, err = ingest.communicate(timeout=300)
    finally:
        for process in (holder, ingest):
            process.kill()
    assert (ingest.returncode, err) == (0, ""), err
    assert "Loaded snapshot" in out and "Loaded snapshot" in capsys.readouterr().out
    with Store(db_path) as store:
        saved = {s.file_name: (s.rows_read, s.rows_loaded) for s in store.list_snapshots()}
        assert saved == {"a.csv": (3, 3), "b.csv": (5, 5)}
        assert store.cursor().execute("SELECT count(*) FROM deals").fetchone()[0] == 8


def test_an_ingest_that_waits_past_the_limit_says_so_in_one_line(db_path, tmp_path, capsys, lock_timeout):
    with Store(db_path):  # the database file and its schema, before another process holds it
        pass
    export = write_export(tmp_path, "late.csv", 300, 2)
    lock_timeout("0.3")
    holder = hold(db_path)
    try:
        status = main(["ingest", str(export), "--db", db_path])
        out, err = capsys.readouterr()
    finally:
        holder.communicate("\n", timeout=30)
    assert (status, out) == (EXIT_FAILED, "")
    assert err == (
        f"error: The database {db_path} is busy: another process (PID {holder.pid}) has kept it for over "
        "0.3 s. Try again in a moment, or raise DEALCAST_DB_LOCK_TIMEOUT.\n"
    )
    with Store(db_path) as store:
        assert store.list_snapshots() == []
