"""Settings page: edit, validate and version the assumptions; LLM status and settings without the key."""

from __future__ import annotations

import json

from core.cashflow.assumptions import SEED_PROFILE, load_assumptions
from core.config import get_settings
from views._common import cashflow_service

SECRET = "sk-test-never-shown-7f3a9c"


def edit(at, editor: str, rows: dict[int, dict]) -> None:
    """Seed a data editor's edit state, as the browser would after the user typed."""
    at.session_state[editor] = {"edited_rows": rows, "added_rows": [], "deleted_rows": []}


def texts(at) -> str:
    shown = [*at.error, *at.success, *at.info]
    return " ".join(str(element.value) for element in shown)


def test_settings_shows_the_seed_profile_in_force(sample_store, open_page):
    at = open_page("settings")

    stages = at.data_editor(key="stages_editor").value
    assert list(stages["stage"]) == [stage.name for stage in SEED_PROFILE.stages]
    assert list(stages["realistic"]) == [stage.realistic for stage in SEED_PROFILE.stages]
    assert at.data_editor(key="payment_rules_editor").value.iloc[0].to_dict() == {
        "field": "organization", "pattern": "aramco", "days": 7}
    rates = at.data_editor(key="rates_editor").value.set_index("currency")["rate"]
    assert rates["SAR"] == 1.0 and rates["USD"] == 3.75
    assert "seed profile" in " ".join(caption.value for caption in at.caption)


def test_settings_saves_an_edit_as_a_new_version_the_forecast_uses(sample_store, open_page):
    at = open_page("settings")
    approved = 1  # row of "Approved" (17 / 29 / 51)

    edit(at, "stages_editor", {approved: {"realistic": 35}})
    at.text_input(key="assumptions_note").set_value("Approved is slower")
    at.button(key="save_assumptions").click().run()

    assert not at.error, [e.value for e in at.error]
    assert "Saved assumptions version 1" in texts(at)
    stored = load_assumptions(sample_store)
    assert stored.version == 1 and stored.stages[approved].realistic == 35
    assert cashflow_service().assumptions.version == 1
    assert cashflow_service().run().assumptions.stages[approved].realistic == 35
    assert at.data_editor(key="stages_editor").value["realistic"].iloc[approved] == 35
    history = at.dataframe[-3].value  # history, LLM models, all settings
    assert list(history["version"]) == [1] and list(history["note"]) == ["Approved is slower"]


def test_settings_rejects_invalid_edits_naming_each_cell_and_saves_nothing(sample_store, open_page):
    at = open_page("settings")

    edit(at, "stages_editor", {1: {"realistic": 10}})
    edit(at, "payment_rules_editor", {0: {"days": -3}})
    edit(at, "rates_editor", {1: {"rate": 0}})
    edit(at, "parameters_editor", {1: {"value": 1.5}})
    at.button(key="save_assumptions").click().run()

    assert len(at.error) == 1
    message = at.error[0].value
    for problem in (
        "Stage table, row 2 (Approved), column 'realistic', value 10: days must be ordered",
        "Payment rules, row 1 (aramco), column 'days', value -3: must be a whole number of days",
        "Currency rates, row 2 (USD), column 'rate', value 0: must be more than 0",
        "Parameters, row 2 (base_confidence), column 'value', value 1.5: must be between 0 and 1",
    ):
        assert problem in message
    assert load_assumptions(sample_store) is SEED_PROFILE
    assert sample_store.query_df("SELECT count(*) AS n FROM assumptions")["n"].item() == 0


def test_settings_saves_nothing_when_nothing_changed(sample_store, open_page):
    at = open_page("settings")

    at.button(key="save_assumptions").click().run()

    assert "Nothing changed" in texts(at)
    assert load_assumptions(sample_store).version == 0


def test_settings_reset_restores_the_seed_profile_as_a_new_version(sample_store, open_page):
    at = open_page("settings")
    edit(at, "rates_editor", {1: {"rate": 3.8}})
    at.button(key="save_assumptions").click().run()
    assert load_assumptions(sample_store).rates["USD"] == 3.8

    at.button(key="reset_assumptions").click().run()

    restored = load_assumptions(sample_store)
    assert restored.version == 2
    assert restored.profile_json() == SEED_PROFILE.profile_json()
    assert at.data_editor(key="rates_editor").value.set_index("currency")["rate"]["USD"] == 3.75


def test_settings_never_shows_the_api_key(sample_store, monkeypatch, open_page):
    monkeypatch.setenv("DEALCAST_LLM_API_KEY", SECRET)
    get_settings.cache_clear()

    at = open_page("settings")

    assert next(m.value for m in at.metric if m.label == "API key") == "set"
    settings = at.dataframe[-1].value.set_index("setting")
    assert settings.loc["llm_api_key", "value"] == "set (hidden)"
    everything = json.dumps([str(node) for node in _walk(at._tree)], default=str)
    assert "set (hidden)" in everything
    assert SECRET not in everything
    for table in at.dataframe:
        assert SECRET not in table.value.to_csv()


def _walk(node):
    """Every element of the rendered page, with its protobuf (labels, values, table bytes)."""
    yield node
    proto = getattr(node, "proto", None)
    if proto is not None:
        yield proto
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)
