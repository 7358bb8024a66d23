"""Every dashboard figure, as pure functions: data in, Plotly figure out (DESIGN section 9).

Pages never build figures themselves, so a figure is tested with plain pytest and looks
the same wherever it appears. Invoices and cash in keep the two fixed colours below on
every chart; a P10/P90 band is a translucent area. Several engineers add functions here:
add, do not rewrite.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

#: Expected invoices, on every chart.
INVOICE_COLOUR = "#1f77b4"
#: Expected cash in, on every chart.
CASH_COLOUR = "#2ca02c"
#: Cash in from open invoices (receivables): a lighter shade of the cash colour.
RECEIVABLES_COLOUR = "#98df8a"
#: Cumulative cash line: a darker shade of the cash colour so it reads as the same money.
CUMULATIVE_COLOUR = "#145214"
#: P10/P90 band of cash in: the cash colour, translucent.
BAND_FILL = "rgba(44, 160, 44, 0.18)"
#: Most period labels on a time axis (52 weeks show every third label).
PERIOD_TICKS = 18


def forecast_figure(periods: pd.DataFrame, *, currency: str, weighted: bool = True) -> go.Figure:
    """Bars of expected invoices and cash in per period, the cumulative cash line, the P10/P90 band.

    ``periods`` is ``Aggregation.periods`` (columns period, invoice_value[_unweighted],
    cash_in[_unweighted], cash_in_p10, cash_in_p90). The band is computed from weighted
    values, so it is drawn only for the weighted view. The cumulative line has its own
    axis on the right: it outgrows the bars within a few periods. Traces and layout go to
    one ``go.Figure`` call: adding them one by one costs Plotly ~4x more (slider reruns).
    """
    suffix = "" if weighted else "_unweighted"
    labels = periods["period"].astype(str).tolist()
    cash = periods[f"cash_in{suffix}"].astype(float)
    money = f"%{{y:,.0f}} {currency}"
    traces = [
        *(_band_traces(labels, periods, money, "Cash in ") if weighted else []),
        go.Bar(x=labels, y=periods[f"invoice_value{suffix}"].astype(float), name="Expected invoices",
               marker_color=INVOICE_COLOUR, offsetgroup="invoices",
               hovertemplate=f"%{{x}}<br>Invoices {money}<extra></extra>"),
        *_cash_bars(labels, cash, periods, money),
        go.Scatter(x=labels, y=cash.cumsum(), name="Cumulative cash in", mode="lines+markers",
                   line={"color": CUMULATIVE_COLOUR, "width": 2}, marker={"size": 4}, yaxis="y2",
                   hovertemplate=f"%{{x}}<br>Cumulative {money}<extra></extra>"),
    ]
    layout = {
        "barmode": "group",
        "hovermode": "x unified",
        "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        "yaxis": {"title": {"text": f"Per period ({currency})"}, "tickformat": ".3~s", "rangemode": "tozero"},
        "yaxis2": {
            "title": {"text": f"Cumulative ({currency})"},
            "tickformat": ".3~s",
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "showgrid": False,
        },
        # Category axis in period order; at most PERIOD_TICKS labels, angled, keep 52 weeks legible.
        "xaxis": {
            "type": "category",
            "tickmode": "array",
            "tickvals": labels[:: max(1, math.ceil(len(labels) / PERIOD_TICKS))],
            "tickangle": -45,
            "automargin": True,
        },
    }
    return go.Figure(data=traces, layout=layout)


def _cash_bars(labels: list[str], cash: pd.Series, periods: pd.DataFrame, money: str) -> list[go.Bar]:
    """One cash-in bar per period; with open invoices in the forecast, the receivables part
    stacked on the pipeline part (same colour family) so the two sources read separately."""
    receivables = periods.get("cash_in_receivables")
    if receivables is None or not receivables.astype(float).any():
        return [go.Bar(x=labels, y=cash, name="Expected cash in", marker_color=CASH_COLOUR,
                       hovertemplate=f"%{{x}}<br>Cash in {money}<extra></extra>")]
    receivables = receivables.astype(float)
    pipeline = cash - receivables
    return [
        go.Bar(x=labels, y=pipeline, name="Cash in from pipeline", marker_color=CASH_COLOUR,
               offsetgroup="cash", hovertemplate=f"%{{x}}<br>Pipeline cash {money}<extra></extra>"),
        go.Bar(x=labels, y=receivables, base=pipeline, name="Cash in from receivables",
               marker_color=RECEIVABLES_COLOUR, offsetgroup="cash",
               hovertemplate=f"%{{x}}<br>Receivables cash {money}<extra></extra>"),
    ]


# -- LLM usage (views/llm_usage.py; frames from core.llm.call_report) ------------------------

#: Calls answered by the server, answered from the response cache, and failed.
LLM_ANSWERED_COLOUR = "#6c757d"
LLM_CACHED_COLOUR = "#adb5bd"
LLM_FAILED_COLOUR = "#d62728"
#: Prompt and completion tokens.
LLM_PROMPT_TOKENS_COLOUR = "#9467bd"
LLM_COMPLETION_TOKENS_COLOUR = "#c5b0d5"


def _llm_layout(figure: go.Figure, y_title: str) -> go.Figure:
    figure.update_layout(
        barmode="stack",
        hovermode="x unified",
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        yaxis={"title": y_title, "rangemode": "tozero"},
    )
    return figure


def llm_calls_figure(over_time: pd.DataFrame, *, granularity: str) -> go.Figure:
    """Calls per hour or day, stacked: answered by the server, from the cache, failed.

    ``over_time`` is ``UsageReport.over_time`` (period, successes, failures, cache_hits).
    """
    periods = over_time["period"]
    answered = over_time["successes"] - over_time["cache_hits"]
    figure = go.Figure()
    for name, values, colour in (
        ("Answered", answered, LLM_ANSWERED_COLOUR),
        ("From cache", over_time["cache_hits"], LLM_CACHED_COLOUR),
        ("Failed", over_time["failures"], LLM_FAILED_COLOUR),
    ):
        figure.add_trace(go.Bar(x=periods, y=values, name=name, marker_color=colour,
                                hovertemplate=f"{name}: %{{y:,}}<extra></extra>"))
    _llm_layout(figure, f"Calls per {granularity}")
    figure.update_xaxes(title=None)
    return figure


def llm_tokens_figure(over_time: pd.DataFrame, *, granularity: str) -> go.Figure:
    """Prompt and completion tokens per hour or day (stacked bars) and their cost in USD (line)."""
    periods = over_time["period"]
    figure = go.Figure()
    for name, column, colour in (
        ("Prompt tokens", "prompt_tokens", LLM_PROMPT_TOKENS_COLOUR),
        ("Completion tokens", "completion_tokens", LLM_COMPLETION_TOKENS_COLOUR),
    ):
        figure.add_trace(go.Bar(x=periods, y=over_time[column], name=name, marker_color=colour,
                                hovertemplate=f"{name}: %{{y:,}}<extra></extra>"))
    figure.add_trace(go.Scatter(
        x=periods, y=over_time["cost_usd"], name="Cost (USD)", mode="lines+markers", yaxis="y2",
        line={"color": "#333333", "width": 2}, hovertemplate="Cost: $%{y:,.4f}<extra></extra>",
    ))
    _llm_layout(figure, f"Tokens per {granularity}")
    figure.update_layout(yaxis2={"title": "Cost (USD)", "overlaying": "y", "side": "right",
                                 "rangemode": "tozero", "showgrid": False})
    return figure


def llm_errors_figure(errors: pd.DataFrame) -> go.Figure:
    """Failed calls by error type, the most frequent on top (``UsageReport.errors``)."""
    ordered = errors.iloc[::-1]
    figure = go.Figure(go.Bar(
        x=ordered["calls"], y=ordered["error_type"], orientation="h", marker_color=LLM_FAILED_COLOUR,
        hovertemplate="%{y}: %{x:,}<extra></extra>",
    ))
    figure.update_layout(margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis={"title": "Failed calls"},
                         yaxis={"type": "category"}, height=max(160, 40 * len(errors) + 80))
    return figure


def cash_outlook_figure(periods: pd.DataFrame, *, currency: str) -> go.Figure:
    """A small chart for the Overview: expected invoices and cash in per period, weighted.

    ``periods`` is ``Aggregation.periods``; no band or cumulative line (Forecast has those).
    """
    labels = periods["period"].astype(str).tolist()
    money = f"%{{y:,.0f}} {currency}"
    figure = go.Figure()
    for column, name, colour in (
        ("invoice_value", "Expected invoices", INVOICE_COLOUR),
        ("cash_in", "Expected cash in", CASH_COLOUR),
    ):
        figure.add_trace(
            go.Bar(x=labels, y=periods[column].astype(float), name=name, marker_color=colour,
                   hovertemplate=f"%{{x}}<br>{name} {money}<extra></extra>")
        )
    figure.update_layout(
        barmode="group",
        height=260,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        yaxis={"title": currency, "tickformat": "~s", "rangemode": "tozero"},
        xaxis={"type": "category", "tickangle": -45, "automargin": True},
    )
    return figure


def stage_timeline_figure(history: pd.DataFrame) -> go.Figure:
    """One deal's stage at each snapshot date: a step line over stages in the order first seen.

    ``history`` is ``core.deal_history.deal_history`` (columns as_of, stage, status, value_base).
    """
    stages = history["stage"].astype("string").fillna("(no stage)")
    order = list(dict.fromkeys(stages.tolist()))
    status = history["status"].astype("string").fillna("")
    value = history["value_base"].astype(float)
    figure = go.Figure(
        go.Scatter(
            x=pd.to_datetime(history["as_of"]),
            y=stages.tolist(),
            mode="lines+markers",
            line={"shape": "hv", "color": INVOICE_COLOUR, "width": 2},
            marker={"size": 9},
            customdata=list(zip(status.tolist(), value.tolist(), strict=True)),
            hovertemplate="%{x|%Y-%m-%d}<br>%{y}<br>status %{customdata[0]}"
            "<br>value %{customdata[1]:,.0f}<extra></extra>",
            name="Stage",
        )
    )
    figure.update_layout(
        height=max(220, 60 + 40 * len(order)),
        margin={"l": 10, "r": 10, "t": 20, "b": 10},
        showlegend=False,
        xaxis=_day_axis(pd.to_datetime(history["as_of"])),
        yaxis={"title": None, "type": "category", "categoryorder": "array", "categoryarray": order,
               "automargin": True},
    )
    return figure


#: Below this many days between the first and last snapshot, every snapshot date is a tick.
FEW_DAYS = 14


def _day_axis(days: pd.Series) -> dict:
    """A date axis labelled in whole days: Plotly's own ticks over a long span, each snapshot's
    date over a short one, and a week either side of a single day (Plotly would zoom to
    milliseconds around it)."""
    axis = {"title": "Snapshot as of", "type": "date", "tickformat": "%Y-%m-%d"}
    if days.empty:
        return axis
    first, last = days.min(), days.max()
    if last - first < pd.Timedelta(days=FEW_DAYS):
        axis["tickvals"] = sorted(days.drop_duplicates())
        pad = pd.Timedelta(days=7 if first == last else 1)
        axis["range"] = [first - pad, last + pad]
    return axis


#: Line styles that tell the engines apart on the backtest cash chart (cash colour for all).
ENGINE_DASHES = ("solid", "dash", "dot", "dashdot")


def backtest_cash_figure(weeks: pd.DataFrame, *, currency: str) -> go.Figure:
    """Actual cash in per week as bars, each engine's predicted cash as a line over them.

    ``weeks`` is long: engine, period, predicted_cash, actual_cash (``BacktestDetail.weeks``
    per engine). The actual cash is what later snapshots show, the same for every engine;
    the first engine's rows draw it.
    """
    money = f"%{{y:,.0f}} {currency}"
    engines = list(dict.fromkeys(weeks["engine"].tolist()))
    first = weeks[weeks["engine"] == engines[0]] if engines else weeks
    figure = go.Figure(
        go.Bar(x=first["period"].astype(str).tolist(), y=first["actual_cash"].astype(float),
               name="Actual cash in", marker_color=CASH_COLOUR,
               hovertemplate=f"%{{x}}<br>Actual {money}<extra></extra>")
    )
    for number, engine in enumerate(engines):
        rows = weeks[weeks["engine"] == engine]
        figure.add_trace(
            go.Scatter(
                x=rows["period"].astype(str).tolist(),
                y=rows["predicted_cash"].astype(float),
                name=f"Predicted ({engine})",
                mode="lines+markers",
                line={"color": CUMULATIVE_COLOUR, "dash": ENGINE_DASHES[number % len(ENGINE_DASHES)]},
                hovertemplate=f"%{{x}}<br>Predicted by {engine} {money}<extra></extra>",
            )
        )
    figure.update_layout(
        hovermode="x unified",
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        yaxis={"title": f"Cash in per week ({currency})", "tickformat": "~s", "rangemode": "tozero"},
        xaxis={"type": "category", "tickangle": -45, "automargin": True},
    )
    return figure


def backtest_error_figure(errors: pd.DataFrame) -> go.Figure:
    """Histograms of date errors in days (predicted minus actual), one panel per engine.

    ``errors`` is long: engine, kind (``invoice`` or ``payment``), error_days
    (``BacktestDetail.errors()``). Invoice errors in the invoice colour, payment errors in
    the cash colour; positive means predicted too late.
    """
    engines = list(dict.fromkeys(errors["engine"].tolist())) or [""]
    figure = make_subplots(rows=1, cols=len(engines), shared_yaxes=True, subplot_titles=engines)
    for column, engine in enumerate(engines, start=1):
        for kind, colour in (("invoice", INVOICE_COLOUR), ("payment", CASH_COLOUR)):
            days = errors.loc[(errors["engine"] == engine) & (errors["kind"] == kind), "error_days"]
            figure.add_trace(
                go.Histogram(
                    x=days.astype(float),
                    name=f"{kind.capitalize()} date error",
                    legendgroup=kind,
                    showlegend=column == 1,
                    marker_color=colour,
                    opacity=0.75,
                    xbins={"size": 7},
                    bingroup=str(column),  # invoice and payment bars of a panel share their bins
                    hovertemplate=f"{kind} error %{{x}} days<br>%{{y}} deals<extra></extra>",
                ),
                row=1,
                col=column,
            )
        figure.update_xaxes(title_text="Days (predicted − actual)", row=1, col=column)
    figure.update_yaxes(title_text="Deals", row=1, col=1)
    figure.update_layout(
        barmode="overlay",
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.08, "x": 0},
    )
    return figure


#: Aging buckets from current to long overdue: the invoice colour, then warmer as they age.
AGING_COLOURS = (INVOICE_COLOUR, "#f2c14e", "#f28e2b", "#e15759", "#9c1c1c")


def aging_figure(buckets: pd.DataFrame, *, currency: str) -> go.Figure:
    """Open invoices' amount per aging bucket (``core.receivables.aging``: bucket, invoices, amount_base)."""
    labels = buckets["bucket"].astype(str).tolist()
    figure = go.Figure(
        go.Bar(x=labels, y=buckets["amount_base"].astype(float), customdata=buckets["invoices"],
               marker_color=list(AGING_COLOURS[: len(labels)]),
               hovertemplate=f"%{{x}}<br>%{{y:,.0f}} {currency}<br>%{{customdata}} invoices<extra></extra>"),
        layout={
            "height": 280,
            "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
            "xaxis": {"type": "category", "title": {"text": "Days past due"}},
            "yaxis": {"title": {"text": currency}, "tickformat": ".3~s", "rangemode": "tozero"},
        },
    )
    return figure


