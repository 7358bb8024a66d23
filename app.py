"""Dealcast dashboard entry point: page navigation and the shared page set-up.

Run with ``make run`` (or ``streamlit run app.py``). Pages are thin views over ``core``.
The pages live in views/, not pages/: with a pages/ folder Streamlit 1.67 runs a deep link as a
file-per-page app and skips this file's navigation on a fresh server.
"""

import streamlit as st

from core.config import get_settings
from core.connections import DatabaseBusyError
from core.monitoring import configure_process
from views._access import login_gate
from views._common import app_store

# Logs, traces and, with DEALCAST_METRICS_PORT, Prometheus metrics: once per process.
configure_process("dashboard", get_settings(), serve_metrics=True)

st.set_page_config(page_title="Dealcast", page_icon=":material/payments:", layout="wide")
# With [auth] in .streamlit/secrets.toml, nothing below runs until an allowed user signs in.
login_gate()

# Metric tiles: a smaller value font, and a value that wraps at its spaces instead of ending
# in "…", so "SAR 22.8M" or a stage such as "Awaiting Site Readiness" is whole at 1024 px wide.
st.html("""<style>
[data-testid="stMetricValue"] { font-size: 1.75rem; }
[data-testid="stMetricValue"] > div, [data-testid="stMetricValue"] p {
    white-space: normal; overflow: visible; text-overflow: clip; overflow-wrap: normal; word-break: normal; }
</style>""")

PAGES = {
    "Cash": [
        st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("views/forecast.py", title="Forecast", icon=":material/query_stats:"),
        st.Page("views/receivables.py", title="Receivables", icon=":material/receipt_long:"),
        st.Page("views/deal.py", title="Deal", icon=":material/handshake:"),
        st.Page("views/backtest.py", title="Backtest", icon=":material/history:"),
    ],
    "Data": [
        st.Page("views/upload.py", title="Upload", icon=":material/upload_file:"),
        st.Page("views/settings.py", title="Settings", icon=":material/tune:"),
    ],
    "Assistant": [
        st.Page("views/writer.py", title="Writer", icon=":material/edit_note:"),
        st.Page("views/prompts.py", title="Prompts", icon=":material/description:"),
        st.Page("views/llm_usage.py", title="LLM usage", icon=":material/monitoring:"),
    ],
}

# One store session per page run: the database file is opened once for the run and let go
# of afterwards, so the API and the command line can use it in between.
try:
    with app_store().session():
        st.navigation(PAGES).run()
except DatabaseBusyError as exc:
    st.error(str(exc))
