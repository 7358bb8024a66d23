"""LLMClient: OpenAI-compatible chat completions with retries, guards, cache, log and metrics.

One call goes: usable? (open, LLM on) -> cache -> circuit breaker -> concurrency slot ->
requests-per-minute limiter -> ``POST {base_url}/chat/completions`` with retries -> parse ->
record (``llm_calls`` row, metrics, one log line) -> cache. The ``httpx.AsyncClient`` (one
connection pool) is created on the event loop of the first call and the client stays
bound to that loop: synchronous code calls it through ``core.llm.runner.run_sync``.

Secrets: the key goes only into the Authorization header; every server text that reaches an
error or a log passes through ``_redact``, and the repr shows ``api_key='***'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from core.config import Settings, get_settings
from core.llm.calls import (
    JSON_OBJECT,
    UNSET,
    Call,
    build_call,
    combined,
    with_reask,
    with_schema_instruction,
)
from core.llm.circuit import CircuitBreaker, CircuitOpenError, CircuitState, RateLimiter
from core.llm.config import (
    KEY_REQUIRED_HOSTS,
    TIERS,
    LLMTimeout,
    RetryPolicy,
    resolve_models,
    should_retry_header,
    status_is_retryable,
)
from core.llm.errors import (
    LLMAuthError,
    LLMConnectionError,
    LLMError,
    LLMStatusError,
    LLMTimeoutError,
    LLMUnavailableError,
    LLMValidationError,
)
from core.llm.models import LLMResponse, StructuredResult
from core.llm.parsing import parse_completion, parse_sse_line, validate_reply
from core.llm.recording import Recorder
from core.llm.transport import TRANSLATABLE, status_error, translate_error
from core.llm.usage import usage_from_payload
from core.monitoring import observed_llm_call
from core.store import Store

logger = logging.getLogger("core.llm")

SchemaT = TypeVar("SchemaT", bound=BaseModel)
REDACTED = "[redacted]"
ResultT = TypeVar("ResultT")


def _at_home(method: Callable[..., Awaitable[ResultT]]) -> Callable[..., Awaitable[ResultT]]:
    """Let a client with a home loop be awaited from any event loop: the call runs there."""

    @functools.wraps(method)
    async def call(self: LLMClient, *args: Any, **kwargs: Any) -> ResultT:
        home = self._home_loop
        if home is None or asyncio.get_running_loop() is home:
            return await method(self, *args, **kwargs)
        return await _run_on(home, method(self, *args, **kwargs))

    return call


def _run_on(loop: asyncio.AbstractEventLoop, coro: Awaitable[ResultT]) -> Awaitable[ResultT]:
    """Await ``coro`` on ``loop`` (another thread's) from the running loop."""
    return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))  # type: ignore[arg-type]


