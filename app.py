"""Dealcast dashboard entry point: page navigation and the shared page set-up.

Run with ``make run`` (or ``streamlit run app.py``). Pages are thin views over ``core``.
"""

import streamlit as st

st.set_page_config(page_title="Dealcast", page_icon=":material/payments:", layout="wide")

PAGES = {
    "Cash": [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/forecast.py", title="Forecast", icon=":material/query_stats:"),
        st.Page("pages/receivables.py", title="Receivables", icon=":material/receipt_long:"),
        st.Page("pages/deal.py", title="Deal", icon=":material/handshake:"),
        st.Page("pages/backtest.py", title="Backtest", icon=":material/history:"),
    ],
    "Data": [
        st.Page("pages/upload.py", title="Upload", icon=":material/upload_file:"),
        st.Page("pages/settings.py", title="Settings", icon=":material/tune:"),
    ],
    "Assistant": [
        st.Page("pages/writer.py", title="Writer", icon=":material/edit_note:"),
        st.Page("pages/prompts.py", title="Prompts", icon=":material/description:"),
        st.Page("pages/llm_usage.py", title="LLM usage", icon=":material/monitoring:"),
    ],
}

st.navigation(PAGES).run()
