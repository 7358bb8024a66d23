"""Fixtures for the LLM tests: a client aimed at the local server, recorded waits, a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.llm import LLMClient, LLMTimeout, RetryPolicy
from tests.llm.helpers import TEST_KEY, FakeClock, RecordedSleep


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleep(clock) -> RecordedSleep:
    return RecordedSleep(clock)


@pytest.fixture
def make_client(settings, openai_server, sleep, clock) -> Callable[..., LLMClient]:
    """An LLMClient for the local server: test key, recorded sleeps, fake clock, no jitter."""

    def make(**overrides: Any) -> LLMClient:
        options: dict[str, Any] = {
            "base_url": openai_server.base_url,
            "api_key": TEST_KEY,
            "sleep": sleep,
            "clock": clock,
            "timeout": LLMTimeout(5.0, connect=2.0),
            "retry": RetryPolicy(jitter=0.0),
        }
        options.update(overrides)
        return LLMClient(settings, **options)

    return make
