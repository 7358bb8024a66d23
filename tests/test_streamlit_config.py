"""The dashboard's Streamlit settings that a security review asked for (.streamlit/config.toml).

The server binding is checked on a running server in tests/browser/test_untrusted_text.py.
"""

from __future__ import annotations

import tomllib

from streamlit import config
from streamlit.testing.v1 import AppTest

from core.config import PROJECT_ROOT

CONFIG = PROJECT_ROOT / ".streamlit" / "config.toml"


def test_config_binds_to_loopback_and_hides_error_details():
    settings = tomllib.loads(CONFIG.read_text())

    assert settings["server"]["address"] == "127.0.0.1"
    assert settings["client"]["showErrorDetails"] == "none"


def test_an_uncaught_error_shows_a_message_not_code(monkeypatch):
    monkeypatch.chdir(PROJECT_ROOT)  # Streamlit reads .streamlit/config.toml from the working folder
    config.get_config_options(force_reparse=True)

    def app():
        raise RuntimeError("password=hunter2 in /srv/dealcast/core/store.py")

    at = AppTest.from_function(app).run()

    (shown,) = at.exception
    assert "redacted" in shown.message
    assert "hunter2" not in shown.message and "RuntimeError" not in str(shown.proto)
    assert shown.stack_trace == []
