"""Streamed replies (server-sent events), and awaiting a client bound to another event loop.

``ReplyStream`` reads the text of a streamed reply as it arrives and keeps what the events
say about it (model, finish reason, usage, request id); a stream cut off before ``[DONE]``
raises LLMConnectionError after the text already yielded. ``at_home`` and ``iterate_on``
let a client whose connection pool lives on one loop be awaited or streamed from any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx

from core.llm.calls import Call
from core.llm.errors import LLMConnectionError, LLMError
from core.llm.models import LLMResponse
from core.llm.parsing import parse_sse_line
from core.llm.transport import TRANSLATABLE
from core.llm.usage import usage_from_payload

ResultT = TypeVar("ResultT")
_SUMMARY = ("model", "finish_reason", "usage", "request_id")


class ReplyStream:
    """The text chunks of one streamed reply, and the LLMResponse they add up to."""

    def __init__(
        self, reply: httpx.Response, call: Call, *, base_url: str,
        translate: Callable[[Exception, Call], LLMError],
    ) -> None:
        self._reply = reply
        self._call = call
        self._base_url = base_url
        self._translate = translate
        self._parts: list[str] = []
        self._summary: dict[str, Any] = dict.fromkeys(_SUMMARY)

    async def texts(self) -> AsyncIterator[str]:
        """Yield each chunk's text until ``[DONE]``; the reply is closed in every case."""
        try:
            try:
                async for line in self._reply.aiter_lines():
                    event = parse_sse_line(line)
                    if event is None:
                        continue
                    if event.done:
                        return
                    for name in _SUMMARY:
                        self._summary[name] = getattr(event, name) or self._summary[name]
                    if event.text:
                        self._parts.append(event.text)
                        yield event.text
            except TRANSLATABLE as exc:
                raise self._translate(exc, self._call) from exc
            raise LLMConnectionError(
                f"LLM server at {self._base_url}: the stream ended before [DONE] "
                f"after {len(self._parts)} text chunks",
                model=self._call.model, prompt_id=self._call.prompt_id,
            )
        finally:
            await self._reply.aclose()

    def response(self, *, attempts: int, started: float) -> LLMResponse:
        """The whole reply, once ``texts`` has run to the end."""
        model = self._summary["model"] or self._call.model
        return LLMResponse(
            content="".join(self._parts),
            model=model,
            finish_reason=self._summary["finish_reason"],
            usage=usage_from_payload(self._summary["usage"], model),
            latency_ms=(time.perf_counter() - started) * 1000,
            attempts=attempts,
            request_id=self._summary["request_id"],
        )


def run_on(loop: asyncio.AbstractEventLoop, coro: Awaitable[ResultT]) -> Awaitable[ResultT]:
    """Await ``coro`` on ``loop`` (another thread's) from the running loop."""
    return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))  # type: ignore[arg-type]


def at_home(method: Callable[..., Awaitable[ResultT]]) -> Callable[..., Awaitable[ResultT]]:
    """Let a client with a home loop (``self._home_loop``) be awaited from any event loop:
    the call runs there."""

    @functools.wraps(method)
    async def call(self: Any, *args: Any, **kwargs: Any) -> ResultT:
        home = self._home_loop
        if home is None or asyncio.get_running_loop() is home:
            return await method(self, *args, **kwargs)
        return await run_on(home, method(self, *args, **kwargs))

    return call


async def iterate_on(
    home: asyncio.AbstractEventLoop | None, chunks: AsyncGenerator[str, None]
) -> AsyncIterator[str]:
    """Iterate ``chunks`` on ``home`` (when set and not the running loop), chunk by chunk,
    whichever loop iterates this; ``chunks`` is closed in every case."""
    if home is None or asyncio.get_running_loop() is home:
        async with contextlib.aclosing(chunks):
            async for text in chunks:
                yield text
        return

    async def step() -> str | None:
        return await anext(chunks, None)

    try:
        while (text := await run_on(home, step())) is not None:
            yield text
    finally:
        await run_on(home, chunks.aclose())
