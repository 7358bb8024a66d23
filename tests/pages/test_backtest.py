"""Backtest page: choose snapshots and engines, run, and see exactly core's backtest metrics."""

from __future__ import annotations

from core.bootstrap import sample_files
from core.cashflow import run_backtest
from core.ingest import ingest_file

#: Metrics table header -> BacktestResult field.
COLUMNS = {
    "Deals evaluated": "deals_evaluated",
    "Payments evaluated": "payments_evaluated",
    "Invoice MAE (days)": "invoice_mae_days",
    "Payment MAE (days)": "payment_mae_days",
    "Bias (days)": "bias_days",
    "Invoice value WAPE": "invoice_value_wape",
    "Cash WAPE": "wape",
    "P10–P90 coverage": "band_coverage",
    "Win chance Brier": "probability_brier",
}


def assert_metrics_equal_core(at, store, from_id: int, to_id: int, engines: list[str]) -> None:
    """One row per engine, then the naive baseline's, each equal to core's backtest."""
    table = at.dataframe[0].value
    assert table["Engine"].tolist() == [*engines, "naive"]
    results = [run_backtest(store, from_id, to_id, engine=engine) for engine in engines]
    for row, expected in zip(table.to_dict("records"), [*results, results[0].naive], strict=True):
        assert {header: row[header] for header in COLUMNS} == {
            header: getattr(expected, field) for header, field in COLUMNS.items()
        }


def test_backtest_shows_calibration_and_notes(sample_store, open_page):
    snapshots = sample_store.list_snapshots()
    at = open_page("backtest")
    at.button(key="run_backtest").click().run()
    assert not at.exception, at.exception
    calibration = at.dataframe[1].value
    expected = run_backtest(sample_store, snapshots[0].id, snapshots[-1].id, engine="learned")
    rows = calibration[calibration["Probability of"] == "learned"]
    assert rows["Deals"].tolist() == [row.deals for row in expected.calibration]
    assert rows["Won"].tolist() == [row.observed for row in expected.calibration]
    assert set(calibration["Probability of"]) == {"rules", "learned", "naive", "CRM's own"}
    captions = [c.value for c in at.caption]
    assert all(note in captions for note in expected.notes)


def test_backtest_defaults_to_oldest_and_newest_and_waits_for_run(sample_store, open_page):
    snapshots = sample_store.list_snapshots()
    at = open_page("backtest")
    assert at.selectbox(key="from_snapshot").value == snapshots[0].id
    assert at.selectbox(key="to_snapshot").value == snapshots[-1].id
    assert at.multiselect(key="engines").value == ["rules", "learned"]
    assert not at.dataframe
    assert any("Run backtest" in info.value for info in at.info)


def test_backtest_metrics_equal_core_results_for_every_chosen_engine(sample_store, open_page):
    snapshots = sample_store.list_snapshots()
    at = open_page("backtest")
    at.multiselect(key="engines").set_value(["rules", "learned", "auto"])
    at.button(key="run_backtest").click().run()
    assert not at.exception and not at.error
    engines = ["rules", "learned", "auto"]
    assert_metrics_equal_core(at, sample_store, snapshots[0].id, snapshots[-1].id, engines)
    assert [s.value for s in at.subheader][-3:] == [
        "Win chance calibration",
        "Predicted and actual cash in per week",
        "Date errors",
    ]


def labels(snapshots) -> list[str]:
    return [f"#{s.id} · as of {s.as_of}" for s in snapshots]


def test_backtest_to_choices_are_later_than_from_and_a_new_run_uses_them(sample_store, open_page):
    snapshots = sample_store.list_snapshots()
    ids = [s.id for s in snapshots]
    at = open_page("backtest")
    assert at.selectbox(key="from_snapshot").options == labels(snapshots[:-1])
    at.selectbox(key="from_snapshot").set_value(ids[3]).run()
    assert at.selectbox(key="to_snapshot").options == labels(snapshots[4:])
    at.selectbox(key="to_snapshot").set_value(ids[5]).run()
    at.button(key="run_backtest").click().run()
    assert_metrics_equal_core(at, sample_store, ids[3], ids[5], ["rules", "learned"])
    at.selectbox(key="from_snapshot").set_value(ids[0]).run()
    assert any("selection changed" in c.value for c in at.caption)
    assert_metrics_equal_core(at, sample_store, ids[3], ids[5], ["rules", "learned"])


def test_backtest_needs_an_engine_to_run(sample_store, open_page):
    at = open_page("backtest")
    at.multiselect(key="engines").set_value([]).run()
    assert at.button(key="run_backtest").disabled


def test_backtest_with_one_snapshot_explains_it_needs_two(empty_store, open_page):
    ingest_file(empty_store, sample_files()[0], source="pipedrive")
    at = open_page("backtest")
    assert "from_snapshot" not in [box.key for box in at.selectbox]
    assert any("at least two snapshots" in info.value for info in at.info)


def test_backtest_without_data_points_to_upload(empty_store, open_page):
    at = open_page("backtest")
    assert any("Upload" in info.value for info in at.info)
