"""What the LLM set-up looks like right now, for ``python -m core llm status`` and the pages.

Never includes the API key: only whether one is set.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from core.llm.cache import cache_size
from core.llm.calllog import call_totals
from core.llm.circuit_record import load_circuit
from core.llm.client import LLMClient
from core.store import Store


class CallTotals(BaseModel):
    calls: int = 0
    successes: int = 0
    failures: int = 0
    cache_hits: int = 0
    total_tokens: int = 0
    total_cost_usd: float = 0.0
    cost_unknown_calls: int = 0
    last_call_at: dt.datetime | None = None


class LLMStatus(BaseModel):
    """The client's configuration and state, plus what the store holds about past calls."""

    enabled: bool
    disabled_reason: str | None
    base_url: str
    models: dict[str, str]
    api_key_present: bool
    circuit_state: str
    consecutive_failures: int
    #: When the circuit opened and when a probe may go out (UTC); None while it is closed.
    circuit_opened_at: dt.datetime | None = None
    circuit_half_open_at: dt.datetime | None = None
    cache_rows: int | None = None
    cache_live_rows: int | None = None
    calls: CallTotals | None = None


def llm_status(client: LLMClient, store: Store | None = None) -> LLMStatus:
    """Describe ``client``; with a store, also its cache size and logged call totals, and the
    circuit as the store recorded it: the last opening or closing by any process."""
    status = LLMStatus(
        enabled=client.enabled,
        disabled_reason=client.disabled_reason,
        base_url=client.base_url,
        models=dict(client.models),
        api_key_present=client.has_api_key,
        circuit_state=str(client.circuit_state),
        consecutive_failures=client.breaker.consecutive_failures,
    )
    if store is None:
        return status
    size = cache_size(store)
    update = {
        "cache_rows": size["rows"],
        "cache_live_rows": size["live_rows"],
        "calls": CallTotals(**call_totals(store)),
    }
    circuit = load_circuit(store, client.base_url)
    if circuit is not None and circuit.opened_at is not None:
        now = dt.datetime.fromtimestamp(client.clock(), dt.UTC).replace(tzinfo=None)
        update |= {
            "circuit_state": str(circuit.state(now)),
            "consecutive_failures": circuit.failures,
            "circuit_opened_at": circuit.opened_at.replace(tzinfo=dt.UTC),
            "circuit_half_open_at": circuit.half_open_at.replace(tzinfo=dt.UTC),
        }
    return status.model_copy(update=update)


def format_circuit(status: LLMStatus, now: dt.datetime | None = None) -> str:
    """``closed``, or when it opened (and how long ago), after how many failed attempts, and
    when a probe may go out."""
    if status.circuit_opened_at is None or status.circuit_half_open_at is None:
        failures = status.consecutive_failures
        return status.circuit_state + (f" ({failures} failed attempts in a row)" if failures else "")
    now = now or dt.datetime.now(dt.UTC)
    opened, probe = status.circuit_opened_at, status.circuit_half_open_at
    when = "now" if probe <= now else f"at {probe:%H:%M:%S} UTC (in {_seconds(probe - now)})"
    return (
        f"{status.circuit_state} since {opened:%Y-%m-%d %H:%M:%S} UTC ({_seconds(now - opened)} ago) after "
        f"{status.consecutive_failures} failed attempts; a probe may go out {when}"
    )


def _seconds(span: dt.timedelta) -> str:
    seconds = max(span.total_seconds(), 0)
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
