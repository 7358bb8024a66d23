"""Backtest (DESIGN 5.5): forecast from an earlier snapshot, compare with what happened later.

The forecast uses only what was known at the ``from`` snapshot (engines read history up to
its as-of). What happened comes from the snapshots up to ``to`` (``history.deal_facts``):
invoice events (invoice date, else entry into an invoiced stage, else the won date),
payments, and losses. Only deals of the ``from`` snapshot are scored; deals whose invoice
was already a fact then are not scored on invoice dates (nothing was predicted), but they
are on payments.

The figures, for every engine and always for the ``naive`` baseline beside it:

- ``invoice_mae_days`` / ``bias_days``: predicted minus actual invoice event (the close
  date, when the CRM has no invoice dates) of the deals invoiced between the snapshots;
- ``invoice_value_wape``: per period (weeks up to ``WEEKLY_UP_TO_DAYS`` apart, else
  months), the weighted value predicted to be invoiced against the value that was, summed
  absolute errors over the actual total. It scores whenever outcomes are known, with or
  without payment dates; ``wape`` is the same for cash in, weekly, when payments are known;
- ``band_coverage``: how often the invoice event fell inside the P10..P90 band, over the
  deals invoiced between the snapshots. Deals invoiced after ``to`` are not known yet, so a
  short span favours bands that are too early; deals still open may yet be lost, so
  counting them as misses would punish right bands. Far-apart snapshots score it best;
- ``calibration``: predicted win chance against the share won, per tenth of probability,
  over the deals open at ``from`` that were won or lost by ``to``; ``probability_brier``
  the mean squared error of those chances. The same for the CRM's own probabilities
  (``crm_calibration``), and ``notes`` says where either is miscalibrated;
- ``naive``: all of the above for the naive baseline (overall win rate x median time left
  given age, ``core.cashflow.naive``) on the same snapshots, and ``skill`` = 1 - the
  engine's invoice-value WAPE over the naive one's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from pydantic import BaseModel

from core.cashflow.aggregate import period_label, period_starts
from core.cashflow.assumptions import Assumptions
from core.cashflow.columns import day_array
from core.cashflow.history import days_to_dates, deal_facts, read_arrow
from core.cashflow.models import PredictionOptions
from core.cashflow.service import CashflowPredictionService
from core.errors import InputError
from core.store import SnapshotRef, Store

#: Backtests spanning up to this many days score invoice value per ISO week, longer ones per month.
WEEKLY_UP_TO_DAYS = 92
BASELINE = "naive"


class CalibrationRow(BaseModel):
    """Deals whose predicted win chance fell in [low, high), and how many of them were won."""

    low: float
    high: float
    deals: int
    predicted: float
    observed: float


class BacktestResult(BaseModel):
    """Errors of one engine's forecast from ``from_snapshot`` against later snapshots."""

    from_snapshot: int
    to_snapshot: int
    from_as_of: str
    to_as_of: str
    engine: str
    deals_evaluated: int
    payments_evaluated: int
    invoice_mae_days: float | None
    payment_mae_days: float | None
    bias_days: float | None
    wape: float | None
    band_coverage: float | None
    period: str = "week"
    invoice_value_wape: float | None = None
    outcomes_evaluated: int = 0
    probability_brier: float | None = None
    calibration: list[CalibrationRow] = []
    #: The same figures for the deals' own (CRM) probabilities, where the snapshot has them.
    crm_probability_brier: float | None = None
    crm_calibration: list[CalibrationRow] = []
    #: What the figures say in words (miscalibrated probabilities, skill over the naive row).
    notes: list[str] = []
    #: The naive baseline's figures on the same snapshots (absent for the naive engine itself).
    naive: BacktestResult | None = None

    @property
    def skill(self) -> float | None:
        """1 - this engine's invoice-value WAPE over the naive row's: above 0 beats the baseline."""
        base = self.naive.invoice_value_wape if self.naive is not None else None
        if base is None or self.invoice_value_wape is None or base == 0:
            return None
        return round(1 - self.invoice_value_wape / base, 4)

    def as_json(self) -> dict[str, object]:
        """The command line's JSON: ``from`` and ``to`` are snapshot ids; ``naive`` nests the baseline."""
        data = self.model_dump(exclude={"naive"})
        out = {"from": data.pop("from_snapshot"), "to": data.pop("to_snapshot"), **data, "skill": self.skill}
        if self.naive is not None:
            out["naive"] = self.naive.as_json()
        return out