def _band_traces(labels: list[str], periods: pd.DataFrame, money: str, prefix: str = "") -> list:
    """The P10–P90 band of ``cash_in_p10``/``cash_in_p90``: an invisible P10 line and a P90
    line filled down to it."""
    return [
        go.Scatter(x=labels, y=periods["cash_in_p10"].astype(float), name=f"{prefix}P10", mode="lines",
                   line={"width": 0, "color": CASH_COLOUR}, hovertemplate=f"P10 {money}<extra></extra>",
                   showlegend=False),
        go.Scatter(x=labels, y=periods["cash_in_p90"].astype(float), name=f"{prefix}P10–P90", mode="lines",
                   line={"width": 0, "color": CASH_COLOUR}, fill="tonexty", fillcolor=BAND_FILL,
                   hovertemplate=f"P90 {money}<extra></extra>"),
    ]


def collections_figure(periods: pd.DataFrame, *, currency: str) -> go.Figure:
    """Open invoices' expected cash in per period with its P10/P90 band
    (``core.cashflow.collections.expected_collections``)."""
    labels = periods["period"].astype(str).tolist()
    money = f"%{{y:,.0f}} {currency}"
    traces = [
        *_band_traces(labels, periods, money),
        go.Bar(x=labels, y=periods["cash_in_receivables"].astype(float), name="Expected collections",
               marker_color=CASH_COLOUR, customdata=periods["receivable_count"],
               hovertemplate=f"%{{x}}<br>{money}<br>%{{customdata}} invoices<extra></extra>"),
    ]
    return go.Figure(
        traces,
        layout={
            "height": 300,
            "hovermode": "x unified",
            "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
            "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
            "yaxis": {"title": {"text": currency}, "tickformat": ".3~s", "rangemode": "tozero"},
            "xaxis": {"type": "category", "tickangle": -45, "automargin": True},
        },
    )


def days_to_pay_figure(sample: pd.DataFrame) -> go.Figure:
    """Days to pay per customer as box plots with every invoice as a point
    (``core.cashflow.collections.days_to_pay_sample``: customer, days_to_pay), customers in the
    given order."""
    customers = list(dict.fromkeys(sample["customer"].astype(str)))
    figure = go.Figure(
        go.Box(x=sample["days_to_pay"].astype(float), y=sample["customer"].astype(str), orientation="h",
               boxpoints="all", jitter=0.4, pointpos=0, marker={"size": 4, "opacity": 0.5},
               line={"color": CASH_COLOUR}, fillcolor=BAND_FILL, name="Days to pay",
               hovertemplate="%{y}<br>%{x} days<extra></extra>"),
        layout={
            "height": max(220, 36 * len(customers) + 80),
            "margin": {"l": 10, "r": 10, "t": 10, "b": 10},
            "showlegend": False,
            "xaxis": {"title": {"text": "Days from invoice to payment"}, "rangemode": "tozero"},
            "yaxis": {"type": "category", "categoryorder": "array", "categoryarray": customers[::-1],
                      "automargin": True},
        },
    )
    return figure
