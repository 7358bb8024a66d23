"""LLMClient: OpenAI-compatible chat completions with retries, guards, cache, log and metrics.

One call goes: usable? (open, LLM on) -> cache -> circuit breaker -> concurrency slot ->
requests-per-minute limiter -> ``POST {base_url}/chat/completions`` with retries -> parse ->
record (``llm_calls`` row, metrics, one log line) -> cache. Requests are built by
``calls.build_call``, sent through the breaker, limiter and retry loop of ``sending``, and
streamed replies read by ``streaming``. The ``httpx.AsyncClient`` (one connection pool) is
created on the event loop of the first call and the client stays bound to that loop:
synchronous code calls it through ``core.llm.runner.run_sync``.

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
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from core.config import Settings, get_settings
from core.llm.calls import JSON_OBJECT, UNSET, Call, build_call, combined, with_reask, with_schema_instruction
from core.llm.circuit import CircuitBreaker, CircuitState, RateLimiter
from core.llm.circuit_record import keep_in_store
from core.llm.config import KEY_REQUIRED_HOSTS, TIERS, LLMTimeout, RetryPolicy, resolve_models
from core.llm.errors import LLMError, LLMUnavailableError, LLMValidationError
from core.llm.models import LLMResponse, StructuredResult
from core.llm.parsing import parse_completion, validate_reply
from core.llm.recording import Recorder
from core.llm.sending import Sender
from core.llm.streaming import ReplyStream, at_home, iterate_on
from core.monitoring import observed_llm_call, observed_llm_stream
from core.store import Store

logger = logging.getLogger("core.llm")

SchemaT = TypeVar("SchemaT", bound=BaseModel)
REDACTED = "[redacted]"


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
    (default: ``get_settings()``). ``store`` turns on the response cache (``llm_cache``), the
    call log (``llm_calls``) and the shared circuit state (``llm_circuit``: the client starts
    from an open circuit another process recorded, and records its own). ``transport``,
    ``sleep`` and ``clock`` (epoch seconds) are seams for tests; ``json_mode`` sends
    ``response_format={"type": "json_object"}`` for structured calls until a server rejects
    it. ``home_loop`` binds the client to that loop from the start, and a call awaited on any
    other loop then runs there (the process-wide client lives on ``run_sync``'s loop, so the
    seed's ``await client...`` works anywhere); without one the client binds to the loop of
    its first call and refuses others.
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
        self.max_concurrency = max_concurrency or settings.llm_max_concurrency
        self.store = store
        self._clock = clock or time.time
        sleep = sleep or asyncio.sleep
        rpm = settings.llm_requests_per_minute if requests_per_minute is None else requests_per_minute
        self._sender = Sender(
            base_url=self.base_url, has_key=self.has_api_key, timeout=self.timeout,
            retry=retry or RetryPolicy(max_retries=settings.llm_max_retries),
            breaker=circuit_breaker or CircuitBreaker(clock=self._clock),
            limiter=RateLimiter(rpm, clock=self._clock, sleep=sleep), sleep=sleep, clock=self._clock,
            redact=self._redact, json_mode=json_mode,
        )
        if store is not None:
            keep_in_store(self.breaker, store, self.base_url, self._clock)
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
    def clock(self) -> Callable[[], float]:
        """The client's clock, epoch seconds (a test's fake one)."""
        return self._clock

    @property
    def breaker(self) -> CircuitBreaker:
        return self._sender.breaker

    @property
    def retry(self) -> RetryPolicy:
        return self._sender.retry

    @property
    def json_mode(self) -> bool:
        """Whether structured calls send ``response_format`` (off for good once a server rejects it)."""
        return self._sender.json_mode

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

    @at_home
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

    @at_home
    async def generate_completion(
        self, messages: list[dict[str, Any]] | None = None, **options: Any
    ) -> LLMResponse:
        """One chat reply. Raises an LLMError subclass when it cannot be had (see errors.py).

        ``options`` are those of ``core.llm.calls.build_call``: ``system_prompt``,
        ``user_prompt``, ``tier`` (default balanced), ``model``, ``temperature``,
        ``max_tokens``, ``prompt_id``, ``prompt_version``, ``variant``, ``use_cache`` (default
        True) and ``response_format``.
        """
        response, _ = await self._run(build_call(self.models, messages, **options))
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

    @at_home
    async def generate_structured_completion_with_response(
        self,
        schema: type[SchemaT],
        messages: list[dict[str, Any]] | None = None,
        *,
        response_format: dict[str, Any] | None = UNSET,
        reask: bool = True,
        **options: Any,
    ) -> StructuredResult[SchemaT]:
        """A reply validated against ``schema``, with the reply it came from (``.data``, ``.response``).

        Takes the options of ``generate_completion``. The schema is added to the system
        prompt; ``response_format`` defaults to JSON mode when the client's ``json_mode`` is
        on (``None`` sends none). An invalid reply is asked about once more, quoting the
        problem (``reask=False``: a caller that re-asks itself gets the LLMValidationError at
        once). A reply cut off by ``max_tokens`` raises LLMValidationError at once; so does a
        second invalid reply.
        """
        if response_format is UNSET:
            response_format = JSON_OBJECT if self.json_mode else None
        call = build_call(self.models, messages, response_format=response_format, **options)
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

    def stream_completion(
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
        return iterate_on(self._home_loop, self._stream(build_call(self.models, messages, **options)))

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
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("LLM request prompt | model=%s | messages=%s", call.model, json.dumps(call.messages))
        async with self._sender.exchange(call, slots) as exchange:
            payload = call.payload()

            async def post() -> httpx.Response:
                return await http.post(self._url, json=payload)

            reply = await exchange.send(post, payload)
            return self._parse(call, reply, exchange.attempts, started)

    @observed_llm_stream
    async def _stream(self, call: Call) -> AsyncGenerator[str, None]:
        """The stream of ``stream_completion`` on the loop this coroutine runs on."""
        self._check_usable()
        started = time.perf_counter()
        cached = self._recorder.cached(call, started)
        if cached is not None:
            self._recorder.record(call, cached)
            yield cached.content
            return
        http, slots = self._session()
        try:
            async with self._sender.exchange(call, slots) as exchange:
                request = http.build_request("POST", self._url, json=call.payload(stream=True))
                reply = await exchange.send(lambda: http.send(request, stream=True))
                stream = ReplyStream(reply, call, base_url=self.base_url, translate=self._sender.translate)
                async with contextlib.aclosing(stream.texts()) as texts:
                    async for text in texts:
                        yield text
        except LLMError as exc:
            self._recorder.record(call, None, error=exc, started=started)
            raise
        response = stream.response(attempts=exchange.attempts, started=started)
        self._recorder.record(call, response)
        self._recorder.remember(call, response)

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
