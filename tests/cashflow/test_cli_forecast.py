"""``python -m core forecast`` and ``backtest``: exact JSON keys, text output, exports, exit statuses."""

from __future__ import annotations

import json

import openpyxl
import pandas as pd
import pytest

from core.cashflow import register_refiner
from core.cli import EXIT_BAD_INPUT, EXIT_FAILED, main
from core.sample import generate_history
from core.store import Store
from tests.cashflow.helpers import AS_OF, days_ago, deals, save, save_history
from tests.test_export import assert_safe_csv

FORECAST_KEYS = {
    "snapshot_id",
    "as_of",
    "engine",
    "horizon_days",
    "granularity",
    "min_confidence",
    "periods",
    "totals",
    "excluded",
    "deals",
}
PERIOD_KEYS = [
    "period",
    "start",
    "end",
    "invoice_value",
    "invoice_value_unweighted",
    "cash_in",
    "cash_in_unweighted",
    "cash_in_p10",
    "cash_in_p90",
    "deal_count",
    "avg_confidence",
    "cash_in_pipeline",
    "cash_in_receivables",
    "receivable_count",
]
DEAL_KEYS = {
    "deal_id",
    "title",
    "stage",
    "value_base",
    "probability",
    "predicted_invoice_date",
    "predicted_payment_date",
    "confidence",
    "method",
    "reasoning",
    "flags",
}
BACKTEST_KEYS = {
    "from",
    "to",
    "engine",
    "deals_evaluated",
    "invoice_mae_days",
    "payment_mae_days",
    "bias_days",
    "wape",
    "band_coverage",
}


@pytest.fixture
def db(db_path):
    with Store(db_path) as store:
        save(
            store,
            deals(
                {"stage": "Awaiting GR", "title": '=HYPERLINK("http://x")'},
                {"stage": "Lead In", "owner": "Omar", "title": "Fit-out\r@SUM(1+1)"},
                {"stage": "Approved", "value": None, "value_base": None},
                {"stage": "Approved", "status": "lost"},
                {"stage": "Invoice Issued", "created_at": days_ago(80), "stage_changed_at": days_ago(60)},
            ),
            AS_OF,
        )
    return db_path


def run_json(capsys, *argv) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_forecast_json_has_the_documented_fields(db, capsys):
    out = run_json(
        capsys, "forecast", "--db", db, "--horizon", "30", "--granularity", "week", "--min-confidence", "0.6"
    )
    assert set(out) >= FORECAST_KEYS
    assert (out["as_of"], out["engine"], out["horizon_days"], out["granularity"], out["min_confidence"]) == (
        AS_OF.isoformat(),
        "rules",
        30,
        "week",
        0.6,
    )
    assert [list(p) for p in out["periods"]] == [PERIOD_KEYS] * len(out["periods"])
    assert out["periods"][0]["period"] == "2026-W10"
    assert set(out["excluded"]["below_confidence"]) == {"count", "value"}
    assert set(out["excluded"]["beyond_horizon"]) == {"count", "value"}
    assert out["excluded"]["below_confidence"]["count"] == 1
    assert len(out["deals"]) == 5 and all(set(d) >= DEAL_KEYS for d in out["deals"])
    no_value = next(d for d in out["deals"] if d["stage"] == "Approved" and "no_value" in d["flags"])
    assert "left out of totals" in no_value["reasoning"]


def test_forecast_month_granularity_and_filters(db, capsys):
    out = run_json(
        capsys, "forecast", "--db", db, "--granularity", "month", "--owner", "Omar", "--min-confidence", "0"
    )
    assert out["periods"][0]["period"] == "2026-03"
    assert out["totals"]["deal_count"] == 1


