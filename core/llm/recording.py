"""What happens after every call: metrics, the ``llm_calls`` row, one log line, the cache.

A call is recorded whatever its outcome (success, failure, cache hit). Log lines are
``key=value`` pairs joined by `` | ``; prompt text is logged only at DEBUG, by the client,
and the API key never, since every error text passes through ``redact`` first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import duckdb

from core.errors import DealcastError
from core.llm.cache import ResponseCache, cache_key
from core.llm.calllog import CallRecord, write_call
from core.llm.calls import Call
from core.llm.errors import LLMError
from core.llm.metrics import Metrics
from core.llm.models import LLMResponse
from core.llm.usage import Usage
from core.monitoring import llm_call_recorded
from core.store import Store

logger = logging.getLogger("core.llm")


class Recorder:
    """Keeps metrics, writes call rows and cached replies (when there is a store), logs."""

    def __init__(
        self, store: Store | None, cache_ttl: float, base_url: str, *,
        clock: Callable[[], float], redact: Callable[[str], str], cache_max_rows: int,
    ) -> None:
        self.store = store
        self.metrics = Metrics()
        self.base_url = base_url
        caching = store is not None and cache_ttl > 0
        self._cache = (
            ResponseCache(store, cache_ttl, max_rows=cache_max_rows, clock=clock) if caching else None
        )
        self._clock = clock
        self._redact = redact

    # -- cache -------------------------------------------------------------------------

    def cached(self, call: Call, started: float) -> LLMResponse | None:
        """The cached reply to this call, flagged as a hit with zero usage; None on a miss."""
        if self._cache is None or not call.use_cache:
            return None
        stored = None  # a cache the store cannot read (busy: another session marks the row) is a miss
        with store_errors_logged("cache read"):
            stored = self._cache.get(self._key(call))
        if stored is None:
            return None
        return LLMResponse(
            **stored, usage=Usage(), attempts=0, cache_hit=True,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def remember(self, call: Call, response: LLMResponse) -> None:
        """Cache a fresh reply that the caller accepted."""
        if self._cache is None or not call.use_cache or response.cache_hit:
            return
        stored = response.model_dump(include={"content", "model", "finish_reason", "request_id"})
        with store_errors_logged("cache"):
            self._cache.put(self._key(call), response.model, stored)

    def _key(self, call: Call) -> str:
        return cache_key(self.base_url, call.model, call.messages, call.parameters)

    # -- records -----------------------------------------------------------------------

    def record(
        self, call: Call, response: LLMResponse | None, *,
        error: LLMError | None = None, started: float = 0.0,
    ) -> None:
        """Count the call, write its ``llm_calls`` row, log one line.

        A failure may still carry the reply it could not use (tokens were spent on it).
        """
        usage = response.usage if response else Usage()
        record = CallRecord(
            ts=dt.datetime.fromtimestamp(self._clock(), dt.UTC).replace(tzinfo=None),
            prompt_id=call.prompt_id,
            prompt_version=call.prompt_version,
            variant=call.variant,
            model=response.model if response else call.model,
            tier=call.tier,
            status="failure" if error else "success",
            attempts=response.attempts if response else (error.attempts if error else 0),
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            total_tokens=usage.total_tokens,
            cost_usd=usage.cost_usd,
            latency_ms=response.latency_ms if response else (time.perf_counter() - started) * 1000,
            error_type=type(error).__name__ if error else None,
            cache_hit=bool(response and response.cache_hit),
            request_id=response.request_id if response else None,
        )
        self.metrics.record(record)
        llm_call_recorded(record)
        if self.store is not None:
            with store_errors_logged("call log"):
                write_call(self.store, record)
        self._log(record, error)

    def _log(self, record: CallRecord, error: LLMError | None) -> None:
        if not logger.isEnabledFor(logging.WARNING if error else logging.INFO):
            return
        fields: dict[str, Any] = {
            "model": record.model,
            "tier": record.tier,
            "prompt_id": record.prompt_id,
            "prompt_version": record.prompt_version,
            "prompt_tokens": record.prompt_tokens,
            "completion_tokens": record.completion_tokens,
            "cached_tokens": record.cached_tokens,
            "total_tokens": record.total_tokens,
            "estimated_cost_usd": "unknown" if record.cost_usd is None else f"{record.cost_usd:.6f}",
            "response_time_ms": f"{record.latency_ms:.1f}",
            "attempts": record.attempts,
            "cache_hit": str(record.cache_hit).lower(),
            "success": str(error is None).lower(),
        }
        if error is not None:
            fields.update(error_type=type(error).__name__, error=self._redact(error.message))
        line = " | ".join(f"{name}={value}" for name, value in fields.items() if value is not None)
        if error is None:
            logger.info("LLM request completed | %s", line, extra=fields)
        else:
            logger.warning("LLM request failed | %s", line, extra=fields)


@contextlib.contextmanager
def store_errors_logged(what: str) -> Iterator[None]:
    """A broken (or busy, or read-only) store must not fail an LLM call: log it and go on."""
    try:
        yield
    except (duckdb.Error, RuntimeError, DealcastError) as exc:
        logger.warning("LLM %s skipped: the store failed | error=%s: %s", what, type(exc).__name__, exc)