def mask_password(url: str) -> str:
    """``url`` with the password of its user info (``https://user:secret@host``) shown as ``***``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


class LLMClient:
    """An async client for any OpenAI-compatible chat-completions server.

    Every argument is optional and keyword-only; unset ones come from ``settings``
    (default: ``get_settings()``). ``store`` turns on the response cache (``llm_cache``) and
    the call log (``llm_calls``). ``transport``, ``sleep`` and ``clock`` (epoch seconds) are
    seams for tests; ``json_mode`` sends ``response_format={"type": "json_object"}`` for
    structured calls until a server rejects it. ``home_loop`` binds the client to that loop
    from the start, and a call awaited on any other loop then runs there (the process-wide
    client lives on ``run_sync``'s loop, so the seed's ``await client...`` works anywhere);
    without one the client binds to the loop of its first call and refuses others.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        models: Mapping[str, str] | None = None,
        timeout: LLMTimeout | None = None,
        retry: RetryPolicy | None = None,
        store: Store | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrency: int | None = None,
        requests_per_minute: int | None = None,
        cache_ttl: float | None = None,
        cache_max_rows: int | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] | None = None,
        json_mode: bool = True,
        circuit_breaker: CircuitBreaker | None = None,
        home_loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        settings = settings or get_settings()
        self._base_url = (base_url or settings.llm_base_url).rstrip("/")
        #: The base URL as shown anywhere (status, errors, logs, pages): a password in it masked.
        self.base_url = mask_password(self._base_url)
        self._password = urllib.parse.urlsplit(self._base_url).password
        self._api_key = settings.llm_api_key if api_key is None else api_key
        self.models = resolve_models(
            models or {tier: getattr(settings, f"llm_model_{tier}") for tier in TIERS}
        )
        self.timeout = timeout or LLMTimeout(settings.llm_timeout, connect=settings.llm_connect_timeout)
        self.retry = retry or RetryPolicy(max_retries=settings.llm_max_retries)
        self.max_concurrency = max_concurrency or settings.llm_max_concurrency
        self.json_mode = json_mode
        self.store = store
        self._sleep = sleep or asyncio.sleep
        self._clock = clock or time.time
        self.breaker = circuit_breaker or CircuitBreaker(clock=self._clock)
        rpm = settings.llm_requests_per_minute if requests_per_minute is None else requests_per_minute
        self._limiter = RateLimiter(rpm, clock=self._clock, sleep=self._sleep)
        self._recorder = Recorder(
            store, settings.llm_cache_ttl_seconds if cache_ttl is None else cache_ttl, self.base_url,
            clock=self._clock, redact=self._redact,
            cache_max_rows=settings.llm_cache_max_rows if cache_max_rows is None else cache_max_rows,
        )
        self._transport = transport
        self._loop: asyncio.AbstractEventLoop | None = home_loop
        self._home_loop = home_loop
        self._http: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None
        self._closed = False

    # -- state -----------------------------------------------------------------------

    @property
    def has_api_key(self) -> bool:
        return bool(self._api_key)

    @functools.cached_property
    def disabled_reason(self) -> str | None:
        """Why the LLM is off (no key for a hosted API that needs one), or None when it is on."""
        host = urllib.parse.urlsplit(self.base_url).hostname or ""
        needs_key = any(host == known or host.endswith("." + known) for known in KEY_REQUIRED_HOSTS)
        if needs_key and not self._api_key:
            return (
                f"No API key is set and {self.base_url} requires one. Set DEALCAST_LLM_API_KEY "
                "(or OPENROUTER_API_KEY / OPENAI_API_KEY), or point DEALCAST_LLM_BASE_URL at a local "
                "server such as Ollama (http://localhost:11434/v1)."
            )
        return None

    @property
    def enabled(self) -> bool:
        return self.disabled_reason is None

    @property
    def circuit_state(self) -> CircuitState:
        return self.breaker.state

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        key = "'***'" if self._api_key else "None"
        state = "closed" if self._closed else ("open" if self._http else "unopened")
        return (
            f"LLMClient(base_url={self.base_url!r}, api_key={key}, models={self.models!r}, "
            f"enabled={self.enabled}, state={state})"
        )

    def get_metrics(self) -> dict[str, Any]:
        """Totals of this client's calls since it was made or last reset (see Metrics.snapshot)."""
        return self._recorder.metrics.snapshot()

    def reset_metrics(self) -> None:
        self._recorder.metrics.reset()

    # -- lifecycle ---------------------------------------------------------------------

    @_at_home
    async def aclose(self) -> None:
        """Close the connection pool; the client refuses every later call."""
        if self._http is not None:
            self._check_loop()
            await self._http.aclose()
        self._closed = True

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _check_usable(self) -> None:
        if self._closed:
            raise RuntimeError("This LLMClient has been closed with aclose(); create a new LLMClient.")
        reason = self.disabled_reason
        if reason:
            raise LLMUnavailableError(f"LLM off: {reason}")

    def _check_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not None and loop is not self._loop:
            raise RuntimeError(
                "This LLMClient is bound to the event loop it was first used on and cannot be used "
                "from another one; call the shared client through core.llm.run_sync(), or create "
                "one LLMClient per event loop."
            )
        return loop

    def _session(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """The connection pool and concurrency slots, created on first use on this loop."""
        loop = self._check_loop()
        if self._http is None or self._slots is None:
            self._loop = loop
            self._http = httpx.AsyncClient(
                headers=self._headers(),
                timeout=self.timeout.as_httpx(),
                limits=httpx.Limits(
                    max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency
                ),
                transport=self._transport,
            )
            self._slots = asyncio.Semaphore(self.max_concurrency)
        return self._http, self._slots

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        if "openrouter.ai" in self.base_url:
            headers["X-Title"] = "Dealcast"
        return headers

    def _redact(self, text: str) -> str:
        for secret in (self._api_key, self._password):
            if secret:
                text = text.replace(secret, REDACTED)
        return text

    # -- public calls ----------------------------------------------------------------

    @_at_home
    async def generate_completion(
        self,
        messages: list[dict[str, Any]] | None = None,
        *,
        system_prompt: str | None = None,
        user_prompt: str | None = None,
        tier: str = "balanced",
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        prompt_id: str | None = None,
        prompt_version: str | int | None = None,
        variant: str | None = None,
        use_cache: bool = True,
        response_format: dict[str, Any] | None = None,
    ) -> LLMResponse:
        """One chat reply. Raises an LLMError subclass when it cannot be had (see errors.py)."""
        call = build_call(
            self.models, messages, system_prompt=system_prompt, user_prompt=user_prompt, tier=tier,
            model=model, temperature=temperature, max_tokens=max_tokens, prompt_id=prompt_id,
            prompt_version=prompt_version, variant=variant, use_cache=use_cache,
            response_format=response_format,
        )
        response, _ = await self._run(call)
        return response

    async def generate_structured_completion(
        self,
        schema: type[SchemaT],
        messages: list[dict[str, Any]] | None = None,
        **options: Any,
    ) -> SchemaT:
        """A reply validated against ``schema``: an instance of ``schema`` (the seed's contract).

        Takes the options of ``generate_structured_completion_with_response``, which also
        gives the reply's usage, attempts and latency.
        """
        result = await self.generate_structured_completion_with_response(schema, messages, **options)
        return result.data

    @_at_home
    async def generate_structured_completion_with_response(
        self,
        schema: type[SchemaT],
        messages: list[dict[str, Any]] | None = None,
        *,
        system_prompt: str | None = None,
        user_prompt: str | None = None,
        tier: str = "balanced",
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        prompt_id: str | None = None,
        prompt_version: str | int | None = None,
        variant: str | None = None,
        use_cache: bool = True,
        response_format: dict[str, Any] | None = UNSET,
        reask: bool = True,
    ) -> StructuredResult[SchemaT]:
        """A reply validated against ``schema``, with the reply it came from (``.data``, ``.response``).

        The schema is added to the system prompt; ``response_format`` defaults to JSON mode
        when the client's ``json_mode`` is on (``None`` sends none). An invalid reply is
        asked about once more, quoting the problem (``reask=False``: a caller that re-asks
        itself gets the LLMValidationError at once). A reply cut off by ``max_tokens``
        raises LLMValidationError at once; so does a second invalid reply.
        """
        if response_format is UNSET:
            response_format = JSON_OBJECT if self.json_mode else None
        call = build_call(
            self.models, messages, system_prompt=system_prompt, user_prompt=user_prompt, tier=tier,
            model=model, temperature=temperature, max_tokens=max_tokens, prompt_id=prompt_id,
            prompt_version=prompt_version, variant=variant, use_cache=use_cache,
            response_format=response_format,
        )
        call = replace(call, messages=with_schema_instruction(call.messages, schema))

        def accept(response: LLMResponse) -> SchemaT:
            if response.finish_reason == "length":
                raise LLMValidationError(
                    "The reply was cut off at max_tokens (finish_reason=length); raise max_tokens "
                    "or ask for less.", raw=response.content, response=response,
                )
            try:
                return validate_reply(response.content, schema)  # type: ignore[return-value]
            except ValueError as exc:
                raise LLMValidationError(str(exc), raw=response.content, response=response) from None

        try:
            response, data = await self._run(call, accept)
            return StructuredResult(data, response)
        except LLMValidationError as exc:
            first = exc.response
            if not reask or first is None or first.finish_reason == "length":
                raise
            reason = exc.message
        again = replace(call, messages=with_reask(call.messages, first.content, reason))
        response, data = await self._run(again, accept)
        self._recorder.remember(call, response)  # the same question next time gets the good answer
        return StructuredResult(data, combined(first, response))

    async def stream_completion(
        self, messages: list[dict[str, Any]] | None = None, **options: Any
    ) -> AsyncIterator[str]:
        """Yield the reply's text as it arrives (server-sent events); takes the options of
        ``generate_completion``.

        Errors before the first chunk (statuses, connection) are retried like any call and
        then raised, never swallowed; a stream cut off before ``[DONE]`` raises
        LLMConnectionError after the text already yielded. A cached reply comes as one chunk.
        Close the iterator (``contextlib.aclosing``) if you stop early. A client with a home
        loop streams there, chunk by chunk, whichever loop iterates.
        """
        chunks = self._stream(messages, **options)
        home = self._home_loop
        if home is None or asyncio.get_running_loop() is home:
            async with contextlib.aclosing(chunks):
                async for text in chunks:
                    yield text
            return

        async def step() -> str | None:
            return await anext(chunks, None)

        try:
            while (text := await _run_on(home, step())) is not None:
                yield text
        finally:
            await _run_on(home, chunks.aclose())

    async def _stream(
        self,
        messages: list[dict[str, Any]] | None = None,
        *,
        system_prompt: str | None = None,
        user_prompt: str | None = None,
        tier: str = "balanced",
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        prompt_id: str | None = None,
        prompt_version: str | int | None = None,
        variant: str | None = None,
        use_cache: bool = True,
        response_format: dict[str, Any] | None = None,
    ) -> AsyncIterator[str]:
        """The stream of ``stream_completion`` on the loop this coroutine runs on."""
        call = build_call(
            self.models, messages, system_prompt=system_prompt, user_prompt=user_prompt, tier=tier,
            model=model, temperature=temperature, max_tokens=max_tokens, prompt_id=prompt_id,
            prompt_version=prompt_version, variant=variant, use_cache=use_cache,
            response_format=response_format,
        )
        self._check_usable()
        started = time.perf_counter()
        cached = self._recorder.cached(call, started)
        if cached is not None:
            self._recorder.record(call, cached)
            yield cached.content
            return
        http, slots = self._session()
        self._admit(call)
        parts: list[str] = []
        summary: dict[str, Any] = dict.fromkeys(("model", "finish_reason", "usage", "request_id"))
        attempts = 0
        try:
            async with slots:
                request = http.build_request("POST", self._url, json=call.payload(stream=True))
                reply, attempts = await self._send(call, lambda: http.send(request, stream=True))
                try:
                    done = False
                    try:
                        async for line in reply.aiter_lines():
                            event = parse_sse_line(line)
                            if event is None:
                                continue
                            if event.done:
                                done = True
                                break
                            for name in ("model", "finish_reason", "usage", "request_id"):
                                summary[name] = getattr(event, name) or summary[name]
                            if event.text:
                                parts.append(event.text)
                                yield event.text
                    except TRANSLATABLE as exc:
                        raise self._translate(exc, call) from exc
                    if not done:
                        raise LLMConnectionError(
                            f"LLM server at {self.base_url}: the stream ended before [DONE] "
                            f"after {len(parts)} text chunks", model=call.model, prompt_id=call.prompt_id,
                        )
                finally:
                    await reply.aclose()
        except LLMError as exc:
            exc.attempts = exc.attempts or attempts
            self._settle(exc)
            self._recorder.record(call, None, error=exc, started=started)
            raise
        except BaseException:
            self.breaker.release()
            raise
        self.breaker.record_success()
        response = LLMResponse(
            content="".join(parts),
            model=summary["model"] or call.model,
            finish_reason=summary["finish_reason"],
            usage=usage_from_payload(summary["usage"], summary["model"] or call.model),
            latency_ms=(time.perf_counter() - started) * 1000,
            attempts=attempts,
            request_id=summary["request_id"],
        )
        self._recorder.record(call, response)
        self._recorder.remember(call, response)

    # -- one call --------------------------------------------------------------------

    @property
    def _url(self) -> str:
        return f"{self._base_url}/chat/completions"

    @observed_llm_call
    async def _run(
        self, call: Call, accept: Callable[[LLMResponse], Any] | None = None
    ) -> tuple[LLMResponse, Any]:
        """Make one call and record it; ``accept`` checks the reply before it may be cached."""
        self._check_usable()
        started = time.perf_counter()
        response = None
        try:
            response = self._recorder.cached(call, started)
            if response is None:
                response = await self._fetch(call, started)
            value = accept(response) if accept else None
        except LLMError as exc:
            self._recorder.record(call, response, error=exc, started=started)
            raise
        self._recorder.record(call, response)
        if not response.cache_hit:
            self._recorder.remember(call, response)
        return response, value

    async def _fetch(self, call: Call, started: float) -> LLMResponse:
        """Send the call (with retries) through the breaker and the concurrency limit."""
        http, slots = self._session()
        self._admit(call)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("LLM request prompt | model=%s | messages=%s", call.model, json.dumps(call.messages))
        attempts = 0
        try:
            async with slots:
                payload = call.payload()

                async def post() -> httpx.Response:
                    return await http.post(self._url, json=payload)

                reply, attempts = await self._send(call, post, payload)
            response = self._parse(call, reply, attempts, started)
        except LLMError as exc:
            exc.attempts = exc.attempts or attempts
            self._settle(exc)
            raise
        except BaseException:
            self.breaker.release()
            raise
        self.breaker.record_success()
        return response

    def _admit(self, call: Call) -> None:
        try:
            self.breaker.before_call()
        except CircuitOpenError as exc:
            raise LLMUnavailableError(
                f"LLM circuit breaker is open after {self.breaker.consecutive_failures} consecutive "
                f"failures at {self.base_url}; next try in {exc.retry_in:.0f} s.",
                model=call.model, prompt_id=call.prompt_id,
            ) from None

    def _settle(self, error: LLMError) -> None:
        """Tell the breaker whether a failed call says the server is unwell."""
        server_failure = isinstance(error, (LLMConnectionError, LLMTimeoutError, LLMAuthError)) or (
            isinstance(error, LLMStatusError) and status_is_retryable(error.status_code)
        )
        if server_failure:
            self.breaker.record_failure()
        else:
            self.breaker.record_success()

    async def _send(
        self, call: Call, open_reply: Callable[[], Awaitable[httpx.Response]],
        payload: dict[str, Any] | None = None,
    ) -> tuple[httpx.Response, int]:
        """Attempt the request until it gets a non-error status or retries run out.

        ``payload`` is the non-streaming body, so a server that rejects ``response_format``
        can be asked again at once without it (and the client stops sending it).
        """
        attempt = 0
        while True:
            attempt += 1
            await self._limiter.acquire()
            verdict: bool | None = None
            retry_after: float | None = None
            try:
                async with asyncio.timeout(self.timeout.total):
                    reply = await open_reply()
                    if reply.status_code >= 400:
                        await reply.aread()
            except TRANSLATABLE as exc:
                error: LLMError = self._translate(exc, call)
            else:
                if reply.status_code < 400:
                    return reply, attempt
                await reply.aclose()
                if payload is not None and _rejects_response_format(reply, payload):
                    logger.info("LLM server rejected response_format; sending requests without it | model=%s",
                                call.model)
                    payload.pop("response_format")
                    self.json_mode = False
                    continue
                error = self._status_error(reply, call)
                retry_after = error.retry_after
                verdict = should_retry_header(reply.headers)
            retryable = error.retryable if verdict is None else verdict
            if not retryable or attempt > self.retry.max_retries:
                error.attempts = attempt
                raise error
            wait = self.retry.wait(attempt, retry_after)
            logger.info(
                "LLM request retrying | model=%s | prompt_id=%s | attempt=%d | wait_s=%.3f | error_type=%s",
                call.model, call.prompt_id, attempt, wait, type(error).__name__,
            )
            await self._sleep(wait)

    def _translate(self, exc: Exception, call: Call) -> LLMError:
        return translate_error(
            exc, base_url=self.base_url, redact=self._redact, model=call.model, prompt_id=call.prompt_id
        )

    def _status_error(self, reply: httpx.Response, call: Call) -> LLMStatusError:
        return status_error(
            reply, base_url=self.base_url, has_key=self.has_api_key, redact=self._redact,
            now=self._clock, model=call.model, prompt_id=call.prompt_id,
        )

    def _parse(self, call: Call, reply: httpx.Response, attempts: int, started: float) -> LLMResponse:
        try:
            body = reply.json()
        except ValueError:
            raise LLMValidationError(
                f"LLM server at {self.base_url} sent a reply that is not valid JSON.",
                raw=self._redact(reply.text[:2000]), model=call.model, prompt_id=call.prompt_id,
            ) from None
        completion = parse_completion(body, call.model)
        return LLMResponse(
            content=completion.content,
            model=completion.model,
            finish_reason=completion.finish_reason,
            usage=completion.usage,
            latency_ms=(time.perf_counter() - started) * 1000,
            attempts=attempts,
            request_id=completion.request_id or reply.headers.get("x-request-id"),
        )


def _rejects_response_format(reply: httpx.Response, payload: dict[str, Any]) -> bool:
    """A 400 that blames ``response_format``: the server has no JSON mode."""
    return (
        reply.status_code == 400 and "response_format" in payload and "response_format" in reply.text.lower()
    )
