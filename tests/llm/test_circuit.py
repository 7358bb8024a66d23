"""The circuit breaker: open after 5 failed calls, one probe after 30 s, closed by its success."""

from __future__ import annotations

import contextlib

import pytest

from core.llm import CircuitBreaker, CircuitState, LLMStatusError, LLMUnavailableError, RetryPolicy
from core.llm.circuit import CircuitOpenError
from tests.llm.helpers import FakeClock, run
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
