"""Prompts: versioned templates from ``prompts/*.toml``, rendered safely, with A/B variants.

The package, one concept per module:

- ``registry``: ``PromptRegistry`` loads and checks every prompt file, renders, picks A/B
  variants; ``get_prompt_registry()`` is the process-wide one.
- ``filters``: the Jinja filters and the one sandboxed environment templates compile in.
- ``outputs``: the Pydantic models each prompt asks the LLM to fill.
- ``outcomes``: A/B outcomes in the store, the only module here that touches the database.
- ``catalog``: tables and preview variables as the Prompts page and CLI show them (pandas,
  so it is imported by its users, not here).

The names below are re-exported so ``from core.prompts import PromptRegistry`` keeps working.
"""

from core.prompts.filters import (
    FILTERS,
    LANGUAGE_NAMES,
    build_environment,
    compact_json,
    fact_lines,
    language_instruction,
    money,
    note_lines,
    untrusted,
)
from core.prompts.outcomes import VariantSummary
from core.prompts.registry import (
    CONTROL,
    VARIANT_OVERRIDES,
    PromptConfig,
    PromptError,
    PromptNotFoundError,
    PromptRegistry,
    PromptTemplate,
    Tier,
    get_prompt_registry,
)

__all__ = [
    "CONTROL",
    "FILTERS",
    "LANGUAGE_NAMES",
    "VARIANT_OVERRIDES",
    "PromptConfig",
    "PromptError",
    "PromptNotFoundError",
    "PromptRegistry",
    "PromptTemplate",
    "Tier",
    "VariantSummary",
    "build_environment",
    "compact_json",
    "fact_lines",
    "get_prompt_registry",
    "language_instruction",
    "money",
    "note_lines",
    "untrusted",
]
