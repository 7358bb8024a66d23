"""``python -m core ingest`` and ``snapshots``: exact output, exit statuses, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.access import command_line_user
from core.cli import main
from tests.ingest.exports import pipedrive_csv, pipedrive_row, to_csv


@pytest.fixture
def export(tmp_path):
    path = tmp_path / "deals.csv"
    path.write_bytes(pipedrive_csv([pipedrive_row(1), pipedrive_row(2, Value="abc"), pipedrive_row(3)]))
    return path


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_ingest_json_prints_one_object_with_counts_rejects_and_warnings(capsys, export, db_path):
    status, out, err = run(capsys, "ingest", str(export), "--db", db_path, "--json")

    assert (status, err) == (0, "")
    assert json.loads(out) == {
        "snapshot_id": 1,
        "source": "pipedrive",
        "as_of": "2026-02-01",
        "rows_read": 3,
        "rows_loaded": 2,
        "rows_rejected": 1,
        "rejects": [{"row": 3, "reason": "row 3, column 'Deal - Value': 'abc' is not a number"}],
        "warnings": [],
        "duplicate_of": None,
    }


def test_ingest_prints_the_snapshot_counts_and_reasons(capsys, export, db_path):
    status, out, _ = run(
        capsys, "ingest", str(export), "--db", db_path, "--as-of", "2026-02-07", "--label", "w6"
    )

    assert status == 0
    assert out == (
        "Loaded snapshot 1 from deals.csv (source pipedrive, as of 2026-02-07).\n"
        "Rows read 3, loaded 2, rejected 1.\n"
        "  rejected: row 3, column 'Deal - Value': 'abc' is not a number\n"
    )


def test_ingest_the_same_file_twice_reports_the_first_snapshot(capsys, export, db_path):
    run(capsys, "ingest", str(export), "--db", db_path)

    status, out, _ = run(capsys, "ingest", str(export), "--db", db_path, "--json")

    assert status == 0
    assert (json.loads(out)["duplicate_of"], json.loads(out)["snapshot_id"]) == (1, 1)


def test_ingest_generic_file_with_map_options(capsys, tmp_path, db_path):
    path = tmp_path / "crm.csv"
    path.write_bytes(to_csv([["A-1", "Lobby", "1,500"]], ["Ref", "Project", "Amount"]))

    status, out, _ = run(
        capsys,
        "ingest",
        str(path),
        "--db",
        db_path,
        "--source",
        "generic",
        "--json",
        "--map",
        "deal_id=Ref",
        "--map",
        "title=Project",
        "--map",
        "value=Amount",
    )

    assert status == 0
    assert json.loads(out)["rows_loaded"] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--map", "title"],
            "error: --map 'title': expected canonical=Source Column, e.g. --map title='Deal Name'.\n",
        ),
        (
            ["--map", "title=Nope"],
            "error: deals.csv: cannot map title to 'Nope': the file has no such column.",
        ),
        (["--as-of", "yesterday"], "argument --as-of: 'yesterday' is not a date; use YYYY-MM-DD\n"),
    ],
)
def test_ingest_bad_arguments_exit_2_with_the_reason(capsys, export, db_path, argv, message):
    try:
        status, _, err = run(capsys, "ingest", str(export), "--db", db_path, *argv)
    except SystemExit as exit_info:  # argparse's own usage errors
        status, err = exit_info.code, capsys.readouterr().err

    assert status == 2
    assert message in err
    assert "Traceback" not in err


def test_ingest_a_pdf_renamed_csv_exits_2_and_writes_nothing(capsys, tmp_path, db_path):
    path = tmp_path / "deals.csv"
    path.write_bytes(b"%PDF-1.7 binary")

    status, out, err = run(capsys, "ingest", str(path), "--db", db_path)

    assert (status, out) == (2, "")
    assert err == "error: deals.csv: this is a PDF document, not a CSV or XLSX export.\n"
    _, listing, _ = run(capsys, "snapshots", "--db", db_path, "--json")
    assert json.loads(listing) == []


def test_snapshots_lists_exports_and_deletes(capsys, export, db_path, tmp_path):
    run(capsys, "ingest", str(export), "--db", db_path, "--label", "first")

    status, out, _ = run(capsys, "snapshots", "--db", db_path)
    assert status == 0
    assert out.splitlines() == [
        "id  as of       source     read  loaded  rejected  file       label",
        " 1  2026-02-01  pipedrive     3       2         1  deals.csv  first",
    ]

    copy = tmp_path / "copy.csv"
    status, out, _ = run(capsys, "snapshots", "export", "1", "--out", str(copy), "--db", db_path)
    assert status == 0
    assert copy.read_bytes() == export.read_bytes()

    status, _, err = run(capsys, "snapshots", "delete", "1", "--db", db_path)
    assert (status, err) == (2, "error: refusing to delete snapshot 1 without --yes.\n")

    status, out, _ = run(capsys, "snapshots", "delete", "1", "--yes", "--db", db_path)
    assert (status, out) == (0, "Deleted snapshot 1 (deals.csv, as of 2026-02-01).\n")
    _, listing, _ = run(capsys, "snapshots", "list", "--json", "--db", db_path)
    assert json.loads(listing) == []


def test_snapshots_export_of_an_unknown_id_exits_2(capsys, db_path, tmp_path):
    status, _, err = run(
        capsys, "snapshots", "export", "9", "--out", str(tmp_path / "x.csv"), "--db", db_path
    )

    assert (status, err) == (2, "error: No snapshot with id 9.\n")


def test_snapshots_options_work_before_or_after_the_action(capsys, export, db_path):
    run(capsys, "ingest", str(export), "--db", db_path)

    _, before, _ = run(capsys, "snapshots", "--db", db_path, "--json", "list")
    _, after, _ = run(capsys, "snapshots", "list", "--db", db_path, "--json")

    assert [s["id"] for s in json.loads(before)] == [s["id"] for s in json.loads(after)] == [1]


def test_a_command_line_ingest_and_deletion_record_the_os_account(capsys, export, db_path):
    run(capsys, "ingest", str(export), "--db", db_path)
    _, listing, _ = run(capsys, "snapshots", "list", "--json", "--db", db_path)
    assert [s["uploaded_by"] for s in json.loads(listing)] == [command_line_user()]

    # A real command line run: the deletion must reach its log (it logs warnings and up).
    deleted = subprocess.run(
        [sys.executable, "-m", "core", "snapshots", "delete", "1", "--yes", "--db", db_path],
        cwd=Path(__file__).resolve().parents[2], env={**os.environ, "DEALCAST_LOG_FORMAT": "json"},
        capture_output=True, text=True, timeout=120,
    )
    assert deleted.returncode == 0, deleted.stderr
    (event,) = [json.loads(line) for line in deleted.stderr.splitlines()]
    assert event["event"] == "snapshot_deleted"
    assert (event["snapshot_id"], event["file_name"], event["uploaded_by"], event["deleted_by"]) == (
        1, "deals.csv", command_line_user(), command_line_user())
