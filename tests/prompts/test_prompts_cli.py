"""``python -m core prompts``: list, show, render and report, with their exit statuses."""

from __future__ import annotations

import json

import pytest

from core.cli import main
from core.prompts import PromptRegistry


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["prompts", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_prompts_list_prints_every_version_and_variant(capsys, registry):
    status, out, _ = run(capsys, "list")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ID", "TIER", "TEMP"]
    assert [line.split()[0] for line in lines[1:]] == [t.pinned_id for t in registry.list()]
    assert "reminder.sms.v1                  fast      0.6   120         SmsReminder" in out


def test_prompts_list_json_gives_settings_per_prompt(capsys):
    status, out, _ = run(capsys, "list", "--json")
    assert status == 0
    by_id = {entry["pinned_id"]: entry for entry in json.loads(out)}
    assert len(by_id) == 11
    assert by_id["cashflow.predict_dates.v1"] | {"path": None} == {
        "pinned_id": "cashflow.predict_dates.v1", "id": "cashflow.predict_dates", "version": "v1",
        "variant": "control", "tier": "advanced", "temperature": 0.3, "max_tokens": 4000,
        "output_model": "DatePredictions", "weight": 1.0, "path": None,
        "description": "Predict invoice and payment dates for a batch of deals the rules engine "
                       "cannot settle.",
    }


def test_prompts_show_prints_settings_variables_and_templates(capsys):
    status, out, _ = run(capsys, "show", "reminder.sms")
    assert status == 0
    assert out.startswith("reminder.sms.v1: Draft one SMS reminder about a deal, at most 160 characters.\n")
    assert "required variables: deal_title\n" in out
    assert '  urgency = "medium"\n' in out
    assert "--- system template ---\nYou write SMS reminders" in out
    assert "--- user template ---\nWrite the SMS." in out


def test_prompts_show_json_includes_templates_defaults_and_sample(capsys):
    status, out, _ = run(capsys, "show", "deal.summarize.v1.concise", "--json")
    shown = json.loads(out)
    assert status == 0
    assert shown["variant"] == "concise"
    assert shown["system"].startswith("Summarise one CRM deal")
    assert shown["defaults"]["max_notes"] == 10
    assert shown["sample"]["title"] == "Fit-out of Riyadh HQ, floors 3-5"


def test_prompts_render_prints_system_and_user_prompt(capsys):
    variables = '{"deal_title": "Riyadh HQ", "urgency": "high"}'
    status, out, _ = run(capsys, "render", "reminder.sms", "--vars", variables)
    assert status == 0
    assert out.startswith("=== system (reminder.sms.v1) ===\nYou write SMS reminders")
    assert "- Urgency is high: start with what is needed and by when." in out
    assert "\n=== user ===\nWrite the SMS.\n\n<deal>\nDeal: Riyadh HQ\n</deal>\n" in out


def test_prompts_render_layers_sample_then_file_then_vars(capsys, tmp_path):
    variables = tmp_path / "vars.json"
    variables.write_text(json.dumps({"language": "ar", "tone": "firm"}), encoding="utf-8")
    status, out, _ = run(capsys, "render", "deal.summarize", "--sample", "--vars-file", str(variables),
                         "--vars", '{"tone": "friendly"}', "--json")
    rendered = json.loads(out)
    assert status == 0
    assert rendered["id"] == "deal.summarize.v1"
    assert "Arabic" in rendered["system"] and "Use a friendly tone." in rendered["system"]
    assert "Title: Fit-out of Riyadh HQ, floors 3-5" in rendered["user"]


def test_prompts_render_with_a_key_renders_the_assigned_variant(capsys, registry):
    key = next(f"deal-{n}" for n in range(100)
               if registry.choose_variant("deal.summarize", f"deal-{n}").variant == "concise")
    status, out, _ = run(capsys, "render", "deal.summarize", "--sample", "--key", key)
    assert status == 0
    assert out.startswith("=== system (deal.summarize.v1.concise) ===\nSummarise one CRM deal")


@pytest.mark.parametrize(("argv", "message"), [
    (["render", "reminder.sms", "--vars", '{"language": "ar"}'],
     "error: reminder.sms.v1: missing required variable(s) deal_title\n"),
    (["render", "reminder.sms", "--vars", "{deal_title: 1}"],
     "error: --vars is not valid JSON: Expecting property name enclosed in double quotes "
     "(line 1, column 2)\n"),
    (["render", "reminder.sms", "--vars", '["deal_title"]'],
     "error: --vars must be a JSON object of variable names to values, not list\n"),
    (["render", "reminder.sms", "--vars-file", "/nonexistent/vars.json"],
     "error: --vars-file /nonexistent/vars.json: cannot read it: No such file or directory\n"),
    (["render", "reminder.sms", "--vars", '{"deal_title": "x", "colour": "red"}'],
     "error: reminder.sms.v1: unknown variable(s) colour; it takes deal_title, deal_id, stage, context, "
     "due_date, urgency, recipient_role, recipient_name, sender_name, tone, max_length, language, "
     "constraints\n"),
    (["show", "deal.nothing"], "error: No prompt 'deal.nothing'. Known prompts: cashflow.predict_dates, "),
])
def test_prompts_bad_input_exits_2_with_the_reason(capsys, argv, message):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert err.startswith(message)


def test_prompts_report_reads_outcomes_from_the_database(capsys, db_path):
    from core.store import Store

    with Store(db_path) as store:
        registry = PromptRegistry(store=store)
        registry.record_outcome("deal.summarize", success=True, confidence=0.9, total_tokens=400,
                                cost_usd=0.002, latency_ms=1200.0)
        registry.record_outcome("deal.summarize.v1.concise", success=False)
    status, out, _ = run(capsys, "report", "deal.summarize", "--db", db_path)
    assert status == 0
    assert out.splitlines() == [
        "PROMPT             VARIANT  WEIGHT  COUNT  SUCCESS  AVG CONF  AVG TOKENS  COST     AVG LATENCY",
        "deal.summarize.v1  control  1       1      100%     0.90      400         $0.0020  1200 ms",
        "deal.summarize.v1  concise  1       1      0%       -         -           -        -",
    ]
    status, out, _ = run(capsys, "report", "--db", db_path, "--json")
    counts = {(row["prompt_id"], row["variant"]): row["count"] for row in json.loads(out)}
    assert counts[("deal.summarize", "concise")] == 1 and counts[("reminder.sms", "control")] == 0


@pytest.mark.parametrize("action", ["list", "show", "render", "report"])
def test_prompts_help_has_an_example(capsys, action):
    with pytest.raises(SystemExit) as exited:
        main(["prompts", action, "--help"])
    assert exited.value.code == 0
    assert f"python -m core prompts {action}" in capsys.readouterr().out
