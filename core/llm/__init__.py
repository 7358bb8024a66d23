"""LLM infrastructure: an OpenAI-compatible client that knows nothing of deals or emails.

    client = get_llm_client()                       # from settings, with the default store
    reply = run_sync(client.generate_completion(system_prompt="...", user_prompt="...", tier="fast"))
    data = run_sync(client.generate_structured_completion(MySchema, user_prompt="..."))  # a MySchema
    result = run_sync(client.generate_structured_completion_with_response(MySchema, user_prompt="..."))
    result.data, result.response.usage    # the instance, and the reply it came from

The modules: client (LLMClient), calls (a call's options and messages), sending (breaker,
limiter and retry loop around each request), streaming (streamed replies, home loops), config
(LLMTimeout, RetryPolicy), errors (the exception tree), models (LLMResponse,
StructuredResult), usage (Usage alias TokenUsage, prices), circuit (breaker, rate limiter),
cache / calllog / metrics / recording (what every call leaves behind), transport (httpx errors
into LLM errors), parsing, runner (run_sync).
"""

from core.llm.circuit import CircuitBreaker, CircuitState
from core.llm.client import LLMClient
from core.llm.config import LLMTimeout, RetryPolicy
from core.llm.errors import (
    LLMAuthError,
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMStatusError,
    LLMTimeoutError,
    LLMUnavailableError,
    LLMValidationError,
)
from core.llm.models import LLMResponse, StructuredResult
from core.llm.runner import get_llm_client, run_sync
from core.llm.status import LLMStatus, format_circuit, llm_status
from core.llm.usage import TokenUsage, Usage, format_cost

__all__ = [
    "CircuitBreaker",
    "CircuitState",
    "LLMAuthError",
    "LLMClient",
    "LLMConnectionError",
    "LLMError",
    "LLMRateLimitError",
    "LLMResponse",
    "LLMStatus",
    "LLMStatusError",
    "LLMTimeout",
    "LLMTimeoutError",
    "LLMUnavailableError",
    "LLMValidationError",
    "RetryPolicy",
    "StructuredResult",
    "TokenUsage",
    "Usage",
    "format_circuit",
    "format_cost",
    "get_llm_client",
    "llm_status",
    "run_sync",
]

#: Names whose module needs pandas: imported on first use, so ``import core.llm`` stays light
#: (and left out of ``__all__``, which lists what the package itself holds).
_REPORTS = frozenset({"call_filters", "usage_report"})


def __getattr__(name: str):
    if name in _REPORTS:
        from core.llm import call_report

        return getattr(call_report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
