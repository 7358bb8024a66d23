"""The circuit breaker's state in the database (``llm_circuit``), so every process sees it.

A breaker opens in whichever process found the server failing (a forecast run from the
command line, the dashboard, the API). Its opening and closing are written here, one row per
server (the masked base URL), with when it opened, after how many failed attempts, and when a
probe may go out. ``llm status`` in any process reads it, and a client that starts while the
circuit is open starts open too, instead of sending the dead server another round of requests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from core.llm.circuit import CircuitBreaker, CircuitState
from core.llm.recording import store_errors_logged
from core.store import Store


@dataclass(frozen=True)
class CircuitRecord:
    """The breaker's last change as stored (times in UTC; ``opened_at`` None: closed)."""

    base_url: str
    failures: int
    opened_at: dt.datetime | None
    half_open_at: dt.datetime | None
    updated_at: dt.datetime

    def state(self, now: dt.datetime) -> CircuitState:
        if self.opened_at is None or self.half_open_at is None:
            return CircuitState.CLOSED
        return CircuitState.OPEN if now < self.half_open_at else CircuitState.HALF_OPEN


def save_circuit(store: Store, base_url: str, breaker: CircuitBreaker, now: float) -> None:
    """Write the breaker's state for ``base_url`` (replacing the row before)."""
    store.cursor().execute(
        "INSERT OR REPLACE INTO llm_circuit (base_url, failures, opened_at, half_open_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?)",
        [base_url, breaker.consecutive_failures, _utc(breaker.opened_at), _utc(breaker.half_open_at),
         _utc(now)],
    )


def load_circuit(store: Store, base_url: str) -> CircuitRecord | None:
    """The stored state for ``base_url``; None when no process has recorded one."""
    row = store.cursor().execute(
        "SELECT base_url, failures, opened_at, half_open_at, updated_at FROM llm_circuit WHERE base_url = ?",
        [base_url],
    ).fetchone()
    return None if row is None else CircuitRecord(*row)


def keep_in_store(breaker: CircuitBreaker, store: Store, base_url: str, clock: Callable[[], float]) -> None:
    """Start from the circuit the store recorded for ``base_url`` when it is open, and record
    every opening and closing of ``breaker`` there from now on. A store that cannot be read or
    written is logged and left out: it must not stop LLM calls."""
    record = None
    with store_errors_logged("circuit state read"):
        record = load_circuit(store, base_url)
    if record is not None and record.opened_at is not None:
        breaker.restore(record.opened_at.replace(tzinfo=dt.UTC).timestamp(), record.failures)

    def save(changed: CircuitBreaker) -> None:
        with store_errors_logged("circuit state"):
            save_circuit(store, base_url, changed, clock())

    breaker.on_change = save


def _utc(epoch: float | None) -> dt.datetime | None:
    """Epoch seconds as a naive UTC timestamp (DuckDB's TIMESTAMP)."""
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None)
