"""A/B variants: weighted deterministic assignment, recorded outcomes and the comparison report."""

from __future__ import annotations

from collections import Counter

import pytest

from core.prompts import PromptError, PromptRegistry


@pytest.fixture
def weighted(write_prompt, prompt_dir) -> PromptRegistry:
    """test.greet.v1 with a control of weight 3, a variant "short" of weight 1, and one switched off."""
    write_prompt(weight=3.0)
    write_prompt(variant="short", weight=1.0, user="Hi {{ name }}.")
    write_prompt(variant="off", weight=0.0, user="Hello there {{ name }}.")
    return PromptRegistry(prompt_dir)


def test_choose_variant_gives_a_key_the_same_variant_every_time(registry):
    fresh = PromptRegistry()
    first = [registry.choose_variant("deal.summarize", f"deal-{n}").variant for n in range(50)]
    again = [fresh.choose_variant("deal.summarize", f"deal-{n}").variant for n in range(50)]
    assert first == again
    assert set(first) == {"control", "concise"}


def test_choose_variant_shares_follow_the_weights(weighted):
    counts = Counter(weighted.choose_variant("test.greet", f"key-{n}").variant for n in range(4000))
    assert set(counts) == {"control", "short"}
    assert counts["control"] / 4000 == pytest.approx(0.75, abs=0.03)


def test_weight_zero_variant_is_never_drawn_but_can_be_pinned(weighted):
    assert weighted.get("test.greet.v1.off").variant == "off"
    assert weighted.choose_variant("test.greet.v1.off", "any key").variant == "off"
    assert weighted.render_prompt("test.greet.v1.off", {"name": "Sara"})[1] == "Hello there Sara."


def test_variant_inherits_everything_it_does_not_override(weighted):
    control, short = weighted.get("test.greet.v1"), weighted.get("test.greet.v1.short")
    assert (short.system, short.tier, short.output_model, short.required_variables) == (
        control.system, control.tier, control.output_model, control.required_variables)
    assert short.user != control.user


def test_render_prompt_with_assignment_key_renders_the_chosen_variant(weighted):
    for n in range(40):
        key = f"deal-{n}"
        chosen = weighted.choose_variant("test.greet", key)
        expected = "Greet Sara." if chosen.variant == "control" else "Hi Sara."
        assert weighted.render_prompt("test.greet", {"name": "Sara"}, assignment_key=key)[1] == expected


def test_record_outcome_writes_prompt_outcomes_in_the_store(store):
    registry = PromptRegistry(store=store)
    concise = registry.get("deal.summarize.v1.concise")
    registry.record_outcome(concise, assignment_key="4821", success=True, confidence=0.8,
                            total_tokens=410, cost_usd=0.0012, latency_ms=850.0)
    rows = store.cursor().execute(
        "SELECT prompt_id, version, variant, assignment_key, success, confidence, total_tokens, cost_usd, "
        "latency_ms FROM prompt_outcomes"
    ).fetchall()
    assert rows == [("deal.summarize", "v1", "concise", "4821", True, 0.8, 410, 0.0012, 850.0)]


def test_variant_report_compares_the_variants(store):
    registry = PromptRegistry(store=store)
    for confidence, tokens in ((0.9, 400), (0.7, 600)):
        registry.record_outcome("deal.summarize", success=True, confidence=confidence, total_tokens=tokens,
                                cost_usd=0.002, latency_ms=1000.0)
    registry.record_outcome("deal.summarize", variant="concise", success=False, latency_ms=3000.0)
    control, concise = registry.variant_report("deal.summarize")
    assert (control.variant, control.count, control.successes, control.success_rate) == ("control", 2, 2, 1.0)
    assert control.avg_confidence == pytest.approx(0.8)
    assert control.avg_total_tokens == pytest.approx(500)
    assert control.total_cost_usd == pytest.approx(0.004)
    assert (concise.variant, concise.weight, concise.count, concise.success_rate) == ("concise", 1.0, 1, 0.0)
    assert concise.avg_confidence is None
    assert concise.avg_latency_ms == pytest.approx(3000.0)


def test_variant_report_lists_loaded_variants_without_outcomes(registry):
    report = PromptRegistry().variant_report()
    assert {(s.prompt_id, s.variant) for s in report} == {(t.id, t.variant) for t in registry.list()}
    assert all(s.count == 0 and s.success_rate is None for s in report)


def test_variant_report_keeps_outcomes_of_variants_no_longer_loaded(store, weighted):
    PromptRegistry(store=store).record_outcome("deal.summarize", success=True)
    narrowed = PromptRegistry(weighted.prompts_dir, store=store).variant_report()
    retired = [s for s in narrowed if s.prompt_id == "deal.summarize"]
    assert [(s.variant, s.weight, s.count) for s in retired] == [("control", None, 1)]


def test_variant_report_narrows_to_a_pinned_version(write_prompt, prompt_dir, store):
    write_prompt(version="v1")
    write_prompt(version="v2")
    registry = PromptRegistry(prompt_dir, store=store)
    registry.record_outcome("test.greet.v1", success=True)
    registry.record_outcome("test.greet.v2", success=False)
    assert [(s.version, s.count) for s in registry.variant_report("test.greet")] == [("v1", 1), ("v2", 1)]
    assert [(s.version, s.successes) for s in registry.variant_report("test.greet.v1")] == [("v1", 1)]


def test_registry_without_a_store_keeps_outcomes_in_memory():
    registry = PromptRegistry()
    registry.record_outcome("reminder.sms", success=True, confidence=0.6)
    (sms,) = registry.variant_report("reminder.sms")
    assert (sms.count, sms.avg_confidence) == (1, 0.6)
    (fresh,) = PromptRegistry().variant_report("reminder.sms")
    assert fresh.count == 0


def test_record_outcome_for_an_unknown_variant_names_the_known_ones(registry):
    expected = r"deal\.summarize\.v1 has no variant 'verbose' \(it has control, concise\)"
    with pytest.raises(PromptError, match=expected):
        registry.record_outcome("deal.summarize", variant="verbose", success=True)
