"""Forecast runs and predict answers the API keeps in memory, so a repeated request is a lookup.

A run depends on the snapshot, the engine and LLM options, the receivables snapshot and the
assumptions version; the horizon, granularity, confidence and filters only change the
aggregation. Both caches are keyed by what their content depends on, resolved from the
database (checked with one statement on every request): a new snapshot (deals or invoices)
makes ``latest`` name another id, and saved assumptions carry a new version, so neither is
ever answered from an old entry.
Like the dashboard, the API does not store its runs' predictions: a BI tool polling a forecast
would otherwise add a snapshot's worth of rows per call.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from core.cashflow.document import forecast_document
from core.cashflow.models import ForecastOptions, PredictionOptions
from core.cashflow.receivables import receivables_snapshot
from core.cashflow.run import PredictionRun
from core.cashflow.service import CashflowPredictionService

#: Runs kept; each holds one snapshot's prediction frame (about 40 MB for 100k deals).
MAX_RUNS = 8
#: Bytes of predict answers kept (a 100k-deal answer with its deals is about 60 MB).
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """Values computed once per key; past ``budget`` (the sum of ``size(value)``) the least
    recently used are let go. Concurrent callers for one key wait for the one computing it."""

    def __init__(self, budget: int, size: Callable[[V], int] = lambda _: 1) -> None:
        self.budget = budget
        self._size = size
        self._entries: OrderedDict[K, Future[V]] = OrderedDict()
        self._sizes: dict[K, int] = {}
        self._lock = threading.Lock()

    def get(self, key: K, compute: Callable[[], V]) -> V:
        with self._lock:
            future = self._entries.get(key)
            owner = future is None
            if owner:
                future = self._entries[key] = Future()
            else:
                self._entries.move_to_end(key)
        if not owner:
            return future.result()
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                if self._entries.get(key) is future:
                    del self._entries[key]
            future.set_exception(exc)
            raise
        future.set_result(value)
        with self._lock:
            if self._entries.get(key) is future:
                self._sizes[key] = self._size(value)
                self._shrink(keep=key)
        return value

    def _shrink(self, keep: K) -> None:
        """Let go of the least recently used finished entries until the rest fit (``keep`` stays)."""
        total = sum(self._sizes.values())
        for key in list(self._entries):
            if total <= self.budget:
                return
            if key != keep and key in self._sizes:
                total -= self._sizes.pop(key)
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._sizes.clear()


RunKey = tuple[str, int, str, bool, str, int | None, int]

#: Changes whenever a snapshot is added or deleted (ids only grow) or assumptions are saved:
#: what "latest", an invoices snapshot and the assumptions version resolve to.
CHANGE_STAMP = (
    "SELECT (SELECT count(*) FROM snapshots), (SELECT max(id) FROM snapshots), "
    "(SELECT max(version) FROM assumptions)"
)
#: Resolved references kept (a handful of stamps times the references clients use).
MAX_RESOLVED = 64


class RunCache:
    """Runs by (database, snapshot, engine, LLM, policy, receivables snapshot, assumptions
    version), and predict answers (JSON bytes) by run and forecast options."""

    def __init__(self, max_runs: int = MAX_RUNS, max_document_bytes: int = MAX_DOCUMENT_BYTES) -> None:
        self._runs: Memo[RunKey, PredictionRun] = Memo(max_runs)
        self._documents: Memo[tuple[RunKey, str, bool], bytes] = Memo(max_document_bytes, len)
        self._resolved: Memo[tuple[Any, ...], tuple[int, int | None, int]] = Memo(MAX_RESOLVED)

    def get(self, service: CashflowPredictionService, snapshot: int | str, options: PredictionOptions
            ) -> PredictionRun:
        """The run of ``snapshot`` with ``options``, computed on the first request for it."""
        return self._run(service, snapshot, options)[1]

    def document(
        self, service: CashflowPredictionService, snapshot: int | str, options: PredictionOptions,
        forecast: ForecastOptions, *, include_deals: bool,
    ) -> bytes:
        """The predict answer (``forecast_document`` as JSON), built on the first request for it."""
        key, run = self._run(service, snapshot, options)
        return self._documents.get(
            (key, forecast.model_dump_json(), include_deals),
            lambda: json.dumps(forecast_document(run, forecast, include_deals=include_deals),
                               default=_plain).encode(),
        )

    def _run(self, service: CashflowPredictionService, snapshot: int | str, options: PredictionOptions
             ) -> tuple[RunKey, PredictionRun]:
        store = service.store
        # One cheap statement says whether anything a run depends on may have changed; the
        # references are resolved again (several statements) only when it did.
        stamp = store.fetchone(CHANGE_STAMP)
        snapshot_id, receivables, version = self._resolved.get(
            (store.database, stamp, str(snapshot), str(options.receivables)),
            lambda: _resolve(service, snapshot, options.receivables),
        )
        # The run uses exactly the invoices snapshot its key names, even if a newer one lands meanwhile.
        options = options.model_copy(update={"store_results": False, "receivables": receivables})
        key: RunKey = (
            store.database, snapshot_id, options.engine, options.use_llm, options.llm_policy,
            receivables, version,
        )
        return key, self._runs.get(key, lambda: service.run(snapshot_id, options))

    def clear(self) -> None:
        self._runs.clear()
        self._documents.clear()
        self._resolved.clear()


def _resolve(service: CashflowPredictionService, snapshot: int | str, receivables: int | str | None
             ) -> tuple[int, int | None, int]:
    """(deals snapshot id, invoices snapshot id or None, assumptions version) a request names."""
    found = service.store.resolve_snapshot(snapshot)
    invoices = receivables_snapshot(service.store, receivables, found.as_of)
    return found.id, None if invoices is None else invoices.id, service.assumptions.version


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")
