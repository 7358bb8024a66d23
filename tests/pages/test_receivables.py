"""Receivables page: the numbers shown are the receivables core's own, for the snapshot and dates picked."""

from __future__ import annotations

import datetime as dt

from streamlit.testing.v1 import AppTest

from core.bootstrap import load_sample_invoices
from core.cashflow.assumptions import load_assumptions
from core.cashflow.behaviour import learn_behaviour
from core.cashflow.collections import default_backtest_as_of
from core.cashflow.payment_backtest import backtest_payments
from core.formatting import money_short
from core.receivables import KIND, aging, load_invoices
from core.store import Store

SMALL_CSV = (
    b"Invoice Number,Customer,Invoice Date,Due Date,Amount,Currency,Paid Date\n"
    b"00041,Acme Ltd,2026-01-05,2026-02-04,1000.00,SAR,2026-02-10\n"
    b"00042,Acme Ltd,2026-02-02,2026-03-04,2500.00,SAR,\n"
    b"00043,Beta Co,2026-02-09,2026-03-11,not a number,SAR,\n"
)
#: ``st.user`` of someone signed in (AppTest's ``user``), as the login gate leaves it.
SIGNED_IN = {"is_logged_in": True, "email": "ana@finance.example"}


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def with_sample_invoices(store: Store, open_page) -> tuple[AppTest, int]:
    snapshot_id = load_sample_invoices(store).snapshot_id
    return open_page("receivables"), snapshot_id


def test_receivables_page_without_invoices_offers_the_sample_and_loads_it(sample_store, open_page):
    at = open_page("receivables")
    assert "No invoice list loaded yet" in " ".join(i.value for i in at.info)

    at.user = SIGNED_IN
    at.button(key="load_sample_invoices").click().run()

    assert not at.exception and not at.error
    snapshots = sample_store.list_snapshots(kind=KIND)
    assert len(snapshots) == 1
    assert snapshots[0].uploaded_by == "ana@finance.example"
    assert at.selectbox(key="invoice_snapshot").value == snapshots[0].id
    assert "Loaded the sample invoice list" in " ".join(s.value for s in at.success)


def test_receivables_aging_tiles_equal_the_core_aging(sample_store, open_page):
    at, snapshot_id = with_sample_invoices(sample_store, open_page)
    snapshot = sample_store.get_snapshot(snapshot_id)
    buckets = aging(load_invoices(sample_store, snapshot_id), snapshot.as_of)
    shown = metrics(at)
    currency = load_assumptions(sample_store).base_currency
    assert buckets["invoices"].sum() > 0
    for row in buckets.itertuples():
        assert shown[row.bucket] == money_short(row.amount_base, currency)


def test_receivables_behaviour_table_rows_equal_learn_behaviour(sample_store, open_page):
    at, snapshot_id = with_sample_invoices(sample_store, open_page)
    snapshot = sample_store.get_snapshot(snapshot_id)
    terms = load_assumptions(sample_store).default_payment_days
    expected = learn_behaviour(load_invoices(sample_store, snapshot_id), snapshot.as_of,
                               default_terms=terms).table()
    table = next(d.value for d in at.dataframe if "Median days to pay" in d.value.columns)
    assert table["Customer"].tolist() == expected["customer"].tolist()
    assert table["Paid invoices"].tolist() == expected["invoices"].tolist()
    assert table["Median days to pay"].tolist() == expected["median_days_to_pay"].tolist()
    assert table["P90"].tolist() == expected["p90_days_to_pay"].tolist()
    assert table["Source"].tolist() == expected["source"].tolist()


def test_receivables_backtest_figures_equal_backtest_payments_for_the_chosen_date(sample_store, open_page):
    at, snapshot_id = with_sample_invoices(sample_store, open_page)
    invoices = load_invoices(sample_store, snapshot_id)
    terms = load_assumptions(sample_store).default_payment_days
    picker = at.date_input(key="backtest_as_of")
    assert picker.value == default_backtest_as_of(invoices)

    chosen = dt.date(2026, 3, 1)
    picker.set_value(chosen).run()

    result = backtest_payments(invoices, chosen, default_terms=terms)
    shown = metrics(at)
    assert result.invoices_evaluated > 0
    assert shown["Invoices evaluated"] == f"{result.invoices_evaluated:,}"
    assert shown["MAE learned"] == f"{result.mae_days:.1f} days"
    assert shown["MAE fixed terms"] == f"{result.mae_days_fixed_terms:.1f} days"
    assert shown["MAE due date"] == f"{result.mae_days_due_date:.1f} days"
    assert shown["Bias"] == f"{result.bias_days:.1f} days"
    assert shown["P10–P90 coverage"] == f"{result.band_coverage:.0%}"


def test_receivables_collections_switch_between_weeks_and_months(sample_store, open_page):
    at, _ = with_sample_invoices(sample_store, open_page)

    def periods() -> list[str]:
        table = next(d.value for d in at.dataframe if "Expected" in d.value.columns)
        return table["Period"].tolist()

    weeks = periods()
    assert weeks and all("-W" in p for p in weeks)
    at.radio(key="collections_granularity").set_value("month").run()
    months = periods()
    assert months and not any("-W" in p for p in months)
    assert len(months) < len(weeks)


def test_receivables_upload_saves_one_invoice_snapshot_with_exact_counts(empty_store, open_page):
    at = open_page("receivables")
    at.user = SIGNED_IN
    at.file_uploader(key="invoice_upload").upload("ar.csv", SMALL_CSV, "text/csv")
    at.run()
    at.button(key="save_invoices").click().run()
    assert not at.exception, [e.value for e in at.exception]

    snapshots = empty_store.list_snapshots(kind=KIND)
    assert len(snapshots) == 1
    saved = snapshots[0]
    assert (saved.rows_read, saved.rows_loaded, saved.rows_rejected) == (3, 2, 1)
    assert saved.uploaded_by == "ana@finance.example"
    assert [label.split(" · ", 2)[2] for label in at.selectbox(key="invoice_snapshot").options] == [
        "ar.csv · by ana@finance.example"]
    assert load_invoices(empty_store, saved.id)["invoice_id"].tolist() == ["00041", "00042"]
    shown = metrics(at)
    assert (shown["Rows read"], shown["Invoices loaded"], shown["Rows rejected"]) == ("3", "2", "1")

    at.run()  # a rerun with the same file shows the result again and saves nothing more
    assert len(empty_store.list_snapshots(kind=KIND)) == 1
