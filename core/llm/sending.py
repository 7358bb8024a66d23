"""Sending one call's request: the circuit breaker, the rate limiter and the retry loop.

``Sender.exchange(call, slots)`` admits a call through the breaker, holds a concurrency slot
and tells the breaker how the call went; inside it, ``Exchange.send`` makes the attempts
(retries with backoff, ``Retry-After``, ``x-should-retry``) until a reply has a non-error
status or the retries run out. Plain and streamed calls both go through here.

Every failed attempt that says the server is unwell counts towards opening the breaker, and
a call stops retrying once the breaker is open (its last error is raised): calls in flight
against a dead server do not each spend their retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from core.llm.calls import Call
from core.llm.circuit import CircuitBreaker, CircuitOpenError, RateLimiter
from core.llm.config import LLMTimeout, RetryPolicy, should_retry_header, status_is_retryable
from core.llm.errors import (
    LLMAuthError,
    LLMConnectionError,
    LLMError,
    LLMStatusError,
    LLMTimeoutError,
    LLMUnavailableError,
)
from core.llm.transport import TRANSLATABLE, status_error, translate_error

logger = logging.getLogger("core.llm")

OpenReply = Callable[[], Awaitable[httpx.Response]]


class Sender:
    """How a client's requests reach the server: breaker, limiter, retries, error translation.

    ``base_url`` is the masked one (it goes into errors); ``json_mode`` turns off for good
    when the server rejects ``response_format``.
    """

    def __init__(
        self, *, base_url: str, has_key: bool, timeout: LLMTimeout, retry: RetryPolicy,
        breaker: CircuitBreaker, limiter: RateLimiter, sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float], redact: Callable[[str], str], json_mode: bool,
    ) -> None:
        self.base_url = base_url
        self.has_key = has_key
        self.timeout = timeout
        self.retry = retry
        self.breaker = breaker
        self.limiter = limiter
        self.sleep = sleep
        self.clock = clock
        self.redact = redact
        self.json_mode = json_mode

    @contextlib.asynccontextmanager
    async def exchange(self, call: Call, slots: asyncio.Semaphore) -> AsyncIterator[Exchange]:
        """One call through the breaker and a concurrency slot; an LLMError raised inside
        carries the attempts made and tells the breaker whether the server is unwell."""
        self._admit(call)
        exchange = Exchange(self, call)
        try:
            async with slots:
                yield exchange
        except LLMError as exc:
            exc.attempts = exc.attempts or exchange.attempts
            if exc is not exchange.counted:
                self._settle(exc)
            raise
        except BaseException:
            self.breaker.release()
            raise
        self.breaker.record_success()

    def _admit(self, call: Call) -> None:
        try:
            self.breaker.before_call()
        except CircuitOpenError as exc:
            raise LLMUnavailableError(
                f"LLM circuit breaker is open after {self.breaker.consecutive_failures} failed attempts in a "
                f"row at {self.base_url}; next try in {exc.retry_in:.0f} s.",
                model=call.model, prompt_id=call.prompt_id,
            ) from None

    def _settle(self, error: LLMError) -> None:
        """Tell the breaker whether a failed call says the server is unwell."""
        if server_failure(error):
            self.breaker.record_failure()
        else:
            self.breaker.record_success()

    def translate(self, exc: Exception, call: Call) -> LLMError:
        return translate_error(
            exc, base_url=self.base_url, redact=self.redact, model=call.model, prompt_id=call.prompt_id
        )

    def status_error(self, reply: httpx.Response, call: Call) -> LLMStatusError:
        return status_error(
            reply, base_url=self.base_url, has_key=self.has_key, redact=self.redact,
            now=self.clock, model=call.model, prompt_id=call.prompt_id,
        )


class Exchange:
    """The attempts of one admitted call; ``attempts`` counts those made so far, ``counted``
    is the last error already told to the breaker (as a failed attempt)."""

    def __init__(self, sender: Sender, call: Call) -> None:
        self.sender = sender
        self.call = call
        self.attempts = 0
        self.counted: LLMError | None = None

    async def send(self, open_reply: OpenReply, payload: dict[str, Any] | None = None) -> httpx.Response:
        """Attempt the request until it gets a non-error status or retries run out.

        ``payload`` is the non-streaming body, so a server that rejects ``response_format``
        can be asked again at once without it (and the client stops sending it).
        """
        sender, call = self.sender, self.call
        while True:
            self.attempts += 1
            await sender.limiter.acquire()
            verdict: bool | None = None
            retry_after: float | None = None
            try:
                async with asyncio.timeout(sender.timeout.total):
                    reply = await open_reply()
                    if reply.status_code >= 400:
                        await reply.aread()
            except TRANSLATABLE as exc:
                error: LLMError = sender.translate(exc, call)
            else:
                if reply.status_code < 400:
                    return reply
                await reply.aclose()
                if payload is not None and _rejects_response_format(reply, payload):
                    logger.info("LLM server rejected response_format; sending requests without it | model=%s",
                                call.model)
                    payload.pop("response_format")
                    sender.json_mode = False
                    continue
                error = sender.status_error(reply, call)
                retry_after = error.retry_after
                verdict = should_retry_header(reply.headers)
            if server_failure(error):
                sender.breaker.record_failure()
                self.counted = error
            retryable = error.retryable if verdict is None else verdict
            # No retry once the breaker has opened (on this attempt's failure or another call's).
            if not retryable or self.attempts > sender.retry.max_retries or not sender.breaker.retry_allowed:
                error.attempts = self.attempts
                raise error
            wait = sender.retry.wait(self.attempts, retry_after)
            logger.info(
                "LLM request retrying | model=%s | prompt_id=%s | attempt=%d | wait_s=%.3f | error_type=%s",
                call.model, call.prompt_id, self.attempts, wait, type(error).__name__,
            )
            await sender.sleep(wait)
            if not sender.breaker.retry_allowed:  # other calls' failures opened it during the wait
                error.attempts = self.attempts
                raise error


def server_failure(error: LLMError) -> bool:
    """Whether an error says the server is unwell (it counts towards opening the breaker)."""
    return isinstance(error, (LLMConnectionError, LLMTimeoutError, LLMAuthError)) or (
        isinstance(error, LLMStatusError) and status_is_retryable(error.status_code)
    )


def _rejects_response_format(reply: httpx.Response, payload: dict[str, Any]) -> bool:
    """A 400 that blames ``response_format``: the server has no JSON mode."""
    return (
        reply.status_code == 400 and "response_format" in payload and "response_format" in reply.text.lower()
    )
