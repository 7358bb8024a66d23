"""PromptRegistry: loading, lookups, configs, variable checks and the sandbox."""

from __future__ import annotations

import jinja2
import pytest
from jinja2.sandbox import SecurityError

from core.config import get_settings
from core.errors import InputError, NotFoundError
from core.prompts import (
    PromptError,
    PromptNotFoundError,
    PromptRegistry,
    build_environment,
    get_prompt_registry,
)
from core.prompts.outputs import DatePredictions, DealSummary
from core.store import get_store

#: The prompts DESIGN section 7 lists: id -> (tier, temperature, max tokens, output model).
DESIGN_PROMPTS = {
    "deal.summarize.v1": ("balanced", 0.5, 500, "DealSummary"),
    "deal.compliance_check.v1": ("balanced", 0.3, 300, "ComplianceCheck"),
    "deal.order_received_analysis.v1": ("balanced", 0.3, 200, "OrderReceivedAnalysis"),
    "deal.health_analysis.v1": ("balanced", 0.5, 600, "DealHealthAnalysis"),
    "email.followup.v1": ("balanced", 0.7, 500, "FollowupEmail"),
    "reminder.whatsapp.v1": ("fast", 0.6, 200, "WhatsAppReminder"),
    "reminder.email.v1": ("fast", 0.6, 300, "EmailReminder"),
    "reminder.sms.v1": ("fast", 0.6, 120, "SmsReminder"),
    "notes.summarize.v1": ("balanced", 0.5, 400, "NotesSummary"),
    "cashflow.predict_dates.v1": ("advanced", 0.3, 4000, "DatePredictions"),
}


def test_registry_loads_the_ten_design_prompts_and_the_concise_variant(registry):
    pinned = {template.pinned_id for template in registry.list()}
    assert pinned == {*DESIGN_PROMPTS, "deal.summarize.v1.concise"}


@pytest.mark.parametrize(("pinned_id", "expected"), DESIGN_PROMPTS.items())
def test_prompt_config_matches_the_design_table(registry, pinned_id, expected):
    config = registry.get_prompt_config(pinned_id)
    assert (config.tier, config.temperature, config.max_tokens, config.output_model) == expected
    assert config.pinned_id == pinned_id
    assert config.variant == "control"


def test_get_bare_id_returns_the_latest_version_and_pinned_ids_return_theirs(write_prompt, prompt_dir):
    write_prompt(version="v1", system="First version.")
    write_prompt(version="v2", system="Second version.")
    write_prompt(version="v10", system="Tenth version.")
    registry = PromptRegistry(prompt_dir)
    assert registry.get("test.greet").version == "v10"
    assert registry.get("test.greet.v2").system == "Second version."
    assert registry.get_prompt_config("test.greet").version == "v10"


def test_get_variant_by_its_pinned_id(registry):
    template = registry.get("deal.summarize.v1.concise")
    assert (template.id, template.version, template.variant) == ("deal.summarize", "v1", "concise")
    assert registry.get("deal.summarize").variant == "control"


def test_get_unknown_id_is_a_not_found_error_that_lists_known_prompts(registry):
    with pytest.raises(PromptNotFoundError, match=r"No prompt 'deal\.sumarize'.*deal\.summarize") as caught:
        registry.get("deal.sumarize")
    assert isinstance(caught.value, NotFoundError)
    assert isinstance(caught.value, InputError)
    with pytest.raises(PromptNotFoundError):
        registry.get("deal.summarize.v9")


def test_output_model_resolves_the_class_in_core_outputs(registry):
    assert registry.output_model("deal.summarize") is DealSummary
    assert registry.output_model("deal.summarize.v1.concise") is DealSummary
    assert registry.output_model(registry.get("cashflow.predict_dates")) is DatePredictions


def test_render_missing_required_variables_names_each_of_them(registry):
    with pytest.raises(PromptError, match=r"email\.followup\.v1: missing required variable\(s\) "
                                          r"recipients, deal_contexts$"):
        registry.render_prompt("email.followup", {"subject_intent": "ask for the handover date"})


def test_render_none_required_variable_counts_as_missing(registry):
    with pytest.raises(PromptError, match=r"missing required variable.*title"):
        registry.render_prompt("deal.summarize", {"title": None})


def test_render_unknown_variable_is_an_error_naming_it(registry):
    with pytest.raises(PromptError, match=r"unknown variable.*langauge"):
        registry.render_prompt("deal.summarize", {"title": "Riyadh HQ", "langauge": "ar"})


def test_render_optional_variable_left_out_or_none_takes_its_default(registry):
    left_out = registry.render_prompt("deal.summarize", {"title": "Riyadh HQ"})
    given_none = registry.render_prompt("deal.summarize", {"title": "Riyadh HQ", "max_length": None})
    assert left_out == given_none
    assert "under 120 words" in left_out[0]


def test_render_accepts_a_template_object(registry):
    template = registry.get("reminder.sms")
    system, user = registry.render_prompt(template, {"deal_title": "Riyadh HQ"})
    assert "Riyadh HQ" in user
    assert system.startswith("You write SMS reminders")


