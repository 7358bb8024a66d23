"""The predict answer is built once per run and forecast options, and never served stale: a new
snapshot (deals or invoices, from the API or the command line) or saved assumptions change it."""

from __future__ import annotations

import pytest

from core.api import runs
from core.cashflow.assumptions import load_assumptions, save_assumptions
from core.cli import main
from core.store import Store
from tests.ingest.exports import pipedrive_csv, pipedrive_row

INVOICES = (
    b"Invoice Number,Customer,Invoice Date,Due Date,Amount,Currency,Paid Date\n"
    b"INV-900,Acme,2026-10-01,2026-10-31,1000,SAR,\n"
)


@pytest.fixture
def builds(monkeypatch) -> list[int]:
    """Counts the predict answers the API builds (one entry per ``forecast_document`` call)."""
    made: list[int] = []
    build = runs.forecast_document

    def counted(*args, **kwargs):
        made.append(1)
        return build(*args, **kwargs)

    monkeypatch.setattr(runs, "forecast_document", counted)
    return made


def predict(http, **body) -> dict:
    response = http.post("/cashflow/predict", json={"include_deals": False, **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_same_request_is_answered_from_the_cache_and_other_options_are_not(api, builds):
    with api.client() as http:
        first = http.post("/cashflow/predict", json={"horizon_days": 60})
        again = http.post("/cashflow/predict", json={"horizon_days": 60})
        assert len(builds) == 1
        assert again.content == first.content and again.headers["content-type"] == "application/json"
        other = predict(http, horizon_days=30)
        assert len(builds) == 2
        assert other["horizon_days"] == 30 and first.json()["horizon_days"] == 60
        assert first.json()["deals"] and not other["deals"]


def test_a_new_snapshot_from_the_api_or_the_command_line_changes_latest(api, builds, tmp_path):
    rows = [pipedrive_row(n) for n in range(1, 4)]
    with api.client() as http:
        before = predict(http)
        upload = http.post("/snapshots", files={"file": ("deals.csv", pipedrive_csv(rows), "text/csv")},
                           data={"as_of": "2026-11-02"})
        assert upload.status_code == 201
        uploaded = predict(http)
        export = tmp_path / "later.csv"
        export.write_bytes(pipedrive_csv(rows[:2]))
        assert main(["ingest", str(export), "--db", api.db, "--as-of", "2026-11-09"]) == 0
        ingested = predict(http)
    ids = [before["snapshot_id"], uploaded["snapshot_id"], ingested["snapshot_id"]]
    assert ids == sorted(set(ids)) and uploaded["snapshot_id"] == upload.json()["snapshot_id"]
    assert len(builds) == 3


def test_saved_assumptions_change_the_answer(api, builds):
    with api.client() as http:
        before = predict(http)
        with Store(api.db) as store:
            faster = load_assumptions(store).model_copy(update={"default_payment_days": 5})
            saved = save_assumptions(store, faster, "pay in 5 days")
        after = predict(http)
    assert after["assumptions_version"] == saved.version != before["assumptions_version"]
    assert after["totals"] != before["totals"]
    assert len(builds) == 2


def test_a_new_invoice_list_changes_the_receivables(api, builds):
    with api.client() as http:
        before = predict(http)
        upload = http.post("/receivables/invoices", files={"file": ("ar.csv", INVOICES, "text/csv")},
                           data={"as_of": before["as_of"]})
        assert upload.status_code == 201
        after = predict(http)
    assert after["receivables"]["snapshot_id"] == upload.json()["snapshot_id"]
    assert before["receivables"]["snapshot_id"] != after["receivables"]["snapshot_id"]


def test_memo_lets_go_of_the_least_recently_used_past_its_budget():
    memo = runs.Memo(budget=10, size=len)
    memo.get("a", lambda: "aaaa")
    memo.get("b", lambda: "bbbb")
    memo.get("a", lambda: "never")        # a hit: "a" is now the most recently used
    memo.get("c", lambda: "cccc")         # 12 > 10: "b" goes
    assert memo.get("a", lambda: "new a") == "aaaa"
    assert memo.get("b", lambda: "new b") == "new b"
