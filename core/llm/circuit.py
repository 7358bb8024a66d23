"""Guards in front of the server: a circuit breaker and a requests-per-minute limiter.

Both run on the client's event loop only; their state changes happen between awaits, so
they need no lock. The clock (epoch seconds) and sleep are injectable for tests.

The breaker counts failed attempts (every request that failed), not calls after their
retries: five calls in flight against a dead server open it after five requests, and the
calls still in flight stop retrying once it is open. Its opening and closing are told to
``on_change`` (the client keeps them in the database, core.llm.circuit_record, so another
process sees them).
"""

from __future__ import annotations

import asyncio
import collections
import enum
import time
from collections.abc import Awaitable, Callable

DEFAULT_FAILURE_THRESHOLD = 5
DEFAULT_RESET_TIMEOUT = 30.0
MINUTE = 60.0


class CircuitState(enum.StrEnum):
    CLOSED = "closed"        # calls go through
    OPEN = "open"            # calls fail at once until reset_timeout has passed
    HALF_OPEN = "half_open"  # one probe call is in flight; its outcome closes or reopens


class CircuitOpenError(Exception):
    """Internal signal: the breaker refused a call; the client turns it into LLMUnavailableError."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(f"retry in {retry_in:.0f} s")
        self.retry_in = retry_in


class CircuitBreaker:
    """Stops calling a server that keeps failing, and tries it again with one probe later.

    Opens after ``failure_threshold`` consecutive failed attempts; after ``reset_timeout``
    seconds the next call is let through as a probe (half-open) while others are refused;
    the probe's success closes the circuit, its failure opens it for another period.
    ``on_change`` is called with the breaker each time it opens or closes.
    """

    def __init__(
        self,
        failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
        reset_timeout: float = DEFAULT_RESET_TIMEOUT,
        *,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[CircuitBreaker], None] | None = None,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.on_change = on_change
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._probing or self._clock() >= self._opened_at + self.reset_timeout:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    @property
    def opened_at(self) -> float | None:
        """When the circuit last opened (epoch seconds); None while closed."""
        return self._opened_at

    @property
    def half_open_at(self) -> float | None:
        """When a probe may go out (epoch seconds); None while closed."""
        return None if self._opened_at is None else self._opened_at + self.reset_timeout

    @property
    def retry_allowed(self) -> bool:
        """Whether a failed call may try again: not once the circuit has opened."""
        return self._opened_at is None

    def restore(self, opened_at: float, failures: int) -> None:
        """Take over an open circuit that another process (or an earlier run) recorded."""
        self._opened_at, self._failures, self._probing = opened_at, failures, False

    def before_call(self) -> None:
        """Admit a call, or raise CircuitOpenError saying how long until the next probe."""
        if self._opened_at is None:
            return
        waited = self._clock() - self._opened_at
        if self._probing or waited < self.reset_timeout:
            raise CircuitOpenError(max(self.reset_timeout - waited, 0.0))
        self._probing = True

    def record_success(self) -> None:
        was_open = self._opened_at is not None
        self._failures = 0
        self._opened_at = None
        self._probing = False
        if was_open:
            self._changed()

    def record_failure(self) -> None:
        """One failed attempt: opens the circuit at the threshold, or when the probe failed.
        Attempts that were in flight when it opened add to the count without reopening it."""
        self._failures += 1
        if self._probing or (self._opened_at is None and self._failures >= self.failure_threshold):
            self._opened_at = self._clock()
            self._probing = False
            self._changed()

    def release(self) -> None:
        """Forget an admitted call that ended with no verdict on the server (e.g. cancelled)."""
        self._probing = False

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)


class RateLimiter:
    """Lets at most ``per_minute`` requests start in any 60-second window (0 = no limit)."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._sleep = sleep
        self._starts: collections.deque[float] = collections.deque()

    async def acquire(self) -> None:
        if self.per_minute <= 0:
            return
        while True:
            now = self._clock()
            while self._starts and now - self._starts[0] >= MINUTE:
                self._starts.popleft()
            if len(self._starts) < self.per_minute:
                self._starts.append(now)
                return
            await self._sleep(MINUTE - (now - self._starts[0]))
