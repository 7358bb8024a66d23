"""The prompt catalogue the Prompts page shows: table, preview variables, JSON round trip, A/B table."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core.errors import InputError
from core.prompts import PromptRegistry
from core.prompts.catalog import (
    parse_variables,
    preview_variables,
    prompt_table,
    variables_json,
    variant_table,
)


def test_prompt_table_has_one_row_per_version_and_variant(registry):
    table = prompt_table(registry)

    assert table["prompt"].tolist() == [template.pinned_id for template in registry.list()]
    row = table.set_index("prompt").loc["reminder.sms.v1"]
    assert (row["tier"], row["max_tokens"], row["output_model"], row["required_variables"]) == (
        "fast", 120, "SmsReminder", "deal_title")


def test_preview_variables_of_every_shipped_prompt_render_after_a_json_round_trip(registry):
    for template in registry.list():
        variables = parse_variables(variables_json(preview_variables(template)))
        system, user = registry.render_prompt(template, variables)
        assert system and user, template.pinned_id


def test_preview_variables_without_a_sample_are_placeholders_for_the_required_ones(write_prompt, prompt_dir):
    write_prompt(sample={})
    template = PromptRegistry(prompt_dir).get("test.greet")

    assert preview_variables(template) == {"name": "<name>"}


def test_variables_json_writes_dates_as_iso_text():
    assert json.loads(variables_json({"due": dt.date(2026, 2, 1), "name": "Faisal"})) == {
        "due": "2026-02-01", "name": "Faisal"}


@pytest.mark.parametrize(("text", "message"), [
    ('{"a": 1,\n "b": }', "not valid JSON: Expecting value at line 2, column 7"),
    ('["a"]', "must be a JSON object"),
])
def test_parse_variables_names_the_mistake(text, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        parse_variables(text)


def test_parse_variables_reads_an_empty_editor_as_no_variables():
    assert parse_variables("") == {}


def test_variant_table_lists_every_variant_of_the_prompt_with_its_outcomes(write_prompt, prompt_dir):
    write_prompt()
    write_prompt("test.greet.v1.short.toml", variant="short", weight=2.0)
    registry = PromptRegistry(prompt_dir)
    registry.record_outcome("test.greet.v1.short", success=True, confidence=0.9)

    table = variant_table(registry, "test.greet.v1.short").set_index("variant")

    assert table.loc["short", ["count", "weight", "avg_confidence"]].tolist() == [1, 2.0, 0.9]
    assert table.loc["control", "count"] == 0
