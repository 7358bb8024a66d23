"""Timeouts, retry policy and Retry-After parsing."""

from __future__ import annotations

import email.utils

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.llm import LLMTimeout, RetryPolicy
from core.llm.config import parse_retry_after, resolve_models, status_is_retryable
from tests.llm.helpers import EPOCH


def retry_after(**headers: str) -> float | None:
    return parse_retry_after(httpx.Headers(headers), lambda: EPOCH)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "2500"}, 2.5),
        ({"retry-after": email.utils.formatdate(EPOCH + 45, usegmt=True)}, 45.0),
        ({"retry-after": email.utils.formatdate(EPOCH - 45, usegmt=True)}, 0.0),  # a date in the past
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-4"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers, expected):
    assert retry_after(**headers) == expected


@settings(max_examples=60, deadline=None)
@given(retry=st.integers(1, 12), draw=st.floats(0, 1))
def test_backoff_doubles_from_half_a_second_up_to_8_and_jitter_only_shortens(retry, draw):
    policy = RetryPolicy(random=lambda: draw)
    base = min(0.5 * 2 ** (retry - 1), 8.0)

    assert base * 0.75 <= policy.backoff(retry) <= base


def test_server_wait_wins_over_backoff_up_to_120_seconds():
    policy = RetryPolicy(jitter=0)

    assert policy.wait(1, 7.0) == 7.0
    assert policy.wait(1, 500.0) == 120.0
    assert policy.wait(3, None) == 2.0


@pytest.mark.parametrize(("status", "retryable"), [(408, True), (409, True), (429, True), (500, True),
                                                    (599, True), (400, False), (401, False), (404, False)])
def test_retryable_statuses(status, retryable):
    assert status_is_retryable(status) is retryable


def test_timeout_phases_default_to_the_total():
    timeout = LLMTimeout(30, connect=2).as_httpx()

    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (2, 30, 30, 30)
    assert repr(LLMTimeout()) == "LLMTimeout(total=60.0, connect=5.0, read=None, write=None, pool=None)"


def test_bad_knobs_are_refused_with_the_field_named():
    with pytest.raises(ValueError, match=r"LLMTimeout\.connect"):
        LLMTimeout(connect=0)
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="missing advanced"):
        resolve_models({"fast": "a", "balanced": "b"})