def _mean(values: np.ndarray) -> float | None:
    return round(float(values.mean()), 2) if len(values) else None


def _wape(predicted: pd.Series, actual: pd.Series) -> float | None:
    total = actual.sum()
    return round(float((predicted - actual).abs().sum() / total), 4) if total > 0 else None


@dataclass(frozen=True)
class BacktestDetail:
    """What an engine's backtest is scored on, for charts; ``result`` holds its metrics.

    ``deals``: the scored deals with deal_id, title, stage, predicted/actual invoice and
    payment dates, ``invoice_error_days`` / ``payment_error_days`` (predicted minus actual;
    missing when that date was not scored) and ``invoice_in_band``. ``weeks``: period,
    start, predicted_cash (weighted, by predicted payment date), actual_cash (deal value,
    by actual payment date), per ISO week from..to. ``periods``: period, start,
    predicted_value (weighted, by predicted invoice date) and actual_value (deal value, by
    invoice event) per ``result.period``.
    """

    result: BacktestResult
    deals: pd.DataFrame
    weeks: pd.DataFrame
    periods: pd.DataFrame

    def errors(self) -> pd.DataFrame:
        """Long form for a histogram: engine, kind (invoice or payment), error_days."""
        parts = {
            kind: self.deals[f"{kind}_error_days"].dropna().to_numpy(dtype=np.float64)
            for kind in ("invoice", "payment")
        }
        return pd.DataFrame(
            {
                "engine": self.result.engine,
                "kind": np.repeat(list(parts), [len(v) for v in parts.values()]),
                "error_days": np.concatenate(list(parts.values())),
            }
        )


def run_backtest(
    store: Store,
    from_ref: SnapshotRef,
    to_ref: SnapshotRef = "latest",
    *,
    engine: str = "rules",
    assumptions: Assumptions | None = None,
    min_samples: int | None = None,
) -> BacktestResult:
    """Forecast from ``from_ref`` with ``engine``; score it against ``to_ref`` and the snapshots between.

    The result carries the naive baseline's figures on the same snapshots (``naive``)."""
    return backtest_detail(
        store, from_ref, to_ref, engine=engine, assumptions=assumptions, min_samples=min_samples
    ).result


def backtest_detail(
    store: Store,
    from_ref: SnapshotRef,
    to_ref: SnapshotRef = "latest",
    *,
    engine: str = "rules",
    assumptions: Assumptions | None = None,
    min_samples: int | None = None,
    baseline: bool = True,
) -> BacktestDetail:
    """``run_backtest`` with the scored deals and the periods behind its metrics; ``baseline=False``
    leaves out the naive row (``result.naive`` is None)."""
    result = _detail(store, from_ref, to_ref, engine, assumptions, min_samples)
    if baseline and engine != BASELINE:
        naive = _detail(store, from_ref, to_ref, BASELINE, assumptions, min_samples).result
        result = replace(result, result=_with_naive(result.result, naive))
    return result


def _with_naive(result: BacktestResult, naive: BacktestResult) -> BacktestResult:
    notes = list(result.notes)
    if result.invoice_value_wape is not None and naive.invoice_value_wape is not None:
        better = "better" if result.invoice_value_wape < naive.invoice_value_wape else "not better"
        notes.append(
            f"{result.engine}: invoice-value WAPE {result.invoice_value_wape:.2f} against the naive "
            f"baseline's {naive.invoice_value_wape:.2f}, {better} than overall win rate x median time left"
        )
    return result.model_copy(update={"naive": naive, "notes": notes})


