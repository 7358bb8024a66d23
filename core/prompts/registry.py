"""The prompt registry: versioned prompt templates from ``prompts/*.toml``, rendered safely.

One TOML file holds one prompt version (``prompts/deal.summarize.v1.toml``): its id and
version, model tier, temperature, max tokens, the variables it takes (required, optional
with defaults), sample variables for previews, the output model it asks for (a class in
``core.prompts.outputs``) and the system and user templates. An A/B variant is a second file
(``deal.summarize.v1.concise.toml``) naming the same id and version plus ``variant`` and
``weight``, and overriding only what it changes. prompts/README.md documents the format.

Lookups: ``get("deal.summarize")`` is the latest version's control, ``get("deal.summarize.v1")``
that version's control, ``get("deal.summarize.v1.concise")`` one variant.

Rendering uses one sandboxed Jinja2 environment (``build_environment``): StrictUndefined,
no autoescaping (prompts are not HTML), trimmed block lines. Deal notes and other CRM text
are untrusted: templates put them inside delimited data blocks (``<deal_notes>...``) through
filters that neutralise anything shaped like a tag, so a note cannot close its block and
speak as instructions. Every template must use exactly the variables its file declares;
the loader refuses a file that does not.

A/B variants: ``choose_variant(prompt_id, key)`` picks a variant by weight, deterministically
from a hash of the prompt version and the key (a deal id keeps its variant across runs).
``record_outcome`` stores results in the store's ``prompt_outcomes`` table; a registry without
a store keeps them in a private in-memory DuckDB, so ``variant_report`` is the same SQL.

Errors: ``PromptError`` (an ``InputError``, CLI exit 2) for bad variables and bad prompt
files; ``PromptNotFoundError`` (a ``PromptError`` and a ``NotFoundError``) for unknown ids.
"""

from __future__ import annotations

import functools
import hashlib
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import jinja2
from jinja2 import meta
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.config import PROMPTS_DIR, get_settings
from core.errors import InputError, NotFoundError, validation_problems
from core.prompts import outputs
from core.prompts.filters import build_environment
from core.prompts.outcomes import OutcomeLog, VariantSummary
from core.store import Store, get_store

CONTROL = "control"
Tier = Literal["fast", "balanced", "advanced"]

#: What a variant file may change; variables, defaults, samples and the output model are shared.
VARIANT_OVERRIDES = frozenset({"description", "tier", "temperature", "max_tokens", "system", "user"})

_NAME = r"[a-z][a-z0-9_]*"
_ID_PATTERN = re.compile(rf"^{_NAME}(\.{_NAME})+$")
_VERSION_PATTERN = re.compile(r"^v(\d+)$")
_VARIANT_PATTERN = re.compile(rf"^{_NAME}$")


class PromptError(InputError):
    """Raised for a prompt file that cannot be used, or variables that do not fit a prompt."""


class PromptNotFoundError(PromptError, NotFoundError):
    """Raised when no prompt has the requested id, version or variant."""




class PromptConfig(BaseModel):
    """How to call the model with a prompt: tier, sampling and the output it must produce."""

    id: str
    version: str
    variant: str = CONTROL
    tier: Tier
    temperature: float
    max_tokens: int
    output_model: str

    @property
    def pinned_id(self) -> str:
        return _pinned_id(self.id, self.version, self.variant)


def _pinned_id(prompt_id: str, version: str, variant: str) -> str:
    base = f"{prompt_id}.{version}"
    return base if variant == CONTROL else f"{base}.{variant}"


