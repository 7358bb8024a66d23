"""Helpers for the prompt tests: the shipped registry, and small prompt folders written on the fly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.prompts import PromptRegistry


@pytest.fixture(scope="session")
def registry() -> PromptRegistry:
    """The shipped prompts (loading is read-only, so one registry serves the session)."""
    return PromptRegistry()


def toml_value(value: Any) -> str:
    """A TOML literal for strings, numbers, booleans and lists of them (JSON escapes are TOML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _write_prompt(folder: Path, file_name: str | None = None, **fields: Any) -> Path:
    """Write one prompt file: a minimal valid prompt with one variable, updated with ``fields``.

    A variant (``variant=...``) starts from the id and version only, as variant files do.
    """
    values: dict[str, Any] = {"id": "test.greet", "version": "v1"} if "variant" in fields else {
        "id": "test.greet",
        "version": "v1",
        "description": "Greet someone.",
        "tier": "fast",
        "temperature": 0.2,
        "max_tokens": 50,
        "output_model": "SmsReminder",
        "required_variables": ["name"],
        "system": "Write an SMS.",
        "user": "Greet {{ name }}.",
    }
    values.update(fields)
    values = {key: value for key, value in values.items() if value is not None}
    variant = values.get("variant")
    default_name = f"{values.get('id')}.{values.get('version')}" + (f".{variant}" if variant else "")
    path = folder / (file_name or f"{default_name}.toml")
    path.write_text("\n".join(f"{key} = {toml_value(value)}" for key, value in values.items()) + "\n")
    return path


@pytest.fixture
def prompt_dir(tmp_path) -> Path:
    """An empty prompt folder of the test's own."""
    folder = tmp_path / "prompts"
    folder.mkdir()
    return folder


@pytest.fixture
def write_prompt(prompt_dir):
    """``write_prompt(file_name=None, **fields)`` writes one prompt file into ``prompt_dir``."""

    def write(file_name: str | None = None, **fields: Any) -> Path:
        return _write_prompt(prompt_dir, file_name, **fields)

    return write
