"""Forecast engines and refiners, found through registries that built-ins use too.

An *engine* turns a canonical deals frame into a prediction frame (``rules``, ``learned``,
``auto``). A *refiner* gets the rows an engine produced for deals a policy selected (the
LLM path: unknown stages, stuck deals, or all) and returns better estimates for some of
them; the service merges those and runs the shared ``apply_overrides`` on them, so every
engine's output obeys the same rules. The LLM package registers its refiner under
``"llm"`` with ``register_refiner``; nothing here needs to change for it.

The built-in engines and the LLM refiner live in modules of their own (``BUILT_IN``), imported
the first time their name is looked up: a rules forecast loads none of them.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from core.cashflow.assumptions import Assumptions
from core.cashflow.fields import Flag
from core.cashflow.models import PredictionOptions, ProgressCallback
from core.cashflow.receivables import Receivables
from core.cashflow.rules import RulesPredictions, predict_frame, predictions_relation
from core.deals import FORECAST_COLUMNS
from core.errors import DealcastError
from core.store import Store

if TYPE_CHECKING:  # the LLM package (httpx) loads only when the LLM path runs
    import numpy as np
    import pandas as pd

    from core.llm import LLMClient


class LLMPathUnavailableError(DealcastError):
    """Raised when the LLM path is asked for and no LLM refiner is registered."""


@dataclass(frozen=True)
class EngineContext:
    """What an engine may use: the as-of date, the assumptions, and the store's history up to as-of."""

    as_of: dt.date
    assumptions: Assumptions
    options: PredictionOptions = field(default_factory=PredictionOptions)
    store: Store | None = None
    snapshot_id: int | None = None
    progress: ProgressCallback | None = None
    #: Invoices known at as-of: deals take their organization's learned payment terms from them.
    receivables: Receivables | None = None
    #: The LLM client the service was given for the LLM path (None: the process-wide one).
    llm: LLMClient | None = None
    #: Run-level warnings an engine or refiner adds (e.g. "LLM off"); the run result carries them.
    warnings: list[str] = field(default_factory=list)

    def report(self, done: int, total: int, message: str) -> None:
        if self.progress is not None:
            self.progress(done, total, message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


@dataclass(frozen=True)
class StoredDeals:
    """The deals of a stored snapshot (``deal_ids``: those only), not read yet.

    The rules run inside DuckDB over the stored table (``query``); an engine that works on a
    frame gets ``load()``'s. Only the columns the engines use are read (``FORECAST_COLUMNS``:
    no titles, which ``PredictionRun.titled`` fetches for the deals shown)."""

    store: Store
    snapshot_id: int
    deal_ids: Sequence[str] | None = None

    def query(self) -> tuple[str, list[Any]]:
        """The SQL of the deals as the rules read them (``rules.RULE_INPUTS``, in stored order)."""
        sql, params = self.store.deals_query(
            self.snapshot_id, FORECAST_COLUMNS, deal_ids=self.deal_ids, positions=True
        )
        return f"SELECT *, NULL::VARCHAR AS title FROM ({sql})", params

    def load(self) -> pd.DataFrame:
        return self.store.load_deals(self.snapshot_id, FORECAST_COLUMNS, deal_ids=self.deal_ids)

    def __len__(self) -> int:
        return self._count

    @functools.cached_property
    def _count(self) -> int:
        """How many deals, counted once: a run asks twice (its progress line and its metrics)."""
        sql, params = self.store.deals_query(self.snapshot_id, ("deal_id",), deal_ids=self.deal_ids)
        return self.store.fetchone(f"SELECT count(*) FROM ({sql})", params)[0]


class ForecastEngine(Protocol):
    """Predicts a whole frame of canonical deals; returns one prediction row per deal, in order."""

    def predict(self, deals: pd.DataFrame, context: EngineContext) -> pd.DataFrame: ...


class Refiner(Protocol):
    """Improves the estimates of selected deals.

    Gets the selected deals and their current predictions (same order) and returns a frame
    with ``deal_id``, ``predicted_invoice_date``, ``predicted_payment_date`` (may be NaT),
    ``confidence``, ``method`` (``llm`` or ``llm->rules``) and ``reasoning``; optional
    ``invoice_p10``/``invoice_p90``. Rows it leaves out keep their prediction.
    """

    def refine(
        self, deals: pd.DataFrame, predictions: pd.DataFrame, context: EngineContext
    ) -> pd.DataFrame: ...


class RulesEngine:
    """DESIGN 5.1: the stage table and the rules, no history needed."""

    def predict(self, deals: pd.DataFrame, context: EngineContext) -> pd.DataFrame:
        return predict_frame(deals, context.as_of, context.assumptions, context.receivables)

    def predict_stored(self, cursor: Any, deals: StoredDeals, context: EngineContext) -> RulesPredictions:
        """The same predictions, computed by DuckDB where the deals are stored (on ``cursor``,
        a cursor of their store), as a relation: nothing is read into Python until asked."""
        sql, params = deals.query()
        return predictions_relation(
            cursor, sql, params, context.as_of, context.assumptions, context.receivables
        )


_engines: dict[str, ForecastEngine] = {}
_refiners: dict[str, Refiner] = {}

#: Built-in engine and refiner names -> the module that registers them when imported. A test
#: checks the table against what the modules register.
BUILT_IN_ENGINES: dict[str, str] = {
    "learned": "core.cashflow.learned",
    "naive": "core.cashflow.naive",
    "auto": "core.cashflow.auto",
}
BUILT_IN_REFINERS: dict[str, str] = {"llm": "core.cashflow.llm_refiner"}


def register_engine(name: str, engine: ForecastEngine) -> None:
    """Make ``engine`` available as ``--engine NAME`` and ``PredictionOptions(engine=NAME)``."""
    _engines[name] = engine


def get_engine(name: str) -> ForecastEngine:
    from core.errors import InputError

    if name in BUILT_IN_ENGINES:
        importlib.import_module(BUILT_IN_ENGINES[name])  # registers it, once
    try:
        return _engines[name]
    except KeyError:
        raise InputError(f"Unknown engine {name!r}; choose one of {', '.join(engine_names())}.") from None


def engine_names() -> list[str]:
    return sorted({*_engines, *BUILT_IN_ENGINES})


def register_refiner(name: str, refiner: Refiner | None) -> None:
    """Register (or with None, remove) a refiner; the LLM path is ``"llm"``."""
    if refiner is None:
        _refiners.pop(name, None)
    else:
        _refiners[name] = refiner


def get_refiner(name: str) -> Refiner | None:
    """The refiner registered as ``name``; a built-in one's module is imported (once) first, so a
    refiner removed with ``register_refiner(name, None)`` stays removed."""
    if name in BUILT_IN_REFINERS:
        importlib.import_module(BUILT_IN_REFINERS[name])
    return _refiners.get(name)


def llm_candidates(predictions: pd.DataFrame, policy: str) -> np.ndarray:
    """Rows the LLM policy sends to the refiner: forecast deals whose invoice is not a fact."""
    import numpy as np

    bits = predictions["flag_bits"].to_numpy(dtype=np.int64)
    open_guess = (predictions["kind"] == "forecast").to_numpy() & ~predictions["invoice_is_fact"].to_numpy(
        bool
    )
    unknown = (bits & int(Flag.UNKNOWN_STAGE | Flag.NO_STAGE)) != 0
    stuck = (bits & int(Flag.STUCK)) != 0
    chosen = {
        "all": np.ones(len(bits), dtype=bool),
        "unknown": unknown,
        "stuck": stuck,
        "unknown_and_stuck": unknown | stuck,
    }[policy]
    return open_guess & chosen


register_engine("rules", RulesEngine())