def _detail(
    store: Store,
    from_ref: SnapshotRef,
    to_ref: SnapshotRef,
    engine: str,
    assumptions: Assumptions | None,
    min_samples: int | None,
) -> BacktestDetail:
    start, end = store.resolve_snapshot(from_ref), store.resolve_snapshot(to_ref)
    if not start.as_of < end.as_of:
        raise InputError(
            f"The 'to' snapshot ({end.id}, as of {end.as_of}) must be later than the 'from' "
            f"snapshot ({start.id}, as of {start.as_of})."
        )
    options = PredictionOptions(engine=engine, store_results=False)
    if min_samples is not None:
        options = options.model_copy(update={"min_samples": min_samples})
    run = CashflowPredictionService(store, assumptions=assumptions).run(start.id, options)
    frame = run.titled()

    facts = deal_facts(store, end.as_of, run.assumptions, with_ids=True)
    facts = facts.set_index(facts["deal_id"].astype(str)).reindex(frame["deal_id"].astype(str))
    actual_invoice = days_to_dates(facts["invoice_event"].to_numpy())
    actual_payment = days_to_dates(facts["payment_event"].to_numpy())
    lost = ~np.isnan(facts["lost"].to_numpy())
    first, last = np.datetime64(start.as_of, "D"), np.datetime64(end.as_of, "D")
    forecast = (frame["kind"] == "forecast").to_numpy()
    # An invoice event before 'from' was history then, whatever the engine made of it.
    guessed = forecast & ~frame["invoice_is_fact"].to_numpy(bool) & ~(actual_invoice < first)
    invoice_scored = guessed & (actual_invoice >= first) & (actual_invoice <= last)
    paid = forecast & (actual_payment >= first) & (actual_payment <= last)
    predicted_invoice = day_array(frame["predicted_invoice_date"])
    predicted_payment = day_array(frame["predicted_payment_date"])
    p10, p90 = day_array(frame["invoice_p10"]), day_array(frame["invoice_p90"])
    in_band = (p10 <= actual_invoice) & (actual_invoice <= p90)

    def error(predicted: np.ndarray, actual: np.ndarray, scored: np.ndarray) -> np.ndarray:
        return np.where(scored, (predicted - actual).astype("timedelta64[D]").astype(np.float64), np.nan)

    deals = pd.DataFrame(
        {
            "deal_id": frame["deal_id"],
            "title": frame["title"],
            "stage": frame["stage"],
            "predicted_invoice": predicted_invoice,
            "actual_invoice": actual_invoice,
            "invoice_error_days": error(predicted_invoice, actual_invoice, invoice_scored),
            "invoice_in_band": np.where(invoice_scored, in_band, False),
            "predicted_payment": predicted_payment,
            "actual_payment": actual_payment,
            "payment_error_days": error(predicted_payment, actual_payment, paid),
        }
    )[invoice_scored | paid].reset_index(drop=True)
    weighted = frame["weighted_value"].to_numpy(dtype=np.float64, na_value=0.0)
    value = np.nan_to_num(frame["value_base"].to_numpy(dtype=np.float64, na_value=np.nan))
    weeks = _per_period(
        weighted, value, forecast, paid, predicted_payment, actual_payment, start.as_of, end.as_of, "week"
    ).rename(columns={"predicted": "predicted_cash", "actual": "actual_cash"})
    granularity = "week" if (end.as_of - start.as_of).days <= WEEKLY_UP_TO_DAYS else "month"
    periods = _per_period(
        weighted,
        value,
        guessed,
        invoice_scored,
        predicted_invoice,
        actual_invoice,
        start.as_of,
        end.as_of,
        granularity,
    ).rename(columns={"predicted": "predicted_value", "actual": "actual_value"})

    open_deal = guessed & (frame["status"].str.lower().to_numpy(dtype=object, na_value="open") == "open")
    won = ~np.isnat(actual_invoice) & (actual_invoice <= last)
    known = open_deal & (won | lost)
    probability = frame["probability"].to_numpy(dtype=np.float64, na_value=np.nan)
    known &= ~np.isnan(probability)
    invoice_error = deals["invoice_error_days"].dropna().to_numpy()
    payment_error = deals["payment_error_days"].dropna().to_numpy()
    crm = _crm_probability(store, start.id, frame["deal_id"])
    crm_known = open_deal & (won | lost) & ~np.isnan(crm)
    table = calibration(probability[known], won[known])
    crm_table = calibration(crm[crm_known], won[crm_known])
    result = BacktestResult(
        from_snapshot=start.id,
        to_snapshot=end.id,
        from_as_of=start.as_of.isoformat(),
        to_as_of=end.as_of.isoformat(),
        engine=engine,
        deals_evaluated=len(invoice_error),
        payments_evaluated=len(payment_error),
        invoice_mae_days=_mean(np.abs(invoice_error)),
        payment_mae_days=_mean(np.abs(payment_error)),
        bias_days=_mean(invoice_error),
        band_coverage=_mean(in_band[invoice_scored].astype(np.float64)),
        wape=_wape(weeks["predicted_cash"], weeks["actual_cash"]),
        period=granularity,
        invoice_value_wape=_wape(periods["predicted_value"], periods["actual_value"]),
        outcomes_evaluated=int(known.sum()),
        probability_brier=_mean((probability[known] - won[known]) ** 2) if known.any() else None,
        calibration=table,
        crm_probability_brier=_mean((crm[crm_known] - won[crm_known]) ** 2) if crm_known.any() else None,
        crm_calibration=crm_table,
        notes=[
            *_miscalibrated(f"{engine}: win chances", table),
            *_miscalibrated("the CRM's own probabilities", crm_table),
        ],
    )
    return BacktestDetail(result=result, deals=deals, weeks=weeks, periods=periods)


