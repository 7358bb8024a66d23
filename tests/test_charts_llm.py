"""The LLM usage figures: what each trace shows, from the usage report's frames."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from core.charts import LLM_FAILED_COLOUR, llm_calls_figure, llm_errors_figure, llm_tokens_figure

OVER_TIME = pd.DataFrame({
    "period": [dt.datetime(2026, 3, 1, 8), dt.datetime(2026, 3, 1, 9)],
    "calls": [5, 2], "successes": [4, 1], "failures": [1, 1], "cache_hits": [2, 0],
    "prompt_tokens": [500, 100], "completion_tokens": [200, 50], "cost_usd": [0.02, 0.005],
})


def test_llm_calls_figure_stacks_answered_cached_and_failed_calls():
    figure = llm_calls_figure(OVER_TIME, granularity="hour")

    traces = {trace.name: list(trace.y) for trace in figure.data}
    assert traces == {"Answered": [2, 1], "From cache": [2, 0], "Failed": [1, 1]}
    assert figure.layout.barmode == "stack"
    assert figure.layout.yaxis.title.text == "Calls per hour"
    assert figure.data[2].marker.color == LLM_FAILED_COLOUR


def test_llm_tokens_figure_shows_tokens_as_bars_and_cost_on_its_own_axis():
    figure = llm_tokens_figure(OVER_TIME, granularity="day")

    bars = {trace.name: list(trace.y) for trace in figure.data if trace.type == "bar"}
    assert bars == {"Prompt tokens": [500, 100], "Completion tokens": [200, 50]}
    cost = next(trace for trace in figure.data if trace.type == "scatter")
    assert list(cost.y) == [0.02, 0.005] and cost.yaxis == "y2"


def test_llm_errors_figure_puts_the_most_frequent_error_on_top():
    errors = pd.DataFrame({"error_type": ["LLMTimeoutError", "LLMAuthError"], "calls": [3, 1]})

    figure = llm_errors_figure(errors)

    # Plotly draws a horizontal bar chart's categories bottom-up.
    assert list(figure.data[0].y) == ["LLMAuthError", "LLMTimeoutError"]
    assert list(figure.data[0].x) == [1, 3]
