"""Small value objects for the client's knobs: timeouts, retries, model tiers.

Defaults are module constants so callers and docs can name them. Both objects are frozen
and keyword-only, with readable reprs; neither ever holds a secret.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
#: Hosted APIs that refuse every request without a key: no key there means "LLM off".
KEY_REQUIRED_HOSTS = ("openrouter.ai", "api.openai.com")
TIERS = ("fast", "balanced", "advanced")

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_TOTAL_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_INITIAL_BACKOFF = 0.5
DEFAULT_MAX_BACKOFF = 8.0
#: A backoff wait is shortened by up to this fraction at random, so clients retrying after
#: the same outage do not arrive together.
DEFAULT_JITTER = 0.25
#: The longest server-requested wait obeyed; a server asking for longer is waited on this long.
MAX_RETRY_AFTER = 120.0
#: 408 Request Timeout, 409 Conflict (lock contention), 429 Too Many Requests; plus every 5xx.
RETRYABLE_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True)
class LLMTimeout:
    """Seconds allowed per phase of one attempt.

    ``total`` bounds a whole non-streaming attempt (send, wait, read the body). ``read``,
    ``write`` and ``pool`` default to ``total``; for a stream, ``read`` is the longest
    silence between two chunks, since a stream has no overall deadline.
    """

    total: float = DEFAULT_TOTAL_TIMEOUT
    connect: float = DEFAULT_CONNECT_TIMEOUT
    read: float | None = None
    write: float | None = None
    pool: float | None = None

    def __post_init__(self) -> None:
        for name in ("total", "connect", "read", "write", "pool"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"LLMTimeout.{name} must be a positive number of seconds, not {value!r}")

    def as_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(
            connect=self.connect,
            read=self.read or self.total,
            write=self.write or self.total,
            pool=self.pool or self.total,
        )


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before trying a failed request again.

    Retries happen on connection errors, timeouts, 408, 409, 429 and 5xx, never on other
    4xx; a server's ``x-should-retry`` header overrides that choice. The wait before retry
    ``n`` (1-based) is ``initial_backoff * 2**(n-1)`` capped at ``max_backoff``, shortened by
    up to ``jitter`` at random, unless the server said how long to wait (``retry-after-ms``
    or ``Retry-After``), which wins, capped at ``max_retry_after``.
    """

    max_retries: int = DEFAULT_MAX_RETRIES
    initial_backoff: float = DEFAULT_INITIAL_BACKOFF
    max_backoff: float = DEFAULT_MAX_BACKOFF
    jitter: float = DEFAULT_JITTER
    max_retry_after: float = MAX_RETRY_AFTER
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"RetryPolicy.max_retries must be 0 or more, not {self.max_retries}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"RetryPolicy.jitter must be within 0..1, not {self.jitter}")

    def backoff(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1 for the first retry)."""
        base = min(self.initial_backoff * 2 ** (retry_number - 1), self.max_backoff)
        return base * (1 - self.jitter * self.random())

    def wait(self, retry_number: int, retry_after: float | None) -> float:
        """The wait before a retry: the server's request when it made one, else the backoff."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return self.backoff(retry_number)


def status_is_retryable(status_code: int) -> bool:
    return status_code in RETRYABLE_STATUSES or status_code >= 500


def should_retry_header(headers: httpx.Headers) -> bool | None:
    """The server's own verdict from ``x-should-retry: true|false``, or None when it gave none."""
    value = headers.get("x-should-retry", "").strip().lower()
    return {"true": True, "false": False}.get(value)


def parse_retry_after(headers: httpx.Headers, now: Callable[[], float]) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, else ``Retry-After``.

    ``Retry-After`` is either seconds or an HTTP date (relative to ``now()``, epoch seconds).
    Unparseable or negative values count as no request.
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        seconds = _float_or_none(millis)
        if seconds is not None and seconds >= 0:
            return seconds / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _float_or_none(value)
    if seconds is not None:
        return seconds if seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(when.timestamp() - now(), 0.0)


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def resolve_models(models: Mapping[str, str]) -> dict[str, str]:
    """Check a tier -> model id mapping names every tier and nothing else."""
    missing = [tier for tier in TIERS if not models.get(tier)]
    unknown = sorted(set(models) - set(TIERS))
    if missing or unknown:
        raise ValueError(
            f"models must map exactly the tiers {', '.join(TIERS)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(unknown)}" if unknown else "")
        )
    return {tier: models[tier] for tier in TIERS}
