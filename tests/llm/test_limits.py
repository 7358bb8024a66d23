"""Concurrency and requests-per-minute limits."""

from __future__ import annotations

import asyncio

from core.llm.circuit import RateLimiter
from tests.llm.helpers import FakeClock, RecordedSleep, run
from tests.support.openai_server import Reply


def test_client_keeps_at_most_max_concurrency_requests_in_flight(make_client, openai_server):
    openai_server.responder = lambda body: Reply.text("slow", delay=0.05)
    client = make_client(max_concurrency=2)

    async def burst(c):
        return await asyncio.gather(*(c.generate_completion(user_prompt=f"q{i}") for i in range(6)))

    replies = run(client, burst)

    assert [reply.content for reply in replies] == ["slow"] * 6
    assert openai_server.max_in_flight == 2


def test_rate_limiter_waits_for_the_minute_window_to_free_a_slot():
    clock = FakeClock()
    sleep = RecordedSleep(clock)
    limiter = RateLimiter(2, clock=clock, sleep=sleep)

    async def three():
        await limiter.acquire()
        clock.advance(10)
        await limiter.acquire()
        await limiter.acquire()

    asyncio.run(three())

    assert sleep.waits == [50.0]  # until the first start is a minute old


def test_rate_limiter_with_zero_does_not_limit():
    clock = FakeClock()
    sleep = RecordedSleep(clock)
    limiter = RateLimiter(0, clock=clock, sleep=sleep)

    async def many():
        for _ in range(100):
            await limiter.acquire()

    asyncio.run(many())

    assert sleep.waits == []


def test_client_spaces_requests_to_the_per_minute_limit(make_client, openai_server, sleep):
    client = make_client(requests_per_minute=2)

    async def three(c):
        for i in range(3):
            await c.generate_completion(user_prompt=f"q{i}")

    run(client, three)

    assert len(openai_server.requests) == 3
    assert sleep.waits == [60.0]
