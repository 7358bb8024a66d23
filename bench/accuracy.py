"""Accuracy, not speed: the engines' backtest figures on exports with a known truth and on the sample.

    .venv/bin/python bench/accuracy.py [--seeds 1 2 3 4 5] [--deals 10000]

1. Generated single exports (``core.sample.outcomes``, one per seed): the export is
   forecast by each engine and scored against the later export of the same CRM (365 days
   on). Per engine: monthly invoice (won) value WAPE, close-date MAE of the deals won in
   between, P10-P90 coverage as the backtest measures it (deals won in between) and as the
   truth says (every open deal that is ever won), and the Brier score of the win chances.
   The issue's bar: learned value WAPE <= 0.5 x rules and <= naive, MAE <= rules, coverage
   80 +/- 5 %.
2. The bundled sample (data/sample, 8 weekly snapshots): the backtest from every snapshot
   to the newest, per engine (naive is the baseline row each backtest carries).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.bootstrap import load_sample_data
from core.cashflow import CashflowPredictionService, PredictionOptions, run_backtest
from core.sample.outcomes import generate_outcome_case
from core.store import NewSnapshot, Store

ENGINES = ("rules", "learned", "naive")


def save(store: Store, deals, as_of, name: str) -> int:
    snapshot = NewSnapshot(as_of=as_of, source="bench", file_name=name, sha256=name, rows_read=len(deals))
    empty = pd.DataFrame({"row_number": [], "raw": [], "reason": []})
    return store.save_snapshot(snapshot, deals, empty, b"").id


def true_coverage(store: Store, snapshot: int, engine: str, outcomes) -> float:
    """Share of the open deals that are ever won whose true close fell inside P10..P90."""
    frame = CashflowPredictionService(store).run(
        snapshot, PredictionOptions(engine=engine, store_results=False)
    )
    merged = frame.frame.merge(outcomes, on="deal_id")
    won = merged[(merged["status"] == "open") & merged["won"]]
    closed = won["closed"].to_numpy(dtype="datetime64[D]")
    low = won["invoice_p10"].to_numpy(dtype="datetime64[D]")
    high = won["invoice_p90"].to_numpy(dtype="datetime64[D]")
    return float(((low <= closed) & (closed <= high)).mean())


def generated(seeds: list[int], deals: int) -> None:
    print(f"Generated single exports ({deals} deals each), scored against the export 365 days later")
    header = (
        f"{'seed':>4} {'engine':<8} {'value WAPE':>10} {'MAE days':>9} {'coverage':>9} {'true cov':>9} "
        f"{'Brier':>6}"
    )
    print(header)
    print("-" * len(header))
    rows = {engine: [] for engine in ENGINES}
    for seed in seeds:
        case = generate_outcome_case(deals=deals, seed=seed)
        with Store(":memory:") as store:
            first = save(store, case.export_deals, case.as_of, f"export-{seed}")
            later = save(store, case.later_deals, case.later_as_of, f"later-{seed}")
            results = {e: run_backtest(store, first, later, engine=e) for e in ("rules", "learned")}
            results["naive"] = results["learned"].naive
            for engine in ENGINES:
                r = results[engine]
                truth = true_coverage(store, first, engine, case.outcomes)
                rows[engine].append(
                    (r.invoice_value_wape, r.invoice_mae_days, r.band_coverage, truth, r.probability_brier)
                )
                print(
                    f"{seed:>4} {engine:<8} {r.invoice_value_wape:>10.2f} {r.invoice_mae_days:>9.1f} "
                    f"{r.band_coverage:>9.2f} {truth:>9.2f} {r.probability_brier:>6.2f}"
                )
    print("-" * len(header))
    for engine in ENGINES:
        mean = np.mean(np.asarray(rows[engine], dtype=float), axis=0)
        print(
            f"{'mean':>4} {engine:<8} {mean[0]:>10.2f} {mean[1]:>9.1f} {mean[2]:>9.2f} {mean[3]:>9.2f} "
            f"{mean[4]:>6.2f}"
        )
    learned, rules, naive = (np.asarray(rows[e], dtype=float) for e in ("learned", "rules", "naive"))
    n = len(seeds)
    inside = (learned[:, 2] >= 0.75) & (learned[:, 2] <= 0.85)
    half = int((learned[:, 0] <= 0.5 * rules[:, 0]).sum())
    print(
        f"seeds where learned value WAPE <= 0.5 x rules: {half}/{n}, "
        f"<= naive: {int((learned[:, 0] <= naive[:, 0]).sum())}/{n}, "
        f"MAE <= rules: {int((learned[:, 1] <= rules[:, 1]).sum())}/{n}, "
        f"coverage in 0.75-0.85: {int(inside.sum())}/{n}"
    )


def sample() -> None:
    print("\nBundled sample: backtest from each snapshot to the newest")
    header = (
        f"{'from':>4} {'engine':<8} {'deals':>5} {'value WAPE':>10} {'MAE days':>9} {'coverage':>9} "
        f"{'cash WAPE':>9}"
    )
    print(header)
    print("-" * len(header))
    with Store(":memory:") as store:
        load_sample_data(store)
        ids = [s.id for s in store.list_snapshots()]
        for start in ids[:-1]:
            results = [run_backtest(store, start, ids[-1], engine=e) for e in ("rules", "learned", "auto")]
            for r in [*results, results[0].naive]:

                def show(value, digits):
                    return "n/a" if value is None else f"{value:.{digits}f}"

                print(
                    f"{start:>4} {r.engine:<8} {r.deals_evaluated:>5} {show(r.invoice_value_wape, 2):>10} "
                    f"{show(r.invoice_mae_days, 1):>9} {show(r.band_coverage, 2):>9} {show(r.wape, 2):>9}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--deals", type=int, default=10_000)
    args = parser.parse_args()
    generated(args.seeds, args.deals)
    sample()


if __name__ == "__main__":
    main()