def test_loader_rejects_a_template_that_uses_an_undeclared_variable(write_prompt, prompt_dir):
    write_prompt(user="Greet {{ name }} in {{ language }}.")
    expected = r"test\.greet\.v1\.toml: the templates use undeclared variable\(s\) language"
    with pytest.raises(PromptError, match=expected):
        PromptRegistry(prompt_dir)


def test_loader_rejects_a_declared_variable_no_template_uses(write_prompt, prompt_dir):
    write_prompt(optional_variables=["tone"])
    with pytest.raises(PromptError, match=r"declare unused variable\(s\) tone"):
        PromptRegistry(prompt_dir)


@pytest.mark.parametrize(("fields", "file_name", "message"), [
    ({"tier": "huge"}, None, "tier: Input should be 'fast', 'balanced' or 'advanced'"),
    ({"output_model": "Nope"}, None, "'Nope' is not a class in core.prompts.outputs"),
    ({"temperature": 3.5}, None, "temperature: Input should be less than or equal to 2"),
    ({"colour": "blue"}, None, "colour: Extra inputs are not permitted"),
    ({"version": "1"}, None, "version: String should match pattern"),
    ({}, "greet.toml", "must be named test.greet.v1.toml"),
    ({"user": "Greet {{ name "}, None, "user template, line 1"),
])
def test_loader_rejects_a_bad_prompt_file_naming_the_file_and_the_reason(
    write_prompt, prompt_dir, fields, file_name, message
):
    path = write_prompt(file_name, **fields)
    with pytest.raises(PromptError) as caught:
        PromptRegistry(prompt_dir)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_loader_rejects_a_file_that_is_not_toml(prompt_dir):
    (prompt_dir / "broken.v1.toml").write_text('id = "broken\n')
    with pytest.raises(PromptError, match=r"broken\.v1\.toml: not a readable TOML file"):
        PromptRegistry(prompt_dir)


def test_loader_rejects_a_missing_folder(tmp_path):
    with pytest.raises(PromptError, match="does not exist"):
        PromptRegistry(tmp_path / "nowhere")


def test_variant_cannot_change_the_variables_of_its_control(write_prompt, prompt_dir):
    write_prompt()
    write_prompt(variant="shouty", weight=1.0, required_variables=["name", "tone"])
    with pytest.raises(PromptError, match="a variant cannot change required_variables"):
        PromptRegistry(prompt_dir)


def test_variant_without_a_control_file_is_rejected(write_prompt, prompt_dir):
    write_prompt(variant="shouty", weight=1.0)
    with pytest.raises(PromptError, match=r"variant of test\.greet\.v1, which has no control file"):
        PromptRegistry(prompt_dir)


def test_sandbox_blocks_unsafe_attribute_access():
    environment = build_environment()
    for source in ("{{ ''.__class__ }}", "{{ ''.__class__.__mro__[1].__subclasses__() }}",
                   "{{ f.__globals__ }}"):
        with pytest.raises(SecurityError):
            environment.from_string(source).render(f=lambda: None)


def test_environment_is_strict_and_does_not_escape_html():
    environment = build_environment()
    with pytest.raises(jinja2.UndefinedError):
        environment.from_string("{{ missing }}").render()
    assert environment.from_string("{{ text }}").render(text="<p>A & B</p>") == "<p>A & B</p>"


def test_registry_turns_an_unsafe_template_into_a_prompt_error(write_prompt, prompt_dir):
    write_prompt(user="Greet {{ name.__class__ }}.")
    registry = PromptRegistry(prompt_dir)
    with pytest.raises(PromptError, match=r"test\.greet\.v1: cannot render: .*unsafe"):
        registry.render_prompt("test.greet", {"name": "Sara"})


def test_get_prompt_registry_is_process_wide_and_records_into_the_configured_database(monkeypatch, db_path):
    monkeypatch.setenv("DEALCAST_DB", db_path)
    get_settings.cache_clear()
    try:
        registry = get_prompt_registry()
        assert get_prompt_registry() is registry
        registry.record_outcome("reminder.sms", success=True)
        rows = get_store().cursor().execute("SELECT prompt_id, variant FROM prompt_outcomes").fetchall()
        assert rows == [("reminder.sms", "control")]
    finally:
        get_settings.cache_clear()


def test_render_accepts_the_seeds_variable_names_as_aliases(registry):
    facts = {"stage": "Approved", "days_in_stage": 12, "notes": ["Site not ready"]}
    seed = {"deal_title": "Lobby", "owner_name": "Omar", **facts}
    own = {"title": "Lobby", "owner": "Omar", **facts}
    render = registry.render_prompt
    assert render("deal.summarize.v1", seed) == render("deal.summarize.v1", own)
    with pytest.raises(PromptError, match="deal_title given under both names"):
        registry.render_prompt("deal.summarize.v1", {"deal_title": "Lobby", "title": "Lobby"})