#: A tenth of probability with at least this many deals whose share won is further than
#: ``MISCALIBRATED_BY`` from what was predicted makes the backtest say the chances are off.
MISCALIBRATED_DEALS, MISCALIBRATED_BY = 20, 0.15


def _miscalibrated(what: str, table: list[CalibrationRow]) -> list[str]:
    """A sentence for each well-filled tenth whose share won is far from its prediction."""
    return [
        f"{what} are miscalibrated: {row.deals} deals given {row.predicted:.2f} on average "
        f"were won {row.observed:.2f} of the time"
        for row in table
        if row.deals >= MISCALIBRATED_DEALS and abs(row.observed - row.predicted) > MISCALIBRATED_BY
    ]


def _crm_probability(store: Store, snapshot_id: int, deal_ids: pd.Series) -> np.ndarray:
    """Each deal's own probability in the snapshot, as its CRM gave it (NaN where blank)."""
    table = read_arrow(
        store,
        "SELECT deal_id, probability FROM deals WHERE snapshot_id = $id AND probability IS NOT NULL",
        {"id": snapshot_id},
    )
    own = pd.Series(
        table.column("probability").to_numpy(), index=table.column("deal_id").to_pylist(), dtype=np.float64
    )
    return own.reindex(deal_ids.astype(str)).to_numpy(dtype=np.float64, na_value=np.nan)


def calibration(probability: np.ndarray, won: np.ndarray) -> list[CalibrationRow]:
    """Per tenth of predicted win chance (1.0 in the top one): deals, mean predicted, share won."""
    tenth = np.minimum(np.floor(probability * 10), 9).astype(np.int64)
    rows = []
    for bin_ in np.unique(tenth):
        chosen = tenth == bin_
        rows.append(
            CalibrationRow(
                low=bin_ / 10,
                high=(bin_ + 1) / 10,
                deals=int(chosen.sum()),
                predicted=round(float(probability[chosen].mean()), 3),
                observed=round(float(won[chosen].mean()), 3),
            )
        )
    return rows


def _per_period(
    weighted: np.ndarray,
    value: np.ndarray,
    predicted_rows: np.ndarray,
    actual_rows: np.ndarray,
    predicted: np.ndarray,
    actual: np.ndarray,
    first: dt.date,
    last: dt.date,
    granularity: str,
) -> pd.DataFrame:
    """Per period from..to: ``weighted`` of the predicted rows by predicted date, ``value`` of
    the actual rows by actual date."""
    starts = period_starts(first, last, granularity)
    edges = np.array([*starts, _next_start(starts[-1], granularity)], dtype="datetime64[D]")
    window = (
        predicted_rows & (predicted >= np.datetime64(first, "D")) & (predicted <= np.datetime64(last, "D"))
    )

    def per_period(days: np.ndarray, mask: np.ndarray, values: np.ndarray) -> np.ndarray:
        index = np.searchsorted(edges, days[mask], side="right") - 1
        return np.bincount(index, weights=values[mask], minlength=len(starts))[: len(starts)]

    return pd.DataFrame(
        {
            "period": [period_label(s, granularity) for s in starts],
            "start": starts,
            "predicted": per_period(predicted, window, weighted),
            "actual": per_period(actual, actual_rows, value),
        }
    )


def _next_start(start: dt.date, granularity: str) -> dt.date:
    if granularity == "week":
        return start + dt.timedelta(days=7)
    return dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)
