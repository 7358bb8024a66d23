"""Helpers the LLM tests share: the test key, a fake clock, recorded sleeps, loop runners."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from core.llm import LLMClient

TEST_KEY = "sk-test-SECRET-4f9a2c71"
#: 2026-01-05 12:00:00 UTC, a fixed "now" for clocks in tests.
EPOCH = 1_767_614_400.0


class FakeClock:
    """Epoch seconds that move only when a test (or a recorded sleep) moves them."""

    def __init__(self, now: float = EPOCH) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordedSleep:
    """An injectable ``sleep`` that records each requested wait, advances the fake clock, returns."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


def run(client: LLMClient, use: Callable[[LLMClient], Awaitable[Any]]) -> Any:
    """Run ``use(client)`` on a fresh event loop and close the client afterwards."""

    async def main() -> Any:
        async with client:
            return await use(client)

    return asyncio.run(main())


def ask(client: LLMClient, **options: Any) -> Any:
    """One generate_completion call (default prompt "hi") on a fresh loop."""
    options.setdefault("user_prompt", "hi")
    return run(client, lambda c: c.generate_completion(**options))


def collect_stream(client: LLMClient, chunks: list[str], **options: Any) -> None:
    """Read a whole stream into ``chunks`` (kept even when the stream raises)."""
    options.setdefault("user_prompt", "hi")

    async def use(c: LLMClient) -> None:
        async for text in c.stream_completion(**options):
            chunks.append(text)

    run(client, use)
