"""The circuit breaker: open after 5 failed attempts, one probe after 30 s, closed by its success;
its state kept in the database, so every process sees it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import threading

import pytest

from core.cli import main
from core.config import get_settings
from core.llm import (
    CircuitBreaker,
    CircuitState,
    LLMClient,
    LLMStatusError,
    LLMUnavailableError,
    RetryPolicy,
    format_circuit,
    llm_status,
)
from core.llm.circuit import CircuitOpenError
from core.store import Store
from tests.llm.helpers import EPOCH, FakeClock, ask, run
from tests.support.openai_server import Reply


def failing_breaker(clock: FakeClock, failures: int = 5) -> CircuitBreaker:
    breaker = CircuitBreaker(clock=clock)
    for _ in range(failures):
        breaker.before_call()
        breaker.record_failure()
    return breaker


def test_breaker_opens_after_five_consecutive_failures():
    clock = FakeClock()
    assert failing_breaker(clock, 4).state is CircuitState.CLOSED
    breaker = failing_breaker(clock, 5)

    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError) as caught:
        breaker.before_call()
    assert caught.value.retry_in == 30


def test_a_success_resets_the_failure_count():
    breaker = failing_breaker(FakeClock(), 4)
    breaker.record_success()
    breaker.record_failure()

    assert (breaker.state, breaker.consecutive_failures) == (CircuitState.CLOSED, 1)


def test_breaker_lets_one_probe_through_after_30_seconds():
    clock = FakeClock()
    breaker = failing_breaker(clock)
    clock.advance(30)

    assert breaker.state is CircuitState.HALF_OPEN
    breaker.before_call()  # the probe
    with pytest.raises(CircuitOpenError):
        breaker.before_call()  # everyone else waits for its verdict
    breaker.record_success()

    assert breaker.state is CircuitState.CLOSED
    breaker.before_call()


def test_a_failed_probe_opens_the_circuit_for_another_period():
    clock = FakeClock()
    breaker = failing_breaker(clock)
    clock.advance(30)
    breaker.before_call()
    breaker.record_failure()

    assert breaker.state is CircuitState.OPEN
    clock.advance(29)
    with pytest.raises(CircuitOpenError):
        breaker.before_call()


def test_a_cancelled_probe_frees_the_slot_for_the_next_one():
    clock = FakeClock()
    breaker = failing_breaker(clock)
    clock.advance(30)
    breaker.before_call()
    breaker.release()

    breaker.before_call()  # a new probe is allowed
    assert breaker.state is CircuitState.HALF_OPEN


def test_client_fails_fast_while_the_circuit_is_open_then_probes(make_client, openai_server, clock):
    openai_server.script(*[Reply.error(503)] * 5, Reply.text("healthy again"))
    client = make_client(retry=RetryPolicy(max_retries=0))

    async def scenario(c):
        for _ in range(5):
            with contextlib.suppress(LLMStatusError):
                await c.generate_completion(user_prompt="hi")
        assert c.circuit_state is CircuitState.OPEN
        with pytest.raises(LLMUnavailableError, match="circuit breaker is open"):
            await c.generate_completion(user_prompt="hi")
        requests_while_open = len(openai_server.requests)
        clock.advance(30)
        reply = await c.generate_completion(user_prompt="hi")
        return requests_while_open, reply

    requests_while_open, reply = run(client, scenario)

    assert requests_while_open == 5
    assert reply.content == "healthy again"
    assert client.circuit_state is CircuitState.CLOSED
    metrics = client.get_metrics()
    assert (metrics["failure_count"], metrics["errors_by_type"]["LLMUnavailableError"]) == (6, 1)


def test_client_errors_of_the_caller_do_not_open_the_circuit(make_client, openai_server):
    openai_server.script(*[Reply.error(400, "bad request")] * 6)
    client = make_client()

    async def scenario(c):
        for _ in range(6):
            with contextlib.suppress(LLMStatusError):
                await c.generate_completion(user_prompt="hi")

    run(client, scenario)

    assert client.circuit_state is CircuitState.CLOSED
    assert len(openai_server.requests) == 6


# -- failed attempts, not calls: calls in flight against a failing server -------------------


def test_five_calls_in_flight_open_the_breaker_after_five_failed_requests(make_client, openai_server):
    """Each call would retry 3 times (20 requests); the breaker opens on the 5th failed attempt and
    every call stops there, and the next call is refused without a request."""
    first_five = threading.Barrier(5, timeout=60)

    def failing(body):
        if len(openai_server.requests) <= 5:
            first_five.wait()  # all five calls are in flight before any failure comes back
        return Reply.error(503)

    openai_server.responder = failing
    client = make_client(sleep=asyncio.sleep, retry=RetryPolicy(initial_backoff=0.2, jitter=0.0))

    async def scenario(c):
        calls = [c.generate_completion(user_prompt=f"hi {n}") for n in range(5)]
        failed = await asyncio.gather(*calls, return_exceptions=True)
        with pytest.raises(LLMUnavailableError, match="open after 5 failed attempts in a row"):
            await c.generate_completion(user_prompt="one more")
        return failed

    failed = run(client, scenario)

    assert [type(error) for error in failed] == [LLMStatusError] * 5
    assert [error.attempts for error in failed] == [1] * 5
    assert len(openai_server.requests) == 5
    assert client.circuit_state is CircuitState.OPEN


def test_a_failed_probe_sends_one_request_and_reopens(make_client, openai_server, clock):
    openai_server.responder = lambda body: Reply.error(503)
    breaker = failing_breaker(clock)
    client = make_client(circuit_breaker=breaker)
    clock.advance(30)

    with pytest.raises(LLMStatusError):
        ask(client)

    assert len(openai_server.requests) == 1  # the probe's retries are not spent on a dead server
    assert breaker.state is CircuitState.OPEN and breaker.opened_at == clock.now


# -- the breaker's state in the database: every process sees it ------------------------------


def open_the_circuit(client) -> None:
    async def scenario(c):
        for _ in range(5):
            with contextlib.suppress(LLMStatusError):
                await c.generate_completion(user_prompt="hi")

    run(client, scenario)


def test_an_open_circuit_is_in_the_database_with_when_it_opened_and_may_half_open(
    make_client, openai_server, clock, db_path
):
    openai_server.responder = lambda body: Reply.error(503)
    with Store(db_path) as store:
        open_the_circuit(make_client(retry=RetryPolicy(max_retries=0), store=store))
    clock.advance(12)

    # A new Store on the file and a new client: nothing of the first one's memory.
    with Store(db_path) as store:
        status = llm_status(make_client(), store)

    assert (status.circuit_state, status.consecutive_failures) == ("open", 5)
    opened = dt.datetime.fromtimestamp(EPOCH, dt.UTC)
    half_open = opened + dt.timedelta(seconds=30)
    assert (status.circuit_opened_at, status.circuit_half_open_at) == (opened, half_open)
    assert format_circuit(status, now=opened + dt.timedelta(seconds=12)) == (
        "open since 2026-01-05 12:00:00 UTC (12 s ago) after 5 failed attempts; "
        "a probe may go out at 12:00:30 UTC (in 18 s)"
    )
    clock.advance(18)
    with Store(db_path) as store:
        assert llm_status(make_client(), store).circuit_state == "half_open"


def test_a_new_client_starts_open_sends_nothing_then_probes_after_the_cool_down(
    make_client, openai_server, clock, db_path
):
    openai_server.responder = lambda body: Reply.error(503)
    with Store(db_path) as store:
        open_the_circuit(make_client(retry=RetryPolicy(max_retries=0), store=store))
    sent = len(openai_server.requests)
    openai_server.responder = lambda body: Reply.text("healthy again")

    with Store(db_path) as store:
        client = make_client(store=store)
        assert client.circuit_state is CircuitState.OPEN
        with pytest.raises(LLMUnavailableError):
            ask(make_client(store=store))
        assert len(openai_server.requests) == sent
        clock.advance(30)
        assert ask(make_client(store=store)).content == "healthy again"  # the probe closes it
        status = llm_status(make_client(), store)

    assert (status.circuit_state, status.circuit_opened_at) == ("closed", None)


def test_llm_status_in_another_process_says_open_since(openai_server, db_path, monkeypatch, capsys):
    """``python -m core llm status`` builds its own client: what it says comes from the database."""
    openai_server.responder = lambda body: Reply.error(503)
    monkeypatch.setenv("DEALCAST_LLM_BASE_URL", openai_server.base_url)
    get_settings.cache_clear()
    try:
        with Store(db_path) as store:
            open_the_circuit(LLMClient(get_settings(), store=store, retry=RetryPolicy(max_retries=0)))
        assert main(["llm", "status", "--db", db_path]) == 0
    finally:
        get_settings.cache_clear()

    (circuit,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Circuit:")]
    assert re.fullmatch(
        r"Circuit: +open since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(\d+ s ago\) after 5 failed attempts; "
        r"a probe may go out at \d\d:\d\d:\d\d UTC \(in \d+ s\)",
        circuit,
    ), circuit
