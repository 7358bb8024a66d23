"""LLM usage: what the call log says about calls, tokens, cost, latency, errors and the cache."""

from __future__ import annotations

import streamlit as st

from core.charts import llm_calls_figure, llm_errors_figure, llm_tokens_figure
from core.llm import call_filters, format_circuit, format_cost, llm_status, usage_report
from views._common import EMPTY_CELL, app_store, llm_client, sidebar

TABLE_COLUMNS = {
    "calls": st.column_config.NumberColumn("Calls", format="%d"),
    "successes": st.column_config.NumberColumn("Succeeded", format="%d"),
    "failures": st.column_config.NumberColumn("Failed", format="%d"),
    "cache_hits": st.column_config.NumberColumn("From cache", format="%d"),
    "prompt_tokens": st.column_config.NumberColumn("Prompt tokens", format="%d"),
    "completion_tokens": st.column_config.NumberColumn("Completion tokens", format="%d"),
    "total_tokens": st.column_config.NumberColumn("Tokens", format="%d"),
    "cost_usd": st.column_config.NumberColumn("Cost (USD)", format="$%.4f"),
    "latency_p50_ms": st.column_config.NumberColumn("Latency p50 (ms)", format="%.0f"),
    "latency_p95_ms": st.column_config.NumberColumn("Latency p95 (ms)", format="%.0f"),
}


def milliseconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


store = app_store()
sidebar(store)
st.title("LLM usage")

status = llm_status(llm_client(), store)
state = "on" if status.enabled else "off"
st.caption(f"LLM {state} · circuit {format_circuit(status)} · {status.cache_live_rows or 0:,} cached replies")

models, prompts = call_filters(store)
if not models and not prompts:
    st.info(
        "No LLM calls logged yet. Turn the LLM on with `DEALCAST_LLM_API_KEY` (or `OPENROUTER_API_KEY` / "
        "`OPENAI_API_KEY`) for a hosted API, or point `DEALCAST_LLM_BASE_URL` at a local OpenAI-compatible "
        "server such as Ollama (`http://localhost:11434/v1`, no key needed), restart the app, then use the "
        "**Writer** or an LLM forecast. Every call shows up here."
    )
    if not status.enabled:
        st.caption(f"Now: {status.disabled_reason}")
else:
    left, right = st.columns(2)
    chosen_models = left.multiselect("Models", models, key="models", placeholder="All models")
    chosen_prompts = right.multiselect("Prompts", prompts, key="prompts", placeholder="All prompts")
    report = usage_report(store, models=chosen_models, prompts=chosen_prompts)
    totals = report.totals

    tiles = st.columns(7)
    tiles[0].metric("Calls", f"{totals['calls']:,}")
    tiles[1].metric("Failed", f"{totals['failures']:,}")
    tiles[2].metric("Tokens", f"{totals['total_tokens']:,}")
    unknown = totals["cost_unknown_calls"]
    tiles[3].metric(
        "Cost (USD)", format_cost(None if unknown and unknown == totals["calls"] else totals["cost_usd"]),
        help=f"Cost unknown for {unknown:,} call(s): model not in the price table." if unknown else None,
    )
    tiles[4].metric("Latency p50", milliseconds(totals["latency_p50_ms"]))
    tiles[5].metric("Latency p95", milliseconds(totals["latency_p95_ms"]))
    rate = totals["cache_hit_rate"]
    tiles[6].metric("Cache hit rate", "—" if rate is None else f"{rate:.0%}")

    if report.empty:
        st.info("No calls match these filters: clear a model or prompt filter.")
    else:
        span = f"{totals['first_call_at']:%Y-%m-%d %H:%M} to {totals['last_call_at']:%Y-%m-%d %H:%M} UTC"
        st.caption(f"{totals['prompt_tokens']:,} prompt and {totals['completion_tokens']:,} completion "
                   f"tokens; {totals['cache_hits']:,} calls answered from the cache; from {span}.")
        per = report.granularity
        st.subheader("Calls over time")
        st.plotly_chart(llm_calls_figure(report.over_time, granularity=per), key="calls_chart")
        st.subheader("Tokens and cost")
        st.plotly_chart(llm_tokens_figure(report.over_time, granularity=per), key="tokens_chart")
        st.subheader("Errors by type")
        if report.errors.empty:
            st.caption("No failed calls.")
        else:
            st.plotly_chart(llm_errors_figure(report.errors), key="errors_chart")
        st.subheader("By model")
        st.dataframe(report.by_model, hide_index=True, placeholder=EMPTY_CELL, column_config=TABLE_COLUMNS)
        st.subheader("By prompt")
        st.dataframe(report.by_prompt, hide_index=True, placeholder=EMPTY_CELL, column_config=TABLE_COLUMNS)
