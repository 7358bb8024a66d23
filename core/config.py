"""Settings from the environment (prefix ``DEALCAST_``) and their defaults.

Each field of ``Settings`` is one setting with its default and help text; ``SETTINGS``
lists them as data for the command line's help and the README's settings table, so
adding a setting is adding one field. ``get_settings()`` returns the process-wide
instance; tests build their own with ``Settings.from_env(env)`` or ``Settings(...)``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
SAMPLE_DIR = DATA_DIR / "sample"
PROMPTS_DIR = PROJECT_ROOT / "prompts"

ENV_PREFIX = "DEALCAST_"


def _setting(default: object, help: str, *, fallback_env: tuple[str, ...] = (), secret: bool = False):
    return dataclasses.field(
        default=default,
        repr=not secret,
        metadata={"help": help, "fallback_env": fallback_env, "secret": secret},
    )


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Secrets never appear in the repr."""

    db: str = _setting(
        str(DATA_DIR / "dealcast.duckdb"),
        "DuckDB connection string: a file path, ':memory:' or 'md:<database>' for MotherDuck.",
    )
    base_currency: str = _setting("SAR", "Currency every deal value is converted to for totals.")
    max_upload_mb: int = _setting(200, "Largest file an upload or `ingest` accepts, in megabytes.")
    llm_base_url: str = _setting(
        "https://openrouter.ai/api/v1",
        "OpenAI-compatible API root; the client posts to {base_url}/chat/completions.",
    )
    llm_api_key: str = _setting(
        "", "API key for the LLM server; never logged or shown.",
        fallback_env=("OPENROUTER_API_KEY", "OPENAI_API_KEY"), secret=True,
    )
    llm_model_fast: str = _setting("openai/gpt-4o-mini", "Model id for the fast tier.")
    llm_model_balanced: str = _setting("openai/gpt-4o-mini", "Model id for the balanced tier.")
    llm_model_advanced: str = _setting("openai/gpt-4o", "Model id for the advanced tier.")
    llm_connect_timeout: float = _setting(5.0, "Seconds to establish a connection to the LLM server.")
    llm_timeout: float = _setting(60.0, "Seconds for a whole LLM request.")
    llm_max_retries: int = _setting(3, "Retries after the first attempt on retryable LLM failures.")
    llm_max_concurrency: int = _setting(5, "LLM requests in flight at once.")
    llm_requests_per_minute: int = _setting(0, "Requests per minute cap; 0 means no cap.")
    llm_cache_ttl_seconds: int = _setting(7 * 24 * 3600, "Seconds a cached LLM response is reused.")
    llm_cache_max_rows: int = _setting(
        50_000, "Most cached LLM responses kept; past it the least recently used go (expired ones always)."
    )
    llm_forecast_policy: str = _setting(
        "unknown_and_stuck",
        "Deals `forecast --llm on` asks the LLM about: all, unknown (stages), stuck or unknown_and_stuck.",
    )
    llm_forecast_batch_size: int = _setting(10, "Deals per LLM request in the forecast's LLM path.")
    llm_forecast_in_flight: int = _setting(5, "LLM requests the forecast keeps in flight at once.")
    db_lock_timeout: float = _setting(
        30.0,
        "Seconds a unit of work waits for another process (dashboard, API, CLI) to let go of the "
        "DuckDB file before it fails with a clear message.",
    )
    api_host: str = _setting("127.0.0.1", "Address `python -m core serve` listens on.")
    api_port: int = _setting(8000, "Port `python -m core serve` listens on.")
    api_tokens: str = _setting(
        "",
        "Comma-separated bearer tokens the HTTP API accepts; never logged. Without any, the API "
        "serves loopback only and asks for no token.",
        secret=True,
    )
    metrics_port: int = _setting(
        0, "Port on which the dashboard process serves Prometheus /metrics; 0 means not served."
    )
    log_format: str = _setting(
        "auto", "Log events as `json` or `console`; `auto`: json unless stderr is a terminal."
    )
    allowed_emails: str = _setting(
        "",
        "With login on ([auth] in .streamlit/secrets.toml): comma-separated emails that may use the "
        "dashboard. Anyone signed in but not listed here or in DEALCAST_ALLOWED_DOMAINS is refused.",
    )
    allowed_domains: str = _setting(
        "", "With login on: comma-separated email domains (example.com) whose users may use the dashboard."
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from ``env`` (default: ``os.environ``); unset ones keep defaults."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            for key in (ENV_PREFIX + field.name.upper(), *field.metadata["fallback_env"]):
                raw = env.get(key)
                if raw not in (None, ""):
                    values[field.name] = _coerce(key, raw, type(field.default))
                    break
        return cls(**values)  # type: ignore[arg-type]

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def api_token_list(self) -> tuple[str, ...]:
        """The API's bearer tokens, blanks dropped."""
        return tuple(token.strip() for token in self.api_tokens.split(",") if token.strip())


def _coerce(key: str, raw: str, kind: type) -> object:
    """Turn an environment string into the type of the setting's default."""
    try:
        return kind(raw) if kind in (int, float) else raw
    except ValueError as exc:
        raise ValueError(f"{key}={raw!r} is not a valid {kind.__name__}") from exc


@dataclass(frozen=True)
class SettingInfo:
    """A setting described as data: environment variable, default and help."""

    name: str
    env: str
    default: object
    help: str


SETTINGS: tuple[SettingInfo, ...] = tuple(
    SettingInfo(f.name, ENV_PREFIX + f.name.upper(), f.default, f.metadata["help"])
    for f in dataclasses.fields(Settings)
)


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings.from_env()
