"""Rates edited in the assumptions (Settings page) convert the next uploads."""

from __future__ import annotations

from core.cashflow.assumptions import SEED_PROFILE, load_assumptions, save_assumptions, upload_rates
from core.cli import main
from core.receivables.invoices import load_invoices
from core.store import Store
from tests.ingest.exports import pipedrive_csv, pipedrive_row


def usd_export(tmp_path):
    path = tmp_path / "usd.csv"
    path.write_bytes(pipedrive_csv([pipedrive_row(1, Value="1000", **{"Currency of Value": "USD"})]))
    return path


def test_upload_rates_are_the_ingest_defaults_until_someone_saves_assumptions(store):
    assert upload_rates(store, "SAR") is None
    edited = SEED_PROFILE.model_copy(update={"rates": {**SEED_PROFILE.rates, "USD": 4.0}})
    save_assumptions(store, edited)
    assert upload_rates(store, "SAR").rates["USD"] == 4.0


def test_upload_rates_ignore_assumptions_kept_in_another_base_currency(store):
    save_assumptions(store, SEED_PROFILE.model_copy(update={"base_currency": "AED", "rates": {"AED": 1.0}}))
    assert upload_rates(store, "SAR") is None


def usd_invoice_list(tmp_path):
    path = tmp_path / "ar.csv"
    path.write_text(
        "Invoice Number,Customer,Invoice Date,Due Date,Amount,Currency\n"
        'INV-1,Acme,11/2/2025,12/2/2025,"1,000.00",USD\n'
    )
    return path


def save_usd_at_four(db_path):
    with Store(db_path) as store:
        profile = load_assumptions(store)
        save_assumptions(store, profile.model_copy(update={"rates": {**profile.rates, "USD": 4.0}}))


def test_ingest_command_converts_with_the_saved_rates(tmp_path, db_path, capsys):
    save_usd_at_four(db_path)
    assert main(["ingest", str(usd_export(tmp_path)), "--db", db_path]) == 0
    capsys.readouterr()
    with Store(db_path) as store:
        [value_base] = store.load_deals(1)["value_base"]
    assert value_base == 4000


def test_receivables_ingest_command_converts_with_the_saved_rates_too(tmp_path, db_path, capsys):
    save_usd_at_four(db_path)
    assert main(["receivables", "ingest", str(usd_invoice_list(tmp_path)), "--db", db_path]) == 0
    capsys.readouterr()
    with Store(db_path) as store:
        [amount_base] = load_invoices(store, 1)["amount_base"]
    assert amount_base == 4000
