"""The one place where what httpx raises or a server answers becomes an ``LLMError``.

``translate_error`` maps every httpx exception to the most specific LLM error, chaining the
original; ``status_error`` turns an error status into LLMStatusError and its subclasses.
A test walks httpx's exception classes and fails if one has no mapping here.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from core.llm.config import parse_retry_after, status_is_retryable
from core.llm.errors import (
    LLMAuthError,
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMStatusError,
    LLMTimeoutError,
    LLMValidationError,
)

#: (raised, becomes, worth retrying, what it means). First match wins, so subclasses come first.
#: httpx.HTTPStatusError is absent on purpose: the client reads statuses itself and never
#: calls ``raise_for_status``; StreamError and CookieConflict are httpx "called it wrong" bugs.
ERROR_MAP: tuple[tuple[type[Exception], type[LLMError], bool, str], ...] = (
    (httpx.ConnectTimeout, LLMTimeoutError, True, "timed out connecting"),
    (httpx.ReadTimeout, LLMTimeoutError, True, "timed out waiting for the reply"),
    (httpx.WriteTimeout, LLMTimeoutError, True, "timed out sending the request"),
    (httpx.PoolTimeout, LLMTimeoutError, True, "timed out waiting for a free connection"),
    (httpx.TimeoutException, LLMTimeoutError, True, "timed out"),
    (TimeoutError, LLMTimeoutError, True, "gave no complete reply in time"),
    (httpx.UnsupportedProtocol, LLMConnectionError, False, "the base URL must start with http:// or https://"),
    (httpx.LocalProtocolError, LLMConnectionError, False, "the request could not be sent"),
    (httpx.RemoteProtocolError, LLMConnectionError, True, "the server closed the connection mid-reply"),
    (httpx.ConnectError, LLMConnectionError, True, "could not connect"),
    (httpx.NetworkError, LLMConnectionError, True, "the connection failed"),
    (httpx.ProxyError, LLMConnectionError, True, "the proxy failed"),
    (httpx.TransportError, LLMConnectionError, True, "the connection failed"),
    (httpx.TooManyRedirects, LLMConnectionError, False, "too many redirects"),
    (httpx.DecodingError, LLMValidationError, False, "the reply body could not be decoded"),
    (httpx.InvalidURL, LLMConnectionError, False, "the base URL is not a valid URL"),
    (httpx.RequestError, LLMConnectionError, True, "the request failed"),
)

#: Exceptions the client catches around a request; everything in ERROR_MAP.
TRANSLATABLE: tuple[type[Exception], ...] = tuple(source for source, *_ in ERROR_MAP)

Redact = Callable[[str], str]


def mapping_for(kind: type[Exception]) -> tuple[type[LLMError], bool, str] | None:
    for source, target, retryable, meaning in ERROR_MAP:
        if issubclass(kind, source):
            return target, retryable, meaning
    return None


def translate_error(exc: Exception, *, base_url: str, redact: Redact, **context) -> LLMError:
    """The LLMError for an exception raised while talking to the server, chained to it."""
    found = mapping_for(type(exc))
    if found is None:  # pragma: no cover - ERROR_MAP ends with catch-alls for what is caught
        raise TypeError(f"no LLMError mapping for {type(exc).__name__}") from exc
    target, retryable, meaning = found
    detail = redact(str(exc))
    cause = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    error = target(f"LLM server at {base_url}: {meaning} ({cause})", **context)
    error.retryable = retryable
    error.__cause__ = exc
    return error


def status_error(
    reply: httpx.Response, *, base_url: str, has_key: bool, redact: Redact,
    now: Callable[[], float], **context,
) -> LLMStatusError:
    """The error for an HTTP error status, with the server's own explanation (redacted)."""
    status = reply.status_code
    detail = redact(error_detail(reply))
    retry_after = parse_retry_after(reply.headers, now)
    kind: type[LLMStatusError] = LLMStatusError
    if status in (401, 403):
        kind = LLMAuthError
        fix = (
            "the API key was refused; check DEALCAST_LLM_API_KEY (or OPENROUTER_API_KEY / OPENAI_API_KEY)"
            if has_key else "no API key was sent; set DEALCAST_LLM_API_KEY"
        )
        message = f"LLM server at {base_url} answered HTTP {status}: {fix}. Server said: {detail}"
    elif status == 429:
        kind = LLMRateLimitError
        message = f"LLM server at {base_url} is rate limiting (HTTP 429). Server said: {detail}"
    else:
        message = f"LLM server at {base_url} answered HTTP {status}. Server said: {detail}"
    error = kind(message, status_code=status, retry_after=retry_after, **context)
    error.retryable = status_is_retryable(status)
    return error


def error_detail(reply: httpx.Response, limit: int = 300) -> str:
    """The server's error message: ``error.message`` of a JSON body, else the start of the text."""
    text = reply.text
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        if message:
            return str(message)[:limit]
    return text.strip()[:limit] or "(empty body)"
