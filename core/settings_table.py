"""The settings in force, as a table a page can show: name, variables, value, default, help.

Secret settings (the API key) show only whether they are set, and credentials inside a
value (``token=`` / ``password=`` parameters, ``user:pass@`` in a URL) are masked, so the
table can be shown on any screen.
"""

from __future__ import annotations

import dataclasses
import re

import pandas as pd

from core.config import ENV_PREFIX, Settings

HIDDEN = "set (hidden)"
NOT_SET = "not set"
_CREDENTIAL = re.compile(r"((?:token|password|secret|key)=)[^&;\s]+", re.IGNORECASE)
_USERINFO = re.compile(r"//[^/@\s]+@")


def shown_value(value: object, *, secret: bool) -> str:
    """A setting's value as a page may show it."""
    if secret:
        return HIDDEN if value else NOT_SET
    return _USERINFO.sub("//***@", _CREDENTIAL.sub(r"\1***", str(value)))


def settings_table(settings: Settings) -> pd.DataFrame:
    """One row per setting: name, environment variable(s), current value (masked), default, help."""
    rows = []
    for field in dataclasses.fields(Settings):
        secret = bool(field.metadata.get("secret"))
        names = [ENV_PREFIX + field.name.upper(), *field.metadata.get("fallback_env", ())]
        rows.append({
            "setting": field.name,
            "environment": " or ".join(names),
            "value": shown_value(getattr(settings, field.name), secret=secret),
            "default": shown_value(field.default, secret=secret),
            "help": field.metadata.get("help", ""),
        })
    return pd.DataFrame(rows)
