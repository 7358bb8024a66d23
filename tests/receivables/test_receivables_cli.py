"""``python -m core receivables ...`` and ``forecast --receivables``: JSON fields, text, exit statuses."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core.access import command_line_user
from core.bootstrap import SAMPLE_INVOICES
from core.cli import EXIT_BAD_INPUT, main
from core.cli.ingest import RESULT_KEYS
from core.sample.invoices import generate_invoices, invoice_csv
from core.store import Store
from tests.cashflow.helpers import deals, save
from tests.receivables.helpers import AS_OF, invoices, paid_history, save_invoices

SHIPPED = SAMPLE_INVOICES


@pytest.fixture
def db(db_path, tmp_path):
    path = tmp_path / "invoices.csv"
    path.write_bytes(SHIPPED.read_bytes())
    assert main(["receivables", "ingest", str(path), "--db", db_path]) == 0
    return db_path


def run_json(capsys, *argv) -> dict | list:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_shipped_invoice_sample_is_what_the_generator_writes():
    assert SHIPPED.read_bytes() == invoice_csv(generate_invoices(invoices=600, seed=7))


def test_ingest_json_has_the_deal_ingest_fields(db_path, tmp_path, capsys):
    path = tmp_path / "ar.csv"
    path.write_bytes(SHIPPED.read_bytes())
    out = run_json(capsys, "receivables", "ingest", str(path), "--db", db_path)
    assert list(out) == list(RESULT_KEYS)
    assert (out["rows_read"], out["rows_loaded"], out["rows_rejected"]) == (603, 601, 2)
    assert out["as_of"] == "2026-10-26" and len(out["rejects"]) == 2
    with Store(db_path) as store:
        assert store.get_snapshot(out["snapshot_id"]).uploaded_by == command_line_user()


def test_list_shows_each_invoice_snapshot_with_its_open_invoices(db, capsys):
    rows = run_json(capsys, "receivables", "list", "--db", db)
    assert [(r["rows_loaded"], r["open_invoices"]) for r in rows] == [(601, 82)]
    assert main(["receivables", "list", "--db", db]) == 0
    assert (
        "   1  2026-10-26      601         2     82    4,570,437.41  invoices.csv" in capsys.readouterr().out
    )


def test_behaviour_json_has_one_row_per_customer(db, capsys):
    out = run_json(capsys, "receivables", "behaviour", "--db", db)
    rows = {row["customer"]: row for row in out["customers"]}
    assert len(rows) == 11
    assert set(rows["SABIC Ltd"]) >= {
        "invoices",
        "median_days_to_pay",
        "p10_days_to_pay",
        "p90_days_to_pay",
        "share_late",
        "source",
    }
    assert rows["Saudi Aramco Co."]["source"] == "learned"
    assert rows["Gulf Catering Est."]["source"] == "fallback"
    one = run_json(capsys, "receivables", "behaviour", "--customer", "saudi aramco", "--db", db)
    assert [row["customer"] for row in one["customers"]] == ["Saudi Aramco Co."]


def test_backtest_json_reports_the_three_errors_and_learned_beats_fixed_terms(db, capsys):
    out = run_json(capsys, "receivables", "backtest", "--as-of", "2026-06-30", "--db", db)
    assert set(out) >= {
        "invoices_evaluated",
        "mae_days",
        "mae_days_fixed_terms",
        "mae_days_due_date",
        "bias_days",
        "band_coverage",
    }
    assert out["invoices_evaluated"] > 100
    assert out["mae_days"] < out["mae_days_due_date"] < out["mae_days_fixed_terms"]


def test_forecast_shows_receivables_and_pipeline_cash_apart(db_path, capsys):
    with Store(db_path) as store:
        save(store, deals({"stage": "Awaiting GR"}), AS_OF)
        save_invoices(store, invoices(*paid_history("Acme", [5] * 5, start=dt.date(2025, 12, 1)), {}), AS_OF)
    out = run_json(capsys, "forecast", "--db", db_path, "--min-confidence", "0")
    assert out["totals"]["cash_in"] == pytest.approx(
        out["totals"]["cash_in_pipeline"] + out["totals"]["cash_in_receivables"], abs=0.05
    )
    assert out["totals"]["cash_in_receivables"] == 1000.0
    assert [i["method"] for i in out["receivables"]["invoices"]] == ["receivable"]
    none = run_json(capsys, "forecast", "--db", db_path, "--receivables", "none")
    assert none["receivables"]["snapshot_id"] is None and none["totals"]["cash_in_receivables"] == 0
    assert main(["forecast", "--db", db_path]) == 0
    text = capsys.readouterr().out
    assert "receivables" in text and "Receivables: snapshot" in text


def test_a_missing_invoice_snapshot_is_exit_2(db_path, capsys):
    assert main(["receivables", "behaviour", "--db", db_path]) == EXIT_BAD_INPUT
    assert "no invoices snapshots yet" in capsys.readouterr().err
