"""Figures of the Overview, Deal and Backtest pages: data in, the right traces and colours out."""

from __future__ import annotations

import pandas as pd

from core.charts import (
    CASH_COLOUR,
    INVOICE_COLOUR,
    backtest_cash_figure,
    backtest_error_figure,
    cash_outlook_figure,
    stage_timeline_figure,
)


def periods() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "period": ["2026-W10", "2026-W11", "2026-W12"],
            "invoice_value": [100.0, 0.0, 300.0],
            "cash_in": [0.0, 250.0, 50.0],
        }
    )


def test_cash_outlook_figure_draws_invoices_and_cash_in_their_fixed_colours():
    figure = cash_outlook_figure(periods(), currency="SAR")
    invoices, cash = figure.data
    assert (invoices.marker.color, cash.marker.color) == (INVOICE_COLOUR, CASH_COLOUR)
    assert list(invoices.y) == [100.0, 0.0, 300.0]
    assert list(cash.y) == [0.0, 250.0, 50.0]
    assert list(cash.x) == ["2026-W10", "2026-W11", "2026-W12"]
    assert figure.layout.yaxis.title.text == "SAR"


def test_stage_timeline_figure_orders_stages_as_first_seen_and_keeps_one_point_per_snapshot():
    history = pd.DataFrame(
        {
            "as_of": pd.to_datetime(["2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26"]),
            "stage": ["Approved", "Awaiting GR", "Awaiting GR", None],
            "status": ["open", "open", "open", "won"],
            "value_base": [10.0, 10.0, 12.0, 12.0],
        }
    )
    figure = stage_timeline_figure(history)
    (trace,) = figure.data
    assert list(trace.y) == ["Approved", "Awaiting GR", "Awaiting GR", "(no stage)"]
    assert len(trace.x) == 4
    assert list(figure.layout.yaxis.categoryarray) == ["Approved", "Awaiting GR", "(no stage)"]
    assert trace.line.shape == "hv"


def test_backtest_cash_figure_draws_actual_once_and_one_predicted_line_per_engine():
    weeks = pd.DataFrame(
        {
            "engine": ["rules", "rules", "learned", "learned"],
            "period": ["2026-W01", "2026-W02"] * 2,
            "predicted_cash": [5.0, 6.0, 7.0, 8.0],
            "actual_cash": [4.0, 9.0, 4.0, 9.0],
        }
    )
    figure = backtest_cash_figure(weeks, currency="SAR")
    actual, rules, learned = figure.data
    assert actual.type == "bar" and actual.marker.color == CASH_COLOUR
    assert list(actual.y) == [4.0, 9.0]
    assert (rules.name, list(rules.y)) == ("Predicted (rules)", [5.0, 6.0])
    assert (learned.name, list(learned.y)) == ("Predicted (learned)", [7.0, 8.0])
    assert rules.line.dash != learned.line.dash


def test_backtest_error_figure_has_a_panel_per_engine_with_invoice_and_payment_colours():
    errors = pd.DataFrame(
        {
            "engine": ["rules", "rules", "rules", "auto"],
            "kind": ["invoice", "invoice", "payment", "payment"],
            "error_days": [3.0, -4.0, 10.0, 1.0],
        }
    )
    figure = backtest_error_figure(errors)
    assert [a.text for a in figure.layout.annotations] == ["rules", "auto"]
    by_panel = {(t.xaxis, t.legendgroup): t for t in figure.data}
    assert list(by_panel[("x", "invoice")].x) == [3.0, -4.0]
    assert list(by_panel[("x", "payment")].x) == [10.0]
    assert list(by_panel[("x2", "invoice")].x) == []
    assert by_panel[("x", "invoice")].marker.color == INVOICE_COLOUR
    assert by_panel[("x2", "payment")].marker.color == CASH_COLOUR
    assert sum(bool(t.showlegend) for t in figure.data) == 2


def test_stage_timeline_figure_accepts_an_empty_history():
    empty = pd.DataFrame({"as_of": pd.Series([], dtype="datetime64[s]"), "stage": [], "status": [],
                          "value_base": pd.Series([], dtype=float)})
    assert len(stage_timeline_figure(empty).data[0].x) == 0


def test_backtest_error_figure_accepts_no_errors():
    figure = backtest_error_figure(pd.DataFrame({"engine": [], "kind": [], "error_days": []}))
    assert len(figure.data) == 2
    assert all(len(t.x) == 0 for t in figure.data)


def test_stage_timeline_figure_labels_days_and_frames_a_single_snapshot_by_a_week():
    one = pd.DataFrame({"as_of": pd.to_datetime(["2026-10-26"]), "stage": ["Awaiting Site Readiness"],
                        "status": ["open"], "value_base": [1.0]})
    axis = stage_timeline_figure(one).layout.xaxis
    assert axis.tickformat == "%Y-%m-%d"
    assert [pd.Timestamp(t) for t in axis.tickvals] == [pd.Timestamp("2026-10-26")]
    assert [pd.Timestamp(t) for t in axis.range] == [pd.Timestamp("2026-10-19"), pd.Timestamp("2026-11-02")]
    weekly = pd.DataFrame({"as_of": pd.date_range("2026-09-07", periods=8, freq="7D"),
                           "stage": ["Approved"] * 8, "status": ["open"] * 8, "value_base": [1.0] * 8})
    axis = stage_timeline_figure(weekly).layout.xaxis
    assert axis.tickformat == "%Y-%m-%d" and axis.tickvals is None and axis.range is None
