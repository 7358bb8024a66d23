"""Prompts: every prompt version and A/B variant, a live preview, and how the variants compare."""

from __future__ import annotations

import streamlit as st

from core.errors import DealcastError
from core.prompts import PromptRegistry, get_prompt_registry
from core.prompts.catalog import (
    parse_variables,
    preview_variables,
    prompt_table,
    variables_json,
    variant_table,
)
from views._common import EMPTY_CELL, app_store, sidebar

PROMPT_KEY = "prompt"
VARS_KEY = "vars"
VARS_FOR_KEY = "vars_for"


def preview(registry: PromptRegistry, pinned_id: str) -> None:
    template = registry.get(pinned_id)
    st.markdown(f"**{template.pinned_id}** · {template.description}")
    st.caption(f"Tier {template.tier} · temperature {template.temperature} · max {template.max_tokens} "
               f"tokens · output {template.output_model} · weight {template.weight:g}")
    if st.session_state.get(VARS_FOR_KEY) != pinned_id:
        st.session_state[VARS_KEY] = variables_json(preview_variables(template))
        st.session_state[VARS_FOR_KEY] = pinned_id
    left, right = st.columns([2, 3])
    with left:
        st.text_area("Variables (JSON)", key=VARS_KEY, height=420,
                     help="Edit the values and the preview renders again. Required: "
                          + (", ".join(template.required_variables) or "none"))
    with right:
        try:
            system, user = registry.render_prompt(template, parse_variables(st.session_state[VARS_KEY]))
        except DealcastError as exc:
            st.error(str(exc))
        else:
            st.markdown("System prompt")
            st.code(system, language=None, wrap_lines=True)
            st.markdown("User prompt")
            st.code(user, language=None, wrap_lines=True)


store = app_store()
sidebar(store)
st.title("Prompts")
try:
    registry = get_prompt_registry()
except DealcastError as exc:
    st.error(f"The prompts could not be loaded: {exc}")
else:
    st.caption("One TOML file per prompt version in prompts/ (see prompts/README.md). "
               "`python -m core prompts` shows the same from the command line.")
    table = prompt_table(registry)
    st.dataframe(table, hide_index=True, placeholder=EMPTY_CELL)

    st.subheader("Preview")
    chosen = st.selectbox("Prompt", table["prompt"].tolist(), key=PROMPT_KEY)
    preview(registry, chosen)

    st.subheader("A/B variants")
    st.caption("Each deal is assigned a variant by weight, always the same one; outcomes of every "
               "writer call are recorded per variant.")
    report = variant_table(registry, chosen)
    st.dataframe(report, hide_index=True, placeholder=EMPTY_CELL, column_config={
        "success_rate": st.column_config.NumberColumn("success rate", format="percent"),
        "total_cost_usd": st.column_config.NumberColumn("total cost (USD)", format="$%.4f"),
        "avg_cost_usd": st.column_config.NumberColumn("avg cost (USD)", format="$%.5f"),
        "avg_latency_ms": st.column_config.NumberColumn("avg latency (ms)", format="%.0f"),
    })
    if not report["count"].any():
        st.caption("No outcomes recorded yet: they appear once the Writer runs with the LLM on.")
