"""The LLM client's exceptions: one tree, so callers catch exactly as much as they mean to.

    DealcastError (core.errors)
    └── LLMError                     any failed LLM call; carries model, prompt id, attempts
        ├── LLMConnectionError       no connection, or it dropped / the stream was cut off
        ├── LLMTimeoutError          a timeout phase (connect, read, write, pool, overall) expired
        ├── LLMStatusError           the server answered with an error status (status_code)
        │   ├── LLMRateLimitError    429 that outlasted every retry
        │   └── LLMAuthError         401 / 403: the key is missing, wrong or not allowed
        ├── LLMValidationError       the reply is unusable: not JSON, wrong schema, cut off by
        │                            max_tokens, no choices; carries the raw text
        └── LLMUnavailableError      no request was made: the LLM is off, or the circuit is open

"Called it wrong" mistakes (a closed client, an unknown tier, a client used on a second
event loop) are ``RuntimeError`` / ``ValueError``, apart from this tree: they are bugs to fix,
not conditions to handle.

Messages never contain the API key; the client redacts server text before it lands here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import DealcastError

if TYPE_CHECKING:
    from core.llm.models import LLMResponse


class LLMError(DealcastError):
    """Raised when an LLM call fails; the root of every LLM failure."""

    #: Whether trying the same request again may succeed (set by the client per failure).
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        prompt_id: str | None = None,
        attempts: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.model = model
        self.prompt_id = prompt_id
        self.attempts = attempts

    def __str__(self) -> str:
        pairs = (("model", self.model), ("prompt", self.prompt_id), ("attempts", self.attempts))
        context = ", ".join(f"{name}={value}" for name, value in pairs if value)
        return f"{self.message} ({context})" if context else self.message


class LLMConnectionError(LLMError):
    """Raised when the server cannot be reached or the connection drops mid-response."""

    retryable = True


class LLMTimeoutError(LLMError):
    """Raised when connecting, sending, waiting for or reading the reply takes too long."""

    retryable = True


class LLMStatusError(LLMError):
    """Raised when the server answers with an HTTP error status that retries did not cure."""

    def __init__(
        self, message: str, *, status_code: int, retry_after: float | None = None, **context
    ) -> None:
        super().__init__(message, **context)
        self.status_code = status_code
        self.retry_after = retry_after


class LLMRateLimitError(LLMStatusError):
    """Raised when the server still answers 429 Too Many Requests after every retry."""


class LLMAuthError(LLMStatusError):
    """Raised on 401/403: the API key is missing, wrong, or not allowed this model."""


class LLMValidationError(LLMError):
    """Raised when a reply cannot be used; ``raw`` holds its text, ``response`` the reply if any."""

    def __init__(
        self, message: str, *, raw: str = "", response: LLMResponse | None = None, **context
    ) -> None:
        super().__init__(message, **context)
        self.raw = raw
        self.response = response


class LLMUnavailableError(LLMError):
    """Raised at once, before any request, when the LLM is off or the circuit breaker is open."""
