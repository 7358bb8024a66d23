"""Figures are pure functions: the traces, colours and numbers follow the data given."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.cashflow.aggregate import period_label, period_starts
from core.charts import (
    BAND_FILL,
    CASH_COLOUR,
    INVOICE_COLOUR,
    PERIOD_TICKS,
    RECEIVABLES_COLOUR,
    forecast_figure,
)


def periods(invoices: list[float], cash: list[float], granularity: str = "week") -> pd.DataFrame:
    """An ``Aggregation.periods``-shaped frame; unweighted values are twice the weighted ones."""
    starts = period_starts(dt.date(2026, 1, 5), dt.date(2026, 1, 5) + dt.timedelta(weeks=len(cash) - 1),
                           granularity)[: len(cash)]
    cash_array = np.asarray(cash, dtype=float)
    return pd.DataFrame({
        "period": [period_label(s, granularity) for s in starts],
        "start": starts,
        "invoice_value": invoices,
        "invoice_value_unweighted": [2 * v for v in invoices],
        "cash_in": cash,
        "cash_in_unweighted": [2 * v for v in cash],
        "cash_in_p10": cash_array * 0.5,
        "cash_in_p90": cash_array * 1.5,
    })


def trace(figure, name: str):
    [found] = [t for t in figure.data if t.name == name]
    return found


def test_forecast_figure_has_invoice_and_cash_bars_in_their_fixed_colours():
    figure = forecast_figure(periods([10, 20, 0], [5, 15, 30]), currency="SAR")
    invoices, cash = trace(figure, "Expected invoices"), trace(figure, "Expected cash in")
    assert (invoices.type, cash.type) == ("bar", "bar")
    assert invoices.marker.color == INVOICE_COLOUR and cash.marker.color == CASH_COLOUR
    assert INVOICE_COLOUR != CASH_COLOUR
    assert list(invoices.y) == [10, 20, 0] and list(cash.y) == [5, 15, 30]
    assert list(invoices.x) == ["2026-W02", "2026-W03", "2026-W04"]


def test_forecast_figure_stacks_receivables_cash_on_pipeline_cash():
    data = periods([10, 20, 0], [5, 15, 30]).assign(cash_in_receivables=[0.0, 10.0, 5.0])
    figure = forecast_figure(data, currency="SAR")
    pipeline, receivables = trace(figure, "Cash in from pipeline"), trace(figure, "Cash in from receivables")
    assert list(pipeline.y) == [5, 5, 25] and list(receivables.y) == [0, 10, 5]
    assert list(receivables.base) == [5, 5, 25], "receivables sit on top of the pipeline bar"
    assert pipeline.offsetgroup == receivables.offsetgroup != trace(figure, "Expected invoices").offsetgroup
    assert (pipeline.marker.color, receivables.marker.color) == (CASH_COLOUR, RECEIVABLES_COLOUR)
    assert list(trace(figure, "Cumulative cash in").y) == [5, 20, 50]


def test_forecast_figure_without_receivables_draws_one_cash_bar():
    data = periods([1], [2]).assign(cash_in_receivables=[0.0])
    assert [t.name for t in forecast_figure(data, currency="SAR").data if t.type == "bar"] == [
        "Expected invoices", "Expected cash in"]


def test_forecast_figure_band_is_a_translucent_area_from_p10_to_p90():
    figure = forecast_figure(periods([1, 1], [10, 20]), currency="SAR")
    low, high = trace(figure, "Cash in P10"), trace(figure, "Cash in P10–P90")
    assert list(low.y) == [5, 10] and list(high.y) == [15, 30]
    assert high.fill == "tonexty" and high.fillcolor == BAND_FILL
    assert BAND_FILL.startswith("rgba(") and float(BAND_FILL.rstrip(")").split(",")[-1]) < 1
    positions = [t.name for t in figure.data]
    assert positions.index("Cash in P10") + 1 == positions.index("Cash in P10–P90"), "fills to P10"


def test_forecast_figure_unweighted_shows_full_values_and_no_band():
    figure = forecast_figure(periods([10, 20], [5, 15]), currency="SAR", weighted=False)
    assert list(trace(figure, "Expected invoices").y) == [20, 40]
    assert list(trace(figure, "Expected cash in").y) == [10, 30]
    assert not [t.name for t in figure.data if "P10" in t.name or "P90" in t.name]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e9, allow_nan=False), min_size=1, max_size=60))
def test_forecast_figure_cumulative_line_is_the_running_sum_of_cash(cash):
    figure = forecast_figure(periods([0.0] * len(cash), cash), currency="SAR")
    line = trace(figure, "Cumulative cash in")
    assert line.yaxis == "y2"
    assert np.allclose(list(line.y), np.cumsum(cash))


@pytest.mark.parametrize("weighted", [True, False])
def test_forecast_figure_keeps_52_week_labels_in_order_and_angled(weighted):
    data = periods([1.0] * 53, [1.0] * 53)
    figure = forecast_figure(data, currency="SAR", weighted=weighted)
    assert list(trace(figure, "Expected cash in").x) == data["period"].tolist()
    axis = figure.layout.xaxis
    assert axis.type == "category" and axis.tickangle == -45 and axis.automargin
    assert list(axis.tickvals) == data["period"].tolist()[::3], "every third of 53 weeks is labelled"
    assert len(axis.tickvals) <= PERIOD_TICKS


def test_forecast_figure_labels_every_period_when_few():
    data = periods([1.0] * 13, [1.0] * 13)
    assert list(forecast_figure(data, currency="SAR").layout.xaxis.tickvals) == data["period"].tolist()


def test_forecast_figure_names_the_currency_on_both_axes():
    figure = forecast_figure(periods([1], [1]), currency="EUR")
    assert "EUR" in figure.layout.yaxis.title.text and "EUR" in figure.layout.yaxis2.title.text
