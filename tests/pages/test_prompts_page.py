"""Prompts page: every version listed with its metadata, a live preview, the A/B variant report."""

from __future__ import annotations

import json

from core.prompts import get_prompt_registry


def test_prompts_lists_every_version_and_variant_with_metadata(sample_store, open_page):
    at = open_page("prompts")

    registry = get_prompt_registry()
    table = at.dataframe[0].value.set_index("prompt")
    assert table.index.tolist() == [template.pinned_id for template in registry.list()]
    concise = table.loc["deal.summarize.v1.concise"]
    assert (concise["id"], concise["version"], concise["variant"], concise["weight"]) == (
        "deal.summarize", "v1", "concise", 1.0)
    summary = table.loc["deal.summarize.v1"]
    assert (summary["tier"], summary["temperature"], summary["max_tokens"], summary["output_model"]) == (
        "balanced", 0.5, 500, "DealSummary")
    assert summary["required_variables"] == "title"
    assert "include_blockers" in summary["optional_variables"]


def test_prompts_preview_renders_the_sample_variables(sample_store, open_page):
    at = open_page("prompts")
    at.selectbox(key="prompt").set_value("deal.summarize.v1").run()

    registry = get_prompt_registry()
    system, user = registry.render_sample("deal.summarize.v1")
    assert [code.value for code in at.code] == [system, user]
    assert json.loads(at.text_area(key="vars").value)["title"] == "Fit-out of Riyadh HQ, floors 3-5"


def test_prompts_preview_renders_again_with_edited_variables(sample_store, open_page):
    at = open_page("prompts")
    at.selectbox(key="prompt").set_value("reminder.sms.v1").run()
    variables = json.loads(at.text_area(key="vars").value)

    variables.update(deal_title="Jeddah showroom", language="ar")
    at.text_area(key="vars").set_value(json.dumps(variables)).run()

    user = at.code[1].value
    assert "Jeddah showroom" in user + at.code[0].value
    assert "Arabic" in at.code[0].value
    assert not at.error


def test_prompts_preview_names_missing_variables_and_bad_json(sample_store, open_page):
    at = open_page("prompts")
    at.selectbox(key="prompt").set_value("email.followup.v1").run()
    variables = json.loads(at.text_area(key="vars").value)
    del variables["recipients"], variables["subject_intent"]

    at.text_area(key="vars").set_value(json.dumps(variables)).run()
    assert [e.value for e in at.error] == [
        "email.followup.v1: missing required variable(s) recipients, subject_intent"]
    assert not at.code

    at.text_area(key="vars").set_value('{"recipients": ["Faisal"],\n "subject_intent": }').run()
    assert "not valid JSON" in at.error[0].value and "line 2, column 20" in at.error[0].value


def test_prompts_choosing_another_prompt_loads_its_sample(sample_store, open_page):
    at = open_page("prompts")
    at.selectbox(key="prompt").set_value("deal.summarize.v1").run()
    at.text_area(key="vars").set_value('{"title": "edited"}').run()

    at.selectbox(key="prompt").set_value("notes.summarize.v1").run()

    expected = get_prompt_registry().get("notes.summarize.v1").sample
    assert json.loads(at.text_area(key="vars").value).keys() == expected.keys()


def test_prompts_variant_report_shows_recorded_outcomes(sample_store, open_page):
    registry = get_prompt_registry()
    registry.record_outcome("deal.summarize.v1", success=True, confidence=0.8, total_tokens=300,
                            cost_usd=0.002, latency_ms=900.0)
    registry.record_outcome("deal.summarize.v1.concise", success=False, total_tokens=100)
    registry.record_outcome("deal.summarize.v1.concise", success=True, confidence=0.6, total_tokens=200)

    at = open_page("prompts")
    at.selectbox(key="prompt").set_value("deal.summarize.v1").run()

    report = at.dataframe[1].value.set_index("variant")
    assert report.loc["control", ["count", "successes"]].tolist() == [1, 1]
    assert report.loc["concise", ["count", "successes", "success_rate", "avg_total_tokens"]].tolist() == [
        2, 1, 0.5, 150.0]
