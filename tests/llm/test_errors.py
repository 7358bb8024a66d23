"""The exception tree, the httpx mapping, and the package's public surface."""

from __future__ import annotations

import httpx
import pytest

import core.llm
from core.errors import DealcastError
from core.llm import (
    LLMAuthError,
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMStatusError,
    LLMTimeoutError,
    LLMUnavailableError,
    LLMValidationError,
)
from core.llm.transport import mapping_for, translate_error

#: httpx's own "called it wrong" errors (RuntimeError family) and the status error the client
#: never triggers (it reads statuses itself instead of calling raise_for_status).
NOT_RAISED_BY_REQUESTS = {
    httpx.StreamError, httpx.StreamConsumed, httpx.StreamClosed, httpx.ResponseNotRead,
    httpx.RequestNotRead, httpx.CookieConflict, httpx.HTTPStatusError, httpx.HTTPError,
}
HTTPX_ERRORS = sorted(
    (
        value for name in httpx.__all__
        if isinstance(value := getattr(httpx, name), type) and issubclass(value, Exception)
        and value not in NOT_RAISED_BY_REQUESTS
    ),
    key=lambda kind: kind.__name__,
)


def test_the_exception_tree_matches_the_module_docstring():
    assert issubclass(LLMError, DealcastError)
    branches = (LLMConnectionError, LLMTimeoutError, LLMStatusError, LLMValidationError, LLMUnavailableError)
    for kind in branches:
        assert kind.__bases__ == (LLMError,)
    assert LLMRateLimitError.__bases__ == (LLMStatusError,)
    assert LLMAuthError.__bases__ == (LLMStatusError,)
    for kind in (LLMError, LLMConnectionError, LLMStatusError, LLMAuthError, LLMValidationError):
        assert kind.__name__ in core.llm.errors.__doc__


@pytest.mark.parametrize("kind", HTTPX_ERRORS, ids=lambda kind: kind.__name__)
def test_every_httpx_request_error_has_an_llm_error_mapping(kind):
    found = mapping_for(kind)

    assert found is not None, f"httpx.{kind.__name__} has no mapping in core.llm.transport.ERROR_MAP"
    target, _, meaning = found
    assert issubclass(target, LLMError) and target is not LLMError
    assert meaning


@pytest.mark.parametrize(
    ("raised", "expected", "retryable"),
    [
        (httpx.ConnectTimeout("slow"), LLMTimeoutError, True),
        (httpx.ReadTimeout("slow"), LLMTimeoutError, True),
        (TimeoutError(), LLMTimeoutError, True),
        (httpx.ConnectError("refused"), LLMConnectionError, True),
        (httpx.RemoteProtocolError("peer closed"), LLMConnectionError, True),
        (httpx.UnsupportedProtocol("ftp"), LLMConnectionError, False),
        (httpx.DecodingError("gzip"), LLMValidationError, False),
    ],
)
def test_translated_errors_are_chained_and_say_where(raised, expected, retryable):
    error = translate_error(raised, base_url="http://llm.local/v1", redact=str, model="m", prompt_id="p")

    assert type(error) is expected
    assert error.retryable is retryable
    assert error.__cause__ is raised
    assert "http://llm.local/v1" in str(error)
    assert "model=m" in str(error) and "prompt=p" in str(error)


def test_package_all_lists_every_public_name_it_imports():
    public = {
        name for name, value in vars(core.llm).items()
        if not name.startswith("_") and not isinstance(value, type(core)) and name != "annotations"
    }

    assert set(core.llm.__all__) == public
    for name in (
        "LLMClient", "get_llm_client", "LLMResponse", "Usage", "StructuredResult", "run_sync", "LLMError",
        "LLMConnectionError", "LLMTimeoutError", "LLMStatusError", "LLMRateLimitError", "LLMAuthError",
        "LLMValidationError", "LLMUnavailableError",
    ):
        assert name in core.llm.__all__