class PromptTemplate(BaseModel):
    """One prompt version (or A/B variant) as loaded from its TOML file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_ID_PATTERN.pattern)
    version: str = Field(pattern=_VERSION_PATTERN.pattern)
    variant: str = Field(default=CONTROL, pattern=_VARIANT_PATTERN.pattern)
    weight: float = Field(default=1.0, ge=0.0)
    description: str = Field(min_length=1)
    tier: Tier
    temperature: float = Field(ge=0.0, le=2.0)
    max_tokens: int = Field(gt=0)
    required_variables: tuple[str, ...]
    optional_variables: tuple[str, ...] = ()
    defaults: dict[str, Any] = Field(default_factory=dict)
    #: Other names a caller may give a variable (e.g. the seed's ``deal_title`` for ``title``).
    aliases: dict[str, str] = Field(default_factory=dict)
    sample: dict[str, Any] = Field(default_factory=dict)
    output_model: str
    system: str = Field(min_length=1)
    user: str = Field(min_length=1)
    path: Path | None = None

    @field_validator("output_model")
    @classmethod
    def _known_output_model(cls, name: str) -> str:
        if name not in outputs.OUTPUT_MODELS:
            raise ValueError(f"{name!r} is not a class in core.prompts.outputs "
                             f"({', '.join(outputs.OUTPUT_MODELS)})")
        return name

    @model_validator(mode="after")
    def _aliases_name_variables(self) -> PromptTemplate:
        for alias, name in self.aliases.items():
            if name not in self.variables or alias in self.variables:
                raise ValueError(f"alias {alias!r} must name a variable ({name!r} is not one) "
                                 "and must not be a variable itself")
        return self

    @property
    def pinned_id(self) -> str:
        """``deal.summarize.v1`` for a control, ``deal.summarize.v1.concise`` for a variant."""
        return _pinned_id(self.id, self.version, self.variant)

    @property
    def version_number(self) -> int:
        return int(self.version[1:])

    @property
    def variables(self) -> tuple[str, ...]:
        return self.required_variables + self.optional_variables

    @property
    def config(self) -> PromptConfig:
        return PromptConfig(
            id=self.id, version=self.version, variant=self.variant, tier=self.tier,
            temperature=self.temperature, max_tokens=self.max_tokens, output_model=self.output_model,
        )


def _variant_order(prompt_id: str, version: str, variant: str) -> tuple[str, int, bool, str]:
    """Sort key: by id, version number (v2 before v10), control first, then variant name."""
    number = _VERSION_PATTERN.match(version)
    return prompt_id, int(number[1]) if number else -1, variant != CONTROL, variant


class PromptRegistry:
    """Every prompt version and variant under ``prompts_dir``, loaded and checked at once."""

    def __init__(self, prompts_dir: Path | str = PROMPTS_DIR, *, store: Store | None = None) -> None:
        self.prompts_dir = Path(prompts_dir)
        self.environment = build_environment()
        self._outcomes = OutcomeLog(store)
        self._templates: dict[str, PromptTemplate] = {}  # by pinned id
        self._latest: dict[str, PromptTemplate] = {}  # bare id -> control of the highest version
        self._compiled: dict[str, tuple[jinja2.Template, jinja2.Template]] = {}
        self._load()

    # -- loading ---------------------------------------------------------------------

    def _load(self) -> None:
        if not self.prompts_dir.is_dir():
            raise PromptError(f"Prompt folder {self.prompts_dir} does not exist.")
        files = [(path, _read_toml(path)) for path in sorted(self.prompts_dir.glob("*.toml"))]
        for path, data in sorted(files, key=lambda pair: "variant" in pair[1]):
            template = self._template_from(path, data)
            if path.name != f"{template.pinned_id}.toml":
                raise PromptError(f"{path}: a file holding {template.pinned_id} must be named "
                                  f"{template.pinned_id}.toml")
            self._compiled[template.pinned_id] = self._compile(template)
            self._templates[template.pinned_id] = template
        self._latest = {
            template.id: template
            for template in sorted(self._templates.values(), key=lambda t: t.version_number)
            if template.variant == CONTROL
        }

    def _template_from(self, path: Path, data: dict[str, Any]) -> PromptTemplate:
        fields: dict[str, Any] = {**data, "path": path}
        if "variant" in data:
            control = self._templates.get(f"{data.get('id')}.{data.get('version')}")
            if control is None:
                raise PromptError(f"{path}: variant of {data.get('id')}.{data.get('version')}, "
                                  "which has no control file")
            shared = set(data) - VARIANT_OVERRIDES - {"id", "version", "variant", "weight"}
            if shared:
                raise PromptError(f"{path}: a variant cannot change {', '.join(sorted(shared))}; "
                                  f"it may change {', '.join(sorted(VARIANT_OVERRIDES))}")
            fields = {**control.model_dump(exclude={"variant", "weight", "path"}), **fields}
        try:
            return PromptTemplate.model_validate(fields)
        except ValidationError as exc:
            problems = "; ".join(validation_problems(exc, "file"))
            raise PromptError(f"{path}: {problems}") from None

    def _compile(self, template: PromptTemplate) -> tuple[jinja2.Template, jinja2.Template]:
        """Compile both templates, checking they use exactly the declared variables."""
        where = template.path or template.pinned_id
        declared = set(template.variables)
        if len(declared) != len(template.variables):
            raise PromptError(f"{where}: a variable is declared twice (required and optional?)")
        for label, names in (("defaults", template.defaults), ("sample", template.sample)):
            unknown = sorted(set(names) - declared)
            if unknown:
                raise PromptError(f"{where}: [{label}] names undeclared variable(s) {', '.join(unknown)}")
        compiled, used = [], set()
        for part in ("system", "user"):
            source = getattr(template, part)
            try:
                tree = self.environment.parse(source)
                used |= meta.find_undeclared_variables(tree)
                compiled.append(self.environment.from_string(tree))
            except jinja2.TemplateSyntaxError as exc:
                raise PromptError(f"{where}: {part} template, line {exc.lineno}: {exc.message}") from None
        if used != declared:
            problems = []
            if used - declared:
                problems.append(f"use undeclared variable(s) {', '.join(sorted(used - declared))}")
            if declared - used:
                problems.append(f"declare unused variable(s) {', '.join(sorted(declared - used))}")
            raise PromptError(f"{where}: the templates {' and '.join(problems)}")
        return compiled[0], compiled[1]

    # -- lookups ---------------------------------------------------------------------

    def get(self, prompt_id: str) -> PromptTemplate:
        """The latest control for a bare id, else the pinned version or variant.

        ``deal.summarize`` -> latest version; ``deal.summarize.v1`` -> v1's control;
        ``deal.summarize.v1.concise`` -> that variant. Raises PromptNotFoundError.
        """
        if prompt_id in self._latest:
            return self._latest[prompt_id]
        if prompt_id in self._templates:
            return self._templates[prompt_id]
        known = ", ".join(sorted(self._latest))
        raise PromptNotFoundError(f"No prompt {prompt_id!r}. Known prompts: {known}.")

    def list(self) -> list[PromptTemplate]:
        """Every version and variant, by id, version number and variant (control first)."""
        return sorted(self._templates.values(), key=lambda t: _variant_order(t.id, t.version, t.variant))

    def variants(self, prompt_id: str) -> list[PromptTemplate]:
        """The control and every variant of the version ``prompt_id`` resolves to."""
        chosen = self.get(prompt_id)
        return [t for t in self.list() if (t.id, t.version) == (chosen.id, chosen.version)]

    def _resolve(self, template_or_id: PromptTemplate | str) -> PromptTemplate:
        return template_or_id if isinstance(template_or_id, PromptTemplate) else self.get(template_or_id)

    def get_prompt_config(self, prompt_id: PromptTemplate | str) -> PromptConfig:
        return self._resolve(prompt_id).config

    def output_model(self, prompt_id: PromptTemplate | str) -> type[BaseModel]:
        """The ``core.prompts.outputs`` class the prompt asks the model to produce."""
        return outputs.OUTPUT_MODELS[self._resolve(prompt_id).output_model]

    # -- rendering -------------------------------------------------------------------

    def render_prompt(
        self,
        prompt_id: PromptTemplate | str,
        variables: Mapping[str, Any],
        *,
        assignment_key: str | None = None,
    ) -> tuple[str, str]:
        """Render ``(system_prompt, user_prompt)``.

        With ``assignment_key`` the A/B variant is chosen by ``choose_variant``. Optional
        variables left out (or None) take their defaults. Raises PromptError naming every
        missing or None required variable, and every variable the prompt does not declare.
        """
        if assignment_key is not None:
            template = self.choose_variant(prompt_id, assignment_key)
        else:
            template = self._resolve(prompt_id)
        values = self._values(template, variables)
        system, user = self._compiled[template.pinned_id]
        try:
            return system.render(values).strip(), user.render(values).strip()
        except (jinja2.TemplateError, TypeError, ValueError) as exc:
            # A variable of the wrong kind (text where a number is compared) is bad input too.
            raise PromptError(f"{template.pinned_id}: cannot render: {exc}") from exc

    def render_sample(self, prompt_id: PromptTemplate | str) -> tuple[str, str]:
        """Render a prompt with the sample variables of its file (for previews)."""
        template = self._resolve(prompt_id)
        return self.render_prompt(template, template.sample)

    @staticmethod
    def _values(template: PromptTemplate, variables: Mapping[str, Any]) -> dict[str, Any]:
        doubled = sorted(a for a, name in template.aliases.items() if a in variables and name in variables)
        if doubled:
            raise PromptError(f"{template.pinned_id}: {', '.join(doubled)} given under both names")
        variables = {template.aliases.get(name, name): value for name, value in variables.items()}
        unknown = sorted(set(variables) - set(template.variables))
        if unknown:
            raise PromptError(
                f"{template.pinned_id}: unknown variable(s) {', '.join(unknown)}; "
                f"it takes {', '.join(template.variables)}"
            )
        missing = [name for name in template.required_variables if variables.get(name) is None]
        if missing:
            raise PromptError(f"{template.pinned_id}: missing required variable(s) {', '.join(missing)}")
        values = {name: template.defaults.get(name) for name in template.optional_variables}
        values.update({name: value for name, value in variables.items() if value is not None})
        return values

    # -- A/B variants ----------------------------------------------------------------

    def choose_variant(self, prompt_id: str, key: str) -> PromptTemplate:
        """The variant ``key`` is assigned to, by weight; the same key always gets the same one.

        An id that pins a variant (``deal.summarize.v1.concise``) returns that variant.
        """
        chosen = self.get(prompt_id)
        if chosen.variant != CONTROL:
            return chosen
        group = [t for t in self.variants(prompt_id) if t.weight > 0]
        total = sum(t.weight for t in group)
        if not group:
            return chosen
        digest = hashlib.sha256(f"{chosen.id}.{chosen.version}\n{key}".encode()).digest()
        point = int.from_bytes(digest[:8], "big") / 2**64 * total
        for template in group:
            point -= template.weight
            if point < 0:
                return template
        return group[-1]

    def record_outcome(
        self,
        template_or_id: PromptTemplate | str,
        *,
        variant: str | None = None,
        assignment_key: str | None = None,
        success: bool,
        confidence: float | None = None,
        total_tokens: int | None = None,
        cost_usd: float | None = None,
        latency_ms: float | None = None,
    ) -> None:
        """Store one result of a prompt variant (``variant`` overrides the template's own)."""
        template = self._resolve(template_or_id)
        variant = variant or template.variant
        known = [t.variant for t in self.variants(template.pinned_id)]
        if variant not in known:
            raise PromptError(f"{template.id}.{template.version} has no variant {variant!r} "
                              f"(it has {', '.join(known)})")
        self._outcomes.record(
            (template.id, template.version, variant), assignment_key=assignment_key, success=success,
            confidence=confidence, total_tokens=total_tokens, cost_usd=cost_usd, latency_ms=latency_ms,
        )

    def variant_report(self, prompt_id: str | None = None) -> list[VariantSummary]:
        """Outcomes per variant; loaded variants without outcomes are listed with count 0.

        ``prompt_id`` narrows the report: a bare id to all its versions, a pinned id to one.
        """
        templates = self.list()
        version = None
        if prompt_id is not None:
            chosen = self.get(prompt_id)
            version = None if prompt_id == chosen.id else chosen.version
            templates = [t for t in templates
                         if t.id == chosen.id and (version is None or t.version == version)]
            prompt_id = chosen.id
        weights = {(t.id, t.version, t.variant): t.weight for t in templates}
        summaries = self._outcomes.summaries(prompt_id, version, weights)
        return [summaries[key] for key in sorted(summaries, key=lambda key: _variant_order(*key))]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PromptError(f"{path}: not a readable TOML file: {exc}") from None


@functools.cache
def _registry_for(database: str) -> PromptRegistry:
    """One registry per configured database (the key), as ``get_store`` has one store per database."""
    return PromptRegistry(PROMPTS_DIR, store=get_store())


def get_prompt_registry() -> PromptRegistry:
    """The process-wide registry over ``prompts/``, recording outcomes in the configured store."""
    return _registry_for(get_settings().db)
