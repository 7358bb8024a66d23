"""``forecast`` and ``backtest``: the cash forecast of a snapshot, and how good past forecasts were."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from core.cashflow.document import forecast_document, period_rows
from core.cashflow.engines import engine_names
from core.cashflow.fields import PREDICTION_FIELDS
from core.cashflow.models import AssumptionsReport, ForecastOptions, PredictionOptions
from core.cashflow.receivables import receivables_line
from core.cashflow.scope import scope_warnings
from core.cashflow.service import CashflowPredictionService
from core.cli._shared import open_store, print_json
from core.config import get_settings
from core.formatting import money_full
from core.store import Store

if TYPE_CHECKING:  # the LLM package (httpx) loads only with --llm on
    from core.llm import LLMClient


def _confidence(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def register(subparsers, common: argparse.ArgumentParser) -> None:
    engines = engine_names()
    forecast = subparsers.add_parser(
        "forecast",
        parents=[common],
        help="forecast invoices and cash in per week or month",
        description="Forecast invoices and cash in from a snapshot, per ISO week or month.\n\n"
        "Example: python -m core forecast --horizon 120 --granularity month --out forecast.xlsx",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    forecast.add_argument("--snapshot", default="latest", help="snapshot id or 'latest' (default)")
    forecast.add_argument(
        "--horizon", type=_positive, default=90, metavar="DAYS", help="days ahead (default 90)"
    )
    forecast.add_argument("--granularity", choices=("week", "month"), default="week", help="period size")
    forecast.add_argument(
        "--min-confidence",
        type=_confidence,
        default=0.5,
        metavar="X",
        help="leave out deals below this confidence (default 0.5)",
    )
    forecast.add_argument(
        "--engine", choices=engines, default="rules", help="forecast engine (default rules)"
    )
    forecast.add_argument("--pipeline", help="only this pipeline")
    forecast.add_argument("--owner", help="only this owner")
    forecast.add_argument(
        "--llm",
        choices=("on", "off"),
        default="off",
        help="refine unsettled deals with the LLM (with the LLM off, the rules forecast and a warning)",
    )
    forecast.add_argument(
        "--llm-policy",
        choices=("all", "unknown", "stuck", "unknown_and_stuck"),
        help="deals sent to the LLM with --llm on (default: DEALCAST_LLM_FORECAST_POLICY, unknown_and_stuck)",
    )
    forecast.add_argument(
        "--receivables",
        default="latest",
        metavar="ID|latest|none",
        help="invoice snapshot whose open invoices add cash and whose payment history sets deals' terms "
        "(default latest: the newest as of the forecast's date, if any; none: deals only)",
    )
    forecast.add_argument("--out", metavar="FILE", help="write per-deal predictions to FILE.csv or FILE.xlsx")
    forecast.add_argument(
        "--explain",
        action="store_true",
        help="print the assumptions report instead of the periods: the assumptions in force, the stage "
        "table, how each deal used them, the spread of confidence",
    )
    forecast.add_argument(
        "--save",
        action="store_true",
        help="also store the per-deal predictions in the database under the run id "
        "(seconds at a million deals, so only on request)",
    )
    forecast.set_defaults(func=run_forecast)

    backtest = subparsers.add_parser(
        "backtest",
        parents=[common],
        help="score a forecast from an earlier snapshot against later ones",
        description="Forecast from an earlier snapshot and compare with what later snapshots show: "
        "invoice (or won) value WAPE per period, cash WAPE, date MAE and bias, P10-P90 coverage and "
        "win-chance calibration, beside the naive baseline (overall win rate x median time left).\n\n"
        "Example: python -m core backtest --from 3 --to latest --engine learned",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    backtest.add_argument(
        "--from", dest="from_snapshot", required=True, metavar="ID", help="snapshot to forecast from"
    )
    backtest.add_argument(
        "--to",
        dest="to_snapshot",
        default="latest",
        metavar="ID",
        help="snapshot that shows what happened (default latest)",
    )
    backtest.add_argument(
        "--engine", choices=engines, default="rules", help="forecast engine (default rules)"
    )
    backtest.set_defaults(func=run_backtest_command)


@contextlib.contextmanager
def _llm_client(args: argparse.Namespace, store: Store) -> Iterator[LLMClient | None]:
    """With ``--llm on``, a client over the forecast's store (so the call log and the response
    cache land in the database being forecast), closed afterwards; else None."""
    if args.llm != "on":
        yield None
        return
    from core.llm import LLMClient, run_sync

    client = LLMClient(get_settings(), store=store)
    try:
        yield client
    finally:
        run_sync(client.aclose())


def run_forecast(args: argparse.Namespace) -> int | None:
    with open_store(args) as store, _llm_client(args, store) as llm:
        service = CashflowPredictionService(store, llm=llm)
        policy = {"llm_policy": args.llm_policy} if args.llm_policy else {}
        receivables = None if args.receivables.strip().lower() == "none" else args.receivables
        options = PredictionOptions(
            engine=args.engine,
            use_llm=args.llm == "on",
            receivables=receivables,
            store_results=args.save,
            **policy,
        )
        run = service.run(args.snapshot, options, lazy=True)  # the store is held until the end
        for line in run.warnings:
            print(f"warning: {line}", file=sys.stderr)
        forecast = ForecastOptions(
            horizon_days=args.horizon,
            granularity=args.granularity,
            min_confidence=args.min_confidence,
            pipeline=args.pipeline,
            owner=args.owner,
        )
        agg = run.aggregate(forecast, warnings=True)
        for line in scope_warnings(run.source, args.pipeline, args.owner):
            print(f"warning: {line}", file=sys.stderr)
        if args.out:
            from core.export import write_table

            write_table(run.titled().loc[:, list(PREDICTION_FIELDS)], args.out)
        if args.explain:
            report = service.explain_assumptions(run=run)
            print_json(report) if args.json else _print_report(report)
        elif args.json:
            print_json(forecast_document(run, forecast, agg))
        else:
            _print_forecast(run, agg, period_rows(agg))
    return None


def _print_forecast(run, agg, periods: list[dict]) -> None:
    currency = run.assumptions.base_currency
    print(
        f"Forecast of snapshot {run.snapshot_id} as of {run.as_of} ({run.engine} engine), "
        f"values in {currency}"
    )
    header = (
        f"{'period':<9} {'start':<10} {'invoices':>14} {'cash in':>14} {'cash P10':>14} {'cash P90':>14} "
        f"{'deals':>6} {'conf':>5} {'pipeline':>14} {'receivables':>14}"
    )
    print(header)
    print("-" * len(header))
    money = ("cash_in", "cash_in_p10", "cash_in_p90")
    for row in periods:
        conf = "" if row["avg_confidence"] is None else f"{row['avg_confidence']:.2f}"
        print(
            f"{row['period']:<9} {row['start']!s:<10} {money_full(row['invoice_value']):>14} "
            + " ".join(f"{money_full(row[name]):>14}" for name in money)
            + f" {row['deal_count']:>6} {conf:>5} {money_full(row['cash_in_pipeline']):>14} "
            f"{money_full(row['cash_in_receivables']):>14}"
        )
    t = agg.totals
    print("-" * len(header))
    print(
        f"{'total':<20} {money_full(t['invoice_value']):>14} "
        + " ".join(f"{money_full(t[name]):>14}" for name in money)
        + f" {t['deal_count']:>6} {'':>5} {money_full(t['cash_in_pipeline']):>14} "
        f"{money_full(t['cash_in_receivables']):>14}"
    )
    print(receivables_line(run, agg))
    print(
        f"Unweighted: invoices {money_full(t['invoice_value_unweighted'])}, "
        f"cash in {money_full(t['cash_in_unweighted'])}"
    )
    for name, amount in {**agg.excluded, **agg.shown}.items():
        if amount["count"]:
            value = money_full(amount["value"], currency)
            print(f"{name.replace('_', ' ')}: {amount['count']} deal(s), {value}")
    for line in agg.warnings:
        print(f"warning: {line}")


def _print_report(report: AssumptionsReport) -> None:
    """The assumptions report as text: sentences, the stage table, methods, confidence, deals."""
    print(f"Assumptions version {report.assumptions_version}, values in {report.base_currency}:")
    for line in report.global_assumptions:
        print(f"  {line}")
    print(f"\n{'stage':<36} {'optimistic':>10} {'realistic':>9} {'conservative':>12}  late")
    for stage in report.stage_table:
        print(
            f"{stage['name']!s:<36} {stage['optimistic']:>10} {stage['realistic']:>9} "
            f"{stage['conservative']:>12}  {'yes' if stage['late'] else ''}"
        )
    methods = ", ".join(f"{name} {count}" for name, count in report.methods.items()) or "none"
    print(f"\nMethods: {methods}")
    print("Confidence of the forecast deals: "
          + ", ".join(f"{band} {count}" for band, count in report.confidence_distribution.items()))
    print(f"\n{'deal':<12} {'stage':<28} {'method':<12} {'conf':>5}  reasoning")
    for deal in report.per_deal:
        confidence = "" if deal["confidence"] is None else f"{deal['confidence']:.2f}"
        print(
            f"{deal['deal_id']!s:<12} {deal['stage'] or '(none)'!s:<28} {deal['method']!s:<12} "
            f"{confidence:>5}  {deal['reasoning']}"
        )


#: Backtest figures printed as text, in order (the JSON has all of them, and the calibration).
BACKTEST_LINES = (
    "deals_evaluated",
    "payments_evaluated",
    "invoice_mae_days",
    "payment_mae_days",
    "bias_days",
    "invoice_value_wape",
    "wape",
    "band_coverage",
    "outcomes_evaluated",
    "probability_brier",
)


def run_backtest_command(args: argparse.Namespace) -> int | None:
    from core.cashflow.backtest import run_backtest  # the backtest's own engines: loaded to run it

    with open_store(args) as store:
        result = run_backtest(store, args.from_snapshot, args.to_snapshot, engine=args.engine)
    if args.json:
        print_json(result.as_json())
        return None
    print(
        f"Backtest of the {result.engine} engine: snapshot {result.from_snapshot} ({result.from_as_of}) "
        f"-> {result.to_snapshot} ({result.to_as_of}); invoice value per {result.period}"
    )
    rows = [result, *([result.naive] if result.naive is not None else [])]
    print(f"  {'':<20} " + " ".join(f"{row.engine:>10}" for row in rows))
    for name in BACKTEST_LINES:
        values = [getattr(row, name) for row in rows]
        label = "cash wape" if name == "wape" else name.replace("_", " ")
        print(f"  {label:<20} " + " ".join(f"{'n/a' if v is None else v:>10}" for v in values))
    for row in result.calibration:
        print(
            f"  win chance {row.low:.1f}-{row.high:.1f}: {row.deals} deals, predicted {row.predicted:.2f}, "
            f"won {row.observed:.2f}"
        )
    for note in result.notes:
        print(f"note: {note}")
    return None
