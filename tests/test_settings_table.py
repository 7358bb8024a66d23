"""The settings table a page shows: every setting, secrets and embedded credentials masked."""

from __future__ import annotations

import dataclasses

from core.config import Settings
from core.settings_table import HIDDEN, NOT_SET, settings_table, shown_value


def test_settings_table_lists_every_setting_with_its_variables_and_help():
    table = settings_table(Settings.from_env({}))

    assert table["setting"].tolist() == [field.name for field in dataclasses.fields(Settings)]
    row = table.set_index("setting").loc["llm_api_key"]
    assert row["environment"] == "DEALCAST_LLM_API_KEY or OPENROUTER_API_KEY or OPENAI_API_KEY"
    assert row["value"] == NOT_SET and "never logged" in row["help"]
    assert table.set_index("setting").loc["llm_timeout", "value"] == "60.0"


def test_settings_table_hides_the_api_key_from_any_of_its_variables():
    key = "sk-or-v1-abcdef0123456789"

    table = settings_table(Settings.from_env({"OPENROUTER_API_KEY": key}))

    assert table.set_index("setting").loc["llm_api_key", "value"] == HIDDEN
    assert key not in table.to_csv()


def test_shown_value_masks_credentials_inside_connection_strings_and_urls():
    masked = "md:dealcast?motherduck_token=***"
    assert shown_value("md:dealcast?motherduck_token=eyJhbGciOi", secret=False) == masked
    assert shown_value("https://user:pa55@llm.example/v1", secret=False) == "https://***@llm.example/v1"
    assert shown_value("http://localhost:11434/v1", secret=False) == "http://localhost:11434/v1"
    assert shown_value("", secret=True) == NOT_SET