def test_forecast_text_prints_a_period_table_and_totals(db, capsys):
    assert main(["forecast", "--db", db, "--horizon", "14", "--min-confidence", "0.6"]) == 0
    text = capsys.readouterr().out
    assert "2026-W10" in text and "total" in text and "below confidence: 1 deal(s)" in text


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_forecast_out_writes_per_deal_predictions_with_formulas_neutralised(db, tmp_path, capsys, suffix):
    path = tmp_path / f"forecast{suffix}"
    assert main(["forecast", "--db", db, "--out", str(path)]) == 0
    if suffix == ".csv":
        titles = pd.read_csv(path)["title"].tolist()
    else:
        sheet = openpyxl.load_workbook(path).active
        header = [c.value for c in sheet[1]]
        titles = [row[header.index("title")] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert '\'=HYPERLINK("http://x")' in titles
    if suffix == ".csv":
        assert_safe_csv(path.read_bytes(), ["Fit-out\r@SUM(1+1)"])


def test_forecast_out_into_a_missing_folder_is_one_line_and_exit_2(db, tmp_path, capsys):
    assert main(["forecast", "--db", db, "--out", str(tmp_path / "missing" / "x.csv")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No such file or directory" in err and "Traceback" not in err


def test_forecast_llm_on_without_the_llm_path_fails_with_exit_1(db, capsys, llm_refiner_slot):
    register_refiner("llm", None)
    assert main(["forecast", "--db", db, "--llm", "on"]) == EXIT_FAILED
    assert "LLM path not available" in capsys.readouterr().err


def test_forecast_unknown_snapshot_and_bad_arguments_exit_2(db, capsys):
    assert main(["forecast", "--db", db, "--snapshot", "99"]) == EXIT_BAD_INPUT
    with pytest.raises(SystemExit) as exit_info:
        main(["forecast", "--db", db, "--min-confidence", "2"])
    assert exit_info.value.code == EXIT_BAD_INPUT


def test_forecast_on_an_empty_database_exits_2(db_path, capsys):
    assert main(["forecast", "--db", db_path]) == EXIT_BAD_INPUT
    assert "ingest a file first" in capsys.readouterr().err


def test_backtest_json_has_the_documented_fields(db_path, capsys):
    with Store(db_path) as store:
        ids = save_history(store, generate_history(deals=120, snapshots=4, seed=3, messy=0.0))
    out = run_json(capsys, "backtest", "--db", db_path, "--from", str(ids[0]), "--engine", "learned")
    assert set(out) >= BACKTEST_KEYS
    assert (out["from"], out["to"], out["engine"]) == (ids[0], ids[-1], "learned")
    assert main(["backtest", "--db", db_path, "--from", str(ids[1]), "--to", str(ids[2])]) == 0
    assert "invoice mae days" in capsys.readouterr().out
    assert main(["backtest", "--db", db_path, "--from", str(ids[2]), "--to", str(ids[0])]) == EXIT_BAD_INPUT


def test_forecast_explain_prints_the_assumptions_report(db, capsys):
    assert main(["forecast", "--db", db, "--explain"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Assumptions version 0, values in SAR:\n")
    assert "Awaiting GR" in text and "Methods: rules 4" in text
    deals_shown = [line.split()[:4] for line in text.split("  reasoning\n")[-1].splitlines()]
    assert deals_shown == [["1", "Awaiting", "GR", "rules"], ["2", "Lead", "In", "rules"],
                           ["3", "Approved", "rules", "0.70"], ["5", "Invoice", "Issued", "rules"]]
    assert text.rstrip().endswith(
        "0.95  Stage 'Invoice Issued' means invoiced: invoice date is the stage change date (a fact); "
        "payment 37 days after invoice (default terms); payment was overdue, rolled to the as-of date."
    )


def test_forecast_explain_json_is_the_assumptions_report(db, capsys):
    out = run_json(capsys, "forecast", "--db", db, "--explain")
    assert set(out) == {"assumptions_version", "base_currency", "global_assumptions", "stage_table",
                        "per_deal", "confidence_distribution", "methods"}
    assert [(d["deal_id"], d["confidence"]) for d in out["per_deal"]] == [
        ("1", 0.85), ("2", 0.5), ("3", 0.7), ("5", 0.95)]
    assert sum(out["confidence_distribution"].values()) == 4


def test_forecast_for_a_pipeline_no_deal_has_is_empty_and_says_so(db, capsys):
    assert main(["forecast", "--db", db, "--pipeline", "Nope", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert (out["periods"], out["deals"]) == ([], [])
    assert out["warnings"][0].startswith("No deal has pipeline 'Nope', so the forecast is empty")
    assert "warning: No deal has pipeline 'Nope'" in captured.err


def test_forecast_owner_filter_lists_only_that_owners_deals(db, capsys):
    out = run_json(capsys, "forecast", "--db", db, "--owner", "Omar")
    assert [deal["deal_id"] for deal in out["deals"]] == ["2"]
    assert out["periods"] and not any(w.startswith("No deal") for w in out["warnings"])
