"""Forecast page: the numbers shown are the service's own, and every control moves them as it says."""

from __future__ import annotations

import base64
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from core.bootstrap import load_sample_invoices
from core.cashflow import CashflowPredictionService, ForecastOptions, PredictionOptions
from core.cashflow.engines import register_refiner
from core.cashflow.llm_refiner import LLMRefiner
from core.config import get_settings
from core.formatting import money_full, money_short
from tests.support.openai_server import Reply

CURRENCY = "SAR"


def reference(store, engine: str = "rules"):
    """The service's own run of the newest snapshot, computed apart from the page."""
    service = CashflowPredictionService(store)
    return service.run(store.list_snapshots()[-1].id, PredictionOptions(engine=engine, store_results=False))


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def assert_tiles_show(at, agg) -> None:
    totals = agg.totals
    assert metric(at, "Expected invoices") == money_short(totals["invoice_value"], CURRENCY)
    assert metric(at, "Cash in") == money_short(totals["cash_in"], CURRENCY)
    assert metric(at, "Deals") == f"{totals['deal_count']:,}"
    assert metric(at, "Average confidence") == f"{totals['avg_confidence']:.2f}"


def table(at, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def chart_trace(at, name: str) -> dict:
    """A trace of the chart as sent to the browser, numeric arrays decoded from Plotly's typed arrays."""
    [chart] = at.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    found = next(t for t in spec["data"] if t.get("name") == name)
    return {
        key: np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
        if isinstance(value, dict) and "bdata" in value
        else value
        for key, value in found.items()
    }


def run_ok(changed):
    """Run the app after a widget change; nothing may fail."""
    at = changed.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


@pytest.fixture
def page(sample_store, open_page):
    return open_page("forecast")


def test_forecast_tiles_equal_the_service_aggregation(sample_store, page):
    agg = reference(sample_store).aggregate(ForecastOptions())
    assert page.slider(key="horizon").value == 90
    assert page.slider(key="min_confidence").value == 0.5
    assert_tiles_show(page, agg)
    assert chart_trace(page, "Expected cash in")["y"] == pytest.approx(agg.periods["cash_in"].tolist())


def test_forecast_horizon_slider_changes_totals_and_chart_as_the_service_says(sample_store, page):
    run = reference(sample_store)
    short, long = run.aggregate(ForecastOptions(horizon_days=30)), run.aggregate(ForecastOptions())
    assert short.totals["cash_in"] != long.totals["cash_in"]

    at = run_ok(page.slider(key="horizon").set_value(30))
    assert_tiles_show(at, short)
    assert chart_trace(at, "Expected cash in")["x"] == short.periods["period"].tolist()
    assert metric(at, "Beyond horizon") == money_short(short.excluded["beyond_horizon"]["value"], CURRENCY)


def test_forecast_min_confidence_moves_deals_below_threshold_and_totals_reconcile(sample_store, page):
    run = reference(sample_store)
    before = run.aggregate(ForecastOptions()).excluded["below_confidence"]
    strict = run.aggregate(ForecastOptions(min_confidence=0.8))
    below = strict.excluded["below_confidence"]
    assert below["count"] > before["count"]

    at = run_ok(page.slider(key="min_confidence").set_value(0.8))
    assert_tiles_show(at, strict)
    assert metric(at, "Below threshold") == money_short(below["value"], CURRENCY)
    rows = table(at, "Weighted value").set_index("")
    assert rows.loc["Below threshold", "Deals"] == f"{below['count']:,}"
    all_value = money_full(strict.totals["forecast_value"], CURRENCY)
    assert rows.loc["All forecast deals", "Weighted value"] == all_value
    shown_plus_excluded = strict.totals["cash_in"] + sum(e["value"] for e in strict.excluded.values())
    assert shown_plus_excluded == pytest.approx(strict.totals["forecast_value"], abs=0.05)
    counts = rows["Deals"].str.replace(",", "").astype(int)
    assert counts.drop("All forecast deals").sum() == counts["All forecast deals"]


def test_forecast_slider_moves_read_the_cached_runs_inputs_not_its_deals(
    sample_store, page, registered_frames
):
    """The run's aggregation inputs are made once: a move hands DuckDB no prediction frame."""
    registered_frames.clear()  # whatever the first load registered
    at = run_ok(page.slider(key="horizon").set_value(30))
    at = run_ok(at.slider(key="min_confidence").set_value(0.8))
    assert "prediction_rows" not in registered_frames
    expected = reference(sample_store).aggregate(ForecastOptions(horizon_days=30, min_confidence=0.8))
    assert_tiles_show(at, expected)


def test_forecast_month_toggle_keeps_totals_and_labels_months(sample_store, page):
    weekly_cash = metric(page, "Cash in")
    at = run_ok(page.radio(key="granularity").set_value("month"))
    assert metric(at, "Cash in") == weekly_cash
    months = reference(sample_store).aggregate(ForecastOptions(granularity="month"))
    assert chart_trace(at, "Expected cash in")["x"] == months.periods["period"].tolist()
    assert all(len(label) == 7 for label in months.periods["period"])  # 2026-10


def test_forecast_owner_filter_shows_that_owners_deals(sample_store, page):
    run = reference(sample_store)
    owners = page.multiselect(key="owners").options
    assert len(owners) >= 2
    one = run.aggregate(ForecastOptions(owner=owners[0]))

    at = run_ok(page.multiselect(key="owners").set_value([owners[0]]))
    assert_tiles_show(at, one)
    assert set(table(at, "Reasoning")["Owner"]) == {owners[0]}
    rows = table(at, "Weighted value").set_index("")
    assert rows.loc["Filtered out", "Weighted value"] == money_full(
        one.excluded["filtered_out"]["value"], CURRENCY
    )

    at = run_ok(at.multiselect(key="owners").set_value(owners[:2]))
    two = [run.aggregate(ForecastOptions(owner=name)).totals for name in owners[:2]]
    assert metric(at, "Cash in") == money_short(sum(t["cash_in"] for t in two), CURRENCY)
    assert metric(at, "Deals") == f"{sum(t['deal_count'] for t in two):,}"


def test_forecast_period_selectbox_filters_the_table_to_that_periods_deals(sample_store, page):
    run = reference(sample_store)
    agg = run.aggregate(ForecastOptions())
    period = agg.periods.loc[agg.periods["deal_count"].idxmax()]
    frame = run.frame[agg.included]
    start, end = pd.Timestamp(period["start"]), pd.Timestamp(period["end"])
    in_period = frame["predicted_invoice_date"].between(start, end) | frame["predicted_payment_date"].between(
        start, end
    )
    expected = set(frame.loc[in_period, "deal_id"])
    assert 0 < len(expected) < agg.totals["deal_count"]

    selectbox = page.selectbox(key="period")
    assert selectbox.value == "All periods"
    assert selectbox.options == ["All periods", *agg.periods["period"]]
    at = run_ok(selectbox.set_value(period["period"]))
    assert set(table(at, "Reasoning")["Deal"]) == expected

    at = run_ok(at.selectbox(key="period").set_value("All periods"))
    assert len(table(at, "Reasoning")) == agg.totals["deal_count"]


def test_forecast_table_shows_dates_confidence_method_and_reasoning(page):
    shown = table(page, "Reasoning")
    for column in ("Invoice date", "Payment date", "Confidence", "Method", "Reasoning"):
        assert shown[column].notna().all(), column
    assert shown["Weighted"].is_monotonic_decreasing


def test_forecast_engine_switch_to_learned_shows_the_learned_forecast(sample_store, page):
    learned = reference(sample_store, "learned")
    assert (learned.frame["method"] == "learned").any()
    at = run_ok(page.radio(key="engine").set_value("learned"))
    assert_tiles_show(at, learned.aggregate(ForecastOptions()))
    assert "learned" in set(table(at, "Reasoning")["Method"])


def test_forecast_unweighted_switch_shows_full_values(sample_store, page):
    totals = reference(sample_store).aggregate(ForecastOptions()).totals
    at = run_ok(page.toggle(key="weighted").set_value(False))
    assert metric(at, "Cash in") == money_short(totals["cash_in_unweighted"], CURRENCY)
    assert metric(at, "Expected invoices") == money_short(totals["invoice_value_unweighted"], CURRENCY)


def test_forecast_offers_csv_and_xlsx_downloads(page):
    labels = [button.label for button in page.get("download_button")]
    assert labels == ["Download CSV", "Download XLSX"]


def test_forecast_assumptions_expander_explains_the_run_and_on_request_each_deal(sample_store, page):
    assert "Assumptions" in [e.label for e in page.expander]
    assert any("Base confidence" in t.value for t in page.text)
    method_tables = [d for d in page.dataframe if list(d.value.columns) == ["Method", "Deals"]]
    assert not method_tables, "per-deal use is built only on request"

    at = run_ok(page.toggle(key="explain_deals").set_value(True))
    report = CashflowPredictionService(sample_store).explain_assumptions(run=reference(sample_store))
    methods = next(d.value for d in at.dataframe if list(d.value.columns) == ["Method", "Deals"])
    assert dict(zip(methods["Method"], methods["Deals"], strict=True)) == report.methods
    per_deal = next(d.value for d in at.dataframe if "deal_id" in d.value.columns)
    assert len(per_deal) == len(report.per_deal)


def test_forecast_llm_toggle_hidden_while_the_llm_is_off(page):
    assert "use_llm" not in [t.key for t in page.toggle]


def answer_every_deal(as_of):
    """A scripted LLM that dates every deal it is sent: invoice in 10 days, paid 30 days later."""

    def respond(body: dict) -> Reply:
        prompt = body["messages"][-1]["content"]
        lines = prompt.split("<deals>")[1].split("</deals>")[0].strip().splitlines()
        invoice, payment = as_of + dt.timedelta(days=10), as_of + dt.timedelta(days=40)
        return Reply.json({"predictions": [
            {"deal_id": json.loads(line)["deal_id"], "predicted_invoice_date": str(invoice),
             "predicted_payment_date": str(payment), "confidence": 0.9, "assumptions": ["scripted"],
             "missing_fields": [], "reasoning": "Scripted answer."}
            for line in lines if line.strip()
        ]})

    return respond


@pytest.fixture
def llm_refiner(llm_refiner_slot):
    """The real LLM refiner registered, whatever earlier tests left in the registry."""
    register_refiner("llm", LLMRefiner())


def test_forecast_llm_toggle_refines_deals_through_the_configured_llm(
    sample_store, open_page, openai_server, monkeypatch, llm_refiner
):
    monkeypatch.setenv("DEALCAST_LLM_BASE_URL", openai_server.base_url)
    get_settings.cache_clear()
    openai_server.responder = answer_every_deal(sample_store.list_snapshots()[-1].as_of)
    at = open_page("forecast")
    assert not openai_server.requests, "nothing is sent until the user asks"

    at = run_ok(at.toggle(key="use_llm").set_value(True))
    assert openai_server.requests
    methods = set(table(at, "Reasoning")["Method"])
    assert "llm" in methods, methods
    assert "Scripted answer" in " ".join(table(at, "Reasoning")["Reasoning"])
    requests = len(openai_server.requests)
    at = run_ok(at.slider(key="horizon").set_value(120))
    assert len(openai_server.requests) == requests, "a slider move never calls the LLM again"


def test_forecast_empty_database_shows_what_to_do(empty_store, open_page):
    at = open_page("forecast")
    assert any("No deals loaded yet" in i.value for i in at.info)
    assert not at.metric and not at.get("plotly_chart")


def test_forecast_shows_receivables_cash_apart_from_pipeline_cash(sample_store, open_page):
    load_sample_invoices(sample_store)
    agg = reference(sample_store).aggregate(ForecastOptions())
    totals = agg.totals
    assert totals["cash_in_receivables"] > 0
    at = open_page("forecast")
    assert_tiles_show(at, agg)
    assert metric(at, "of which receivables") == money_short(totals["cash_in_receivables"], CURRENCY)
    pipeline = chart_trace(at, "Cash in from pipeline")["y"]
    receivables = chart_trace(at, "Cash in from receivables")["y"]
    assert pipeline == pytest.approx(agg.periods["cash_in_pipeline"].tolist())
    assert receivables == pytest.approx(agg.periods["cash_in_receivables"].tolist())


def test_forecast_owner_filter_counts_receivables_as_filtered_out(sample_store, open_page):
    load_sample_invoices(sample_store)
    run = reference(sample_store)
    owner = run.frame.loc[run.frame["kind"] == "forecast", "owner"].dropna().iloc[0]
    expected = run.aggregate(ForecastOptions(owner=owner))
    at = run_ok(open_page("forecast").multiselect(key="owners").set_value([owner]))
    assert_tiles_show(at, expected)
    assert metric(at, "of which receivables") == money_short(0, CURRENCY)
