"""The prompt registry as the Prompts page shows it: a table of versions, preview variables, A/B report.

Preview variables are the prompt file's ``[sample]`` table; a prompt without one gets a
placeholder for each required variable, so the preview always renders something the
user can then edit. Variables travel as JSON text (the page's editor), read back by
``parse_variables`` with an error that names the line and column.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from core.errors import InputError
from core.prompts import PromptRegistry, PromptTemplate


def prompt_table(registry: PromptRegistry) -> pd.DataFrame:
    """One row per prompt version and A/B variant, control first."""
    return pd.DataFrame([
        {
            "prompt": template.pinned_id,
            "id": template.id,
            "version": template.version,
            "variant": template.variant,
            "weight": template.weight,
            "tier": template.tier,
            "temperature": template.temperature,
            "max_tokens": template.max_tokens,
            "output_model": template.output_model,
            "required_variables": ", ".join(template.required_variables),
            "optional_variables": ", ".join(template.optional_variables),
            "description": template.description,
        }
        for template in registry.list()
    ])


def preview_variables(template: PromptTemplate) -> dict[str, Any]:
    """The file's sample variables, else a ``<name>`` placeholder for each required one."""
    if template.sample:
        return dict(template.sample)
    return {name: f"<{name}>" for name in template.required_variables}


def variables_json(variables: dict[str, Any]) -> str:
    """Variables as indented JSON for an editor (dates as ISO text)."""
    return json.dumps(variables, indent=2, ensure_ascii=False, default=str)


def parse_variables(text: str) -> dict[str, Any]:
    """JSON text back to variables; raises InputError naming the line and column of a mistake."""
    try:
        values = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise InputError(f"The variables are not valid JSON: {exc.msg} at line {exc.lineno}, "
                         f"column {exc.colno}.") from None
    if not isinstance(values, dict):
        raise InputError("The variables must be a JSON object: {\"name\": value, ...}.")
    return values


def variant_table(registry: PromptRegistry, prompt_id: str) -> pd.DataFrame:
    """Recorded outcomes per version and variant of ``prompt_id`` (every version of its bare id)."""
    bare = registry.get(prompt_id).id
    return pd.DataFrame([summary.model_dump() for summary in registry.variant_report(bare)])
