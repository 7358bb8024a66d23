"""A forecast run: the prediction frame of one snapshot (or explicit deals) and what produced it.

The dashboard keeps a run and re-aggregates it on every slider move (``PredictionRun.aggregate``):
the run makes its aggregation inputs once (``AggregationInputs``: its deals grouped by what the
options test) and every aggregation reads those, not the frame.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.cashflow.aggregate import Aggregation, aggregate
from core.cashflow.aggregation_inputs import AggregationInputs
from core.cashflow.assumptions import Assumptions
from core.cashflow.checks import warning_conditions
from core.cashflow.fields import DATE_OUTPUT_COLUMNS
from core.cashflow.models import ForecastOptions
from core.cashflow.rules import RulesPredictions
from core.cashflow.sql import Select
from core.store import Store

if TYPE_CHECKING:  # frames load where they are used (see core.cashflow.service)
    import numpy as np
    import pandas as pd

    from core.cashflow.behaviour import BehaviourModel

#: Titles fetched at least at once for a run's table of its largest deals: a fetch reads the whole
#: snapshot's deal ids whatever it asks for (~60 ms CPU at 1M deals), and 20,000 titles cost ~10 ms
#: more than 1,000 while covering the largest deals of most selections a slider makes.
TITLES_AHEAD = 20_000
#: Sessions of the dashboard share a run: one of them makes its aggregation inputs (or fetches titles).
_INPUTS_LOCK = threading.Lock()


@dataclass(frozen=True)
class PredictionRun:
    """One forecast run: the prediction frame and what produced it."""

    run_id: str
    snapshot_id: int | None
    as_of: dt.date
    engine: str
    assumptions: Assumptions
    #: The per-deal predictions: a frame, or (a lazy rules run, ``service.run``) the DuckDB
    #: SELECT that computes them, made a frame the first time ``frame`` is read.
    predictions: pd.DataFrame | RulesPredictions
    generated_at: dt.datetime
    #: Run-level warnings from the engine or refiner (e.g. the LLM was off or failed).
    warnings: tuple[str, ...] = ()
    #: Open invoices as cash-in items (``receivable_cash.predict_receivables``), when receivables were used.
    receivables: pd.DataFrame | None = None
    receivables_snapshot_id: int | None = None
    #: The customers' payment behaviour learned from that snapshot's invoices paid by as-of.
    behaviour: BehaviourModel | None = None
    #: The store the snapshot's deals were read from without their text (``titled``).
    text_store: Store | None = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """The prediction frame (``fields.PREDICTION_COLUMNS``), one row per deal."""
        if isinstance(self.predictions, RulesPredictions):
            return self.predictions.to_frame()
        return self.predictions

    @property
    def source(self) -> pd.DataFrame | Select:
        """What aggregation and checks read: the rules' SELECT until a frame is made, then the frame."""
        if isinstance(self.predictions, RulesPredictions) and "frame" not in self.__dict__:
            return self.predictions.select
        return self.frame

    def titled(self, frame: pd.DataFrame | None = None) -> pd.DataFrame:
        """``frame`` (rows of ``self.frame``, all of them by default) with its deals' titles.

        A stored snapshot's run reads no titles (``CashflowPredictionService.run``); what
        shows deals fetches the titles of the rows it shows. Explicit deals have theirs."""
        frame = self.frame if frame is None else frame
        if self.text_store is None or self.snapshot_id is None:
            return frame
        found = self.text_store.deal_texts(self.snapshot_id, frame["deal_id"], ("title",))
        return frame.assign(title=found["title"].array)

    def aggregate(self, forecast: ForecastOptions | None = None, *, warnings: bool = False) -> Aggregation:
        """Periods, totals and exclusions of this run under the dashboard's filters; with
        ``warnings``, the run's warnings too, counted in the same pass (the command line).

        The rules' SELECT (a lazy run) is aggregated in one statement; a frame's aggregation inputs
        are made on the first call (with or without the warnings' checks) and kept."""
        checks = warning_conditions(self.as_of, self.assumptions) if warnings else None
        source = self.source
        if not isinstance(source, Select):
            source, checks = self._inputs(warnings, checks), None
        return aggregate(
            source,
            as_of=self.as_of,
            receivables=self.receivables,
            checks=checks,
            **(forecast or ForecastOptions()).model_dump(),
        )

    def _inputs(self, warnings: bool, checks: dict[str, str] | None) -> AggregationInputs:
        """The frame's aggregation inputs with the checks of ``warnings``, made once (the run is
        frozen: they are kept in its ``__dict__``, as ``functools.cached_property`` does)."""
        key = f"_inputs_{'checked' if warnings else 'plain'}"
        with _INPUTS_LOCK:
            if key not in self.__dict__:
                self.__dict__[key] = AggregationInputs(self.frame, checks)
            return self.__dict__[key]

    @functools.cached_property
    def _by_weighted(self) -> np.ndarray:
        """The frame's rows, the largest weighted value first (ties in row order): sorted once,
        so that each table of the largest deals only picks its rows in this order."""
        import numpy as np

        weighted = self.frame["weighted_value"].to_numpy(dtype=np.float64, na_value=0.0)
        return np.argsort(-weighted, kind="stable")

    def _ranked_titles(self, ranks: int) -> pd.api.extensions.ExtensionArray:
        """The titles of the first ``ranks`` rows of ``_by_weighted`` (or more), fetched once: the
        tables of the largest deals show the top of that order, so a slider move usually shows
        deals whose titles are known, and otherwise fetches the next ones: at least as many again,
        and ``TITLES_AHEAD`` in all."""
        import pandas as pd

        with _INPUTS_LOCK:
            known = self.__dict__.get("_titles")
            if known is None or len(known) < ranks:
                start = 0 if known is None else len(known)
                ids = self.frame["deal_id"].take(self._by_weighted[start:max(ranks, 2 * start, TITLES_AHEAD)])
                found = self.text_store.deal_texts(self.snapshot_id, ids)["title"]
                known = found.array if known is None else pd.concat([pd.Series(known), found]).array
                self.__dict__["_titles"] = known
            return known

    def largest(self, mask: np.ndarray, columns: Sequence[str], limit: int | None = None) -> pd.DataFrame:
        """``columns`` of the deals in ``mask``, the largest weighted value first (ties in row order),
        with their titles and dates as days; only the ``limit`` largest when a limit is given."""
        import numpy as np

        from core.cashflow.columns import day_array

        order = self._by_weighted
        ranks = np.flatnonzero(mask[order])[:limit]
        table = self.frame[list(columns)].take(order[ranks]).reset_index(drop=True)
        if self.text_store is not None and self.snapshot_id is not None and len(ranks):
            table = table.assign(title=self._ranked_titles(int(ranks[-1]) + 1).take(ranks))
        else:
            table = self.titled(table)
        for name in DATE_OUTPUT_COLUMNS:
            if name in table:
                table[name] = day_array(table[name])
        return table
