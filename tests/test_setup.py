"""``python -m core setup``: what ``make run`` runs before serving the dashboard."""

from __future__ import annotations

import json

from core.access import command_line_user
from core.bootstrap import sample_files
from core.cli import main
from core.store import Store


def test_setup_loads_the_deal_sample_and_the_invoice_list_into_an_empty_database(db_path, capsys):
    assert main(["setup", "--db", db_path]) in (0, None)
    out = capsys.readouterr().out
    assert f"Loaded {len(sample_files())} sample deal snapshots" in out
    assert "an invoice list (" in out
    with Store(db_path) as store:
        snapshots = store.list_snapshots() + store.list_snapshots(kind="invoices")
    assert len(snapshots) == len(sample_files()) + 1
    assert {s.uploaded_by for s in snapshots} == {command_line_user()}


def test_setup_twice_loads_nothing_the_second_time(db_path, capsys):
    main(["setup", "--db", db_path])
    capsys.readouterr()
    main(["setup", "--db", db_path, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["loaded"] == [] and report["invoices"] is None
    assert report["snapshots"] == len(sample_files())
