"""The dashboard, the API and the command line at once, in three processes, on one DuckDB file."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from core.config import SAMPLE_DIR
from core.connections import DatabaseBusyError
from core.store import Store
from tests.ingest.exports import pipedrive_csv, pipedrive_row

ROOT = Path(__file__).resolve().parents[2]

#: The dashboard process: the real app.py, run page after page by Streamlit's AppTest.
DASHBOARD = """
from streamlit.testing.v1 import AppTest
for round in range(4):
    at = AppTest.from_file("app.py", default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page("views/forecast.py").run()
    assert not at.exception, [e.value for e in at.exception]
print("dashboard ok")
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_dashboard_api_and_cli_share_one_file(sample_db, tmp_path):
    db = str(tmp_path / "shared.duckdb")
    shutil.copyfile(sample_db, db)
    env = {**os.environ, "DEALCAST_DB": db, "DEALCAST_LOG_FORMAT": "json"}
    env.pop("DEALCAST_API_TOKENS", None)
    port = free_port()
    api = subprocess.Popen([sys.executable, "-m", "core", "serve", "--port", str(port)], cwd=ROOT, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert api.poll() is None and time.monotonic() < deadline, api.communicate()
            time.sleep(0.2)

        def api_client() -> list[int]:
            statuses = []
            with httpx.Client(base_url=base, timeout=120) as http:
                for number in range(6):
                    statuses.append(http.post("/cashflow/predict", json={"include_deals": False}).status_code)
                    data = pipedrive_csv([pipedrive_row(9000 + number), pipedrive_row(9100 + number)])
                    upload = http.post("/snapshots", files={"file": (f"api{number}.csv", data, "text/csv")},
                                       data={"as_of": "2026-11-02"})
                    statuses.append(upload.status_code)
                    statuses.append(http.get("/snapshots").status_code)
            return statuses

        cli = [
            [sys.executable, "-m", "core", "ingest", str(SAMPLE_DIR / "pipedrive_deals_2026-09-07.csv")],
            [sys.executable, "-m", "core", "forecast", "--engine", "learned", "--json"],
            [sys.executable, "-m", "core", "snapshots"],
            [sys.executable, "-m", "core", "backtest", "--from", "1"],
        ]
        with ThreadPoolExecutor(4) as pool:
            dashboard = pool.submit(run, [sys.executable, "-c", DASHBOARD], env)
            served = pool.submit(api_client)
            commands = [pool.submit(run, command, env) for command in cli]
            for future in commands:
                result = future.result()
                assert result.returncode == 0, result.stderr
                assert "lock" not in result.stderr.lower()
            shown = dashboard.result()
            assert shown.returncode == 0, shown.stderr[-3000:]
            assert "dashboard ok" in shown.stdout
            assert set(served.result()) <= {200, 201}
    finally:
        api.terminate()
        _, api_log = api.communicate(timeout=30)
    assert "lock" not in api_log.lower()
    with Store(db) as store:
        names = {s.file_name for s in store.list_snapshots()}
    assert {f"api{n}.csv" for n in range(6)} | {"pipedrive_deals_2026-09-07.csv"} <= names


def hold(db: str, then: str) -> subprocess.Popen:
    """Another process that opens ``db`` read-write, says 'held', then runs ``then``."""
    script = f"import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); {then}"
    return subprocess.Popen([sys.executable, "-c", script, db], stdout=subprocess.PIPE, text=True)


def test_a_hold_past_the_timeout_fails_with_a_clear_message(sample_db, tmp_path):
    db = str(tmp_path / "held.duckdb")
    shutil.copyfile(sample_db, db)
    holder = hold(db, "time.sleep(60)")
    try:
        assert holder.stdout.readline().strip() == "held"
        store = Store(db, lock_timeout=0.5)  # opens nothing yet
        with pytest.raises(DatabaseBusyError) as raised, store:
            pass
        assert f"another process (PID {holder.pid}) has kept it for over 0.5 s" in str(raised.value)
        assert "DEALCAST_DB_LOCK_TIMEOUT" in str(raised.value)
    finally:
        holder.kill()
        holder.communicate()


def test_a_waiting_process_gets_the_file_when_the_holder_lets_go(sample_db, tmp_path):
    db = str(tmp_path / "waited.duckdb")
    shutil.copyfile(sample_db, db)
    holder = hold(db, "time.sleep(1.5); c.close(); time.sleep(30)")
    try:
        assert holder.stdout.readline().strip() == "held"
        with Store(db, lock_timeout=60) as store:
            assert len(store.list_snapshots()) == 2
    finally:
        holder.kill()
        holder.communicate()


def test_a_file_store_is_open_only_while_work_needs_it(sample_db, tmp_path):
    db = str(tmp_path / "idle.duckdb")
    shutil.copyfile(sample_db, db)
    store = Store(db)
    assert not store._connections.is_open
    with store.session():
        assert store._connections.is_open
        assert len(store.list_snapshots()) == 2
    assert not store._connections.is_open
    cur = store.cursor().execute("SELECT count(*) FROM deals")
    assert store._connections.is_open
    assert cur.fetchone()[0] > 0
    del cur
    assert not store._connections.is_open
    store.close()


def test_a_write_from_another_process_gets_its_turn_while_this_one_holds_the_file_without_a_gap(
    sample_db, tmp_path
):
    """Four threads run overlapping sessions back to back, as the API does under load: the file
    is never let go on its own. A CLI ingest in another process still gets in, well inside its
    lock timeout, and the busy process carries on afterwards."""
    db = str(tmp_path / "busy.duckdb")
    shutil.copyfile(sample_db, db)
    export = tmp_path / "write.csv"
    export.write_bytes(pipedrive_csv([pipedrive_row(7001), pipedrive_row(7002)]))
    store = Store(db)
    stop = threading.Event()
    sessions = [0] * 4

    def busy(number: int) -> None:
        time.sleep(number * 0.01)  # staggered, so some session is always open
        while not stop.is_set():
            with store.session():
                store.cursor().execute("SELECT count(*) FROM snapshots").fetchone()
                time.sleep(0.04)
            sessions[number] += 1

    threads = [threading.Thread(target=busy, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        env = {**os.environ, "DEALCAST_DB": db, "DEALCAST_DB_LOCK_TIMEOUT": "20"}
        write = run([sys.executable, "-m", "core", "ingest", str(export), "--as-of", "2026-11-02"], env)
        before = sum(sessions)
        time.sleep(0.3)
        after = sum(sessions)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        store.close()
    assert write.returncode == 0, write.stderr
    assert after > before  # the busy process got the file back
    with Store(db) as check:
        assert "write.csv" in {s.file_name for s in check.list_snapshots()}
