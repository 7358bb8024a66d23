"""Forecast runs the API keeps in memory, so repeated requests for a snapshot cost an aggregation.

A run depends on the snapshot, the engine and LLM options, the receivables snapshot and the
assumptions version; the horizon, granularity, confidence and filters only change the
aggregation. Like the dashboard, the API does not store its runs' predictions: a BI tool
polling a forecast would otherwise add a snapshot's worth of rows per call.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future

from core.cashflow.models import PredictionOptions
from core.cashflow.run import PredictionRun
from core.cashflow.service import CashflowPredictionService

#: Runs kept; each holds one snapshot's prediction frame (about 40 MB for 100k deals).
MAX_RUNS = 8

RunKey = tuple[str, int, str, bool, str, str, int]


class RunCache:
    """Runs by (database, snapshot, engine, LLM, policy, receivables, assumptions version).

    Concurrent requests for the same run wait for the one computing it instead of each
    computing their own.
    """

    def __init__(self, max_runs: int = MAX_RUNS) -> None:
        self.max_runs = max_runs
        self._runs: OrderedDict[RunKey, Future[PredictionRun]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, service: CashflowPredictionService, snapshot: int | str, options: PredictionOptions
            ) -> PredictionRun:
        found = service.store.resolve_snapshot(snapshot)
        options = options.model_copy(update={"store_results": False})
        key: RunKey = (
            service.store.database, found.id, options.engine, options.use_llm, options.llm_policy,
            str(options.receivables), service.assumptions.version,
        )
        with self._lock:
            future = self._runs.get(key)
            owner = future is None
            if owner:
                future = self._runs[key] = Future()
            else:
                self._runs.move_to_end(key)
            while len(self._runs) > self.max_runs:
                self._runs.popitem(last=False)
        if not owner:
            return future.result()
        try:
            run = service.run(found.id, options)
        except BaseException as exc:
            with self._lock:
                self._runs.pop(key, None)
            future.set_exception(exc)
            raise
        future.set_result(run)
        return run

    def clear(self) -> None:
        with self._lock:
            self._runs.clear()
