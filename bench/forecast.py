"""Benchmark: the rules forecast against a bare DuckDB query, and re-aggregation after a slider move.

    .venv/bin/python bench/forecast.py [--sizes 100000 1000000] [--repeat 3]
    .venv/bin/python bench/forecast.py --from-storage [--sizes 100000 1000000] [--repeat 5]

``--from-storage`` measures what a user runs: N generated Pipedrive deals (bench/ingest.py's
export, written once to bench/out/ and reused) ingested once into bench/out/forecast_N.duckdb,
then the whole process ``python -m core forecast --db X --engine rules --horizon 365
--min-confidence 0`` against a whole process that opens the same file with bare DuckDB and
runs ``STORED_SQL``: the seed rule (the stage table's realistic days plus the stuck days)
summed as weighted value per ISO week. The two alternate (median of ``--repeat`` pairs after
a warm-up of each); peak RSS is each process's own. Goal: at most 3x (2x) at 1M deals and a
forecast under 1.5 GB.

Without it:

For each size, generated canonical deals (vectorised, seeded) are forecast by the rules
engine (predict every deal, then aggregate per ISO week) and by a bare DuckDB query written
here that joins the stage table, computes the realistic invoice date and sums weighted value
per ISO week. Both start from the same deals frame already in memory (the query scans it
through DuckDB's pandas scan). After one untimed warm-up run of each, the two are timed
``--repeat`` times, alternating, so both see the same load on a shared machine; the figures
are medians with their spread (min-max), and the ratio is the median of the per-pair ratios.
CPU seconds (user + system, all threads) are shown too. Both sides use every core: DuckDB
runs the bare query and the forecast's period sums (core.cashflow.aggregate) on its threads,
so on a busy machine both lose alike; the CPU ratio shows the work done whatever the load.
Goals: the forecast within 3x the bare query at 1M deals; re-aggregating 100k
already-predicted deals for a new horizon or threshold under 100 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from process import HEADER, alternate, cache_bytecode, measure, summary

from core.cashflow import SEED_PROFILE, predict_frame
from core.cashflow.aggregate import aggregate
from core.cashflow.aggregation_inputs import AggregationInputs
from core.deals import conform

AS_OF = dt.date(2026, 3, 2)


def generate_deals(n: int, seed: int = 7) -> pd.DataFrame:
    """``n`` canonical deals: every seed stage plus invoiced, paid and unknown ones, mixed statuses."""
    rng = np.random.default_rng(seed)
    stages = np.array(
        [s.name for s in SEED_PROFILE.stages] + ["Invoice Issued", "Payment Received", "Lead In"]
    )
    today = np.datetime64(AS_OF, "D")
    created = today - rng.integers(20, 400, n).astype("timedelta64[D]")
    changed = np.minimum(created + rng.integers(0, 120, n).astype("timedelta64[D]"), today)
    organizations = np.char.add("Customer ", rng.integers(0, 2000, n).astype(str))
    organizations[rng.random(n) < 0.1] = "Saudi Aramco"
    value = np.round(rng.lognormal(11, 1, n), 2)
    return conform(
        pd.DataFrame(
            {
                "deal_id": pd.array(np.arange(1, n + 1).astype(str), dtype="str"),
                "title": pd.array(np.char.add("Deal ", np.arange(n).astype(str)), dtype="str"),
                "pipeline": pd.array(np.where(rng.random(n) < 0.7, "Projects", "Sales"), dtype="str"),
                "stage": pd.array(stages[rng.integers(0, len(stages), n)], dtype="str"),
                "status": pd.array(rng.choice(["open", "won", "lost"], n, p=[0.8, 0.1, 0.1]), dtype="str"),
                "value": value,
                "currency": pd.array(np.full(n, "SAR"), dtype="str"),
                "value_base": value,
                "probability": np.where(rng.random(n) < 0.5, np.nan, rng.random(n)),
                "owner": pd.array(rng.choice(["Sara", "Omar", "Layla", "Fahad"], n), dtype="str"),
                "organization": pd.array(organizations, dtype="str"),
                "created_at": created.astype("datetime64[s]"),
                "stage_changed_at": changed.astype("datetime64[s]"),
            }
        )
    )


#: The seed rule over a stored snapshot, as bare SQL: stage days (the table as VALUES) plus the
#: stuck days by time in stage, summed as weighted value per ISO week.
STORED_SQL = """
WITH stage_table(stage, realistic) AS (VALUES {stages}),
snapshot AS (SELECT id, as_of FROM snapshots WHERE kind = 'deals' ORDER BY as_of DESC, id DESC LIMIT 1)
SELECT strftime(date_trunc('week', s.as_of + CAST(coalesce(t.realistic, 45) AS INTEGER)
           + CASE WHEN s.as_of - coalesce(d.stage_changed_at, d.created_at) > 60 THEN 14
                  WHEN s.as_of - coalesce(d.stage_changed_at, d.created_at) > 30 THEN 7 ELSE 0 END),
                '%G-W%V') AS period,
       sum(d.value_base * coalesce(d.probability, 1.0)) AS weighted
FROM deals d JOIN snapshot s ON d.snapshot_id = s.id LEFT JOIN stage_table t ON lower(d.stage) = t.stage
WHERE d.status NOT IN ('lost', 'deleted')
GROUP BY 1 ORDER BY 1
"""
BARE_SCRIPT = (
    "import duckdb, sys; duckdb.connect(sys.argv[1], read_only=True).execute(sys.argv[2]).fetchall()"
)
OUT = Path(__file__).resolve().parent / "out"


def stored_database(n: int) -> Path:
    """bench/out/forecast_N.duckdb holding N generated Pipedrive deals, ingested once by the CLI."""
    from ingest import write_pipedrive_csv

    OUT.mkdir(exist_ok=True)
    database = OUT / f"forecast_{n}.duckdb"
    if database.exists():
        return database
    export = OUT / f"pipedrive_{n}.csv"
    if not export.exists():
        write_pipedrive_csv(export, n)
    measure(
        [sys.executable, "-m", "core", "ingest", str(export), "--db", str(database), "--as-of", "2025-09-01"],
        {"DEALCAST_MAX_UPLOAD_MB": str(export.stat().st_size // 2**20 + 1)},
    )
    return database


def from_storage(sizes: list[int], repeat: int) -> None:
    stages = ", ".join(f"('{s.name.lower()}', {s.realistic})" for s in SEED_PROFILE.stages)
    cache_bytecode()
    print(f"whole processes, median of {repeat} alternated pairs after a warm-up; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'deals':>9} {HEADER}")
    for n in sizes:
        database = str(stored_database(n))
        bare = [sys.executable, "-c", BARE_SCRIPT, database, STORED_SQL.format(stages=stages)]
        ours = [sys.executable, "-m", "core", "forecast", "--db", database, "--engine", "rules",
                "--horizon", "365", "--min-confidence", "0"]
        print(f"{n:>9,} {summary(*alternate(bare, ours, repeat))}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


BARE_SQL = """
SELECT strftime(date_trunc('week', CAST(? AS DATE) + CAST(coalesce(t.realistic, 45) AS INTEGER)), '%G-W%V')
           AS period,
       sum(d.value_base * coalesce(d.probability, 1.0)) AS weighted
FROM deals d LEFT JOIN stage_table t ON lower(d.stage) = t.stage
WHERE d.status NOT IN ('lost', 'deleted')
GROUP BY 1 ORDER BY 1
"""


def best(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def seconds(fn) -> tuple[float, float]:
    """Wall and CPU seconds of one call."""
    start, cpu = time.perf_counter(), _cpu()
    fn()
    return time.perf_counter() - start, _cpu() - cpu


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


def paired(first, second, repeat: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(wall, cpu) of ``first`` and ``second`` run alternately ``repeat`` times, after a warm-up of each."""
    first(), second()
    times: tuple[list[tuple[float, float]], list[tuple[float, float]]] = ([], [])
    for _ in range(repeat):
        times[0].append(seconds(first))
        times[1].append(seconds(second))
    return times


def spread(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:.0f}ms ({min(times) * 1000:.0f}-{max(times) * 1000:.0f})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--from-storage", action="store_true",
                        help="whole-process CLI forecast of an ingested snapshot vs a bare DuckDB process")
    args = parser.parse_args(argv)
    if args.from_storage:
        from_storage(args.sizes, args.repeat)
        return

    stage_table = pd.DataFrame(
        {
            "stage": [s.name.lower() for s in SEED_PROFILE.stages],
            "realistic": [s.realistic for s in SEED_PROFILE.stages],
        }
    )
    print(
        f"load average {os.getloadavg()[0]:.2f}; predict + aggregate, median of {args.repeat} (min-max)\n"
        f"{'deals':>9} {'bare DuckDB':>20} {'rules forecast':>20} {'ratio':>6} {'ratio range':>12} "
        f"{'cpu s':>11} {'cpu ratio':>9}"
    )
    for n in args.sizes:
        deals = generate_deals(n)
        con = duckdb.connect()
        con.register("deals", deals)
        con.register("stage_table", stage_table)

        def forecast(frame=deals):
            return aggregate(predict_frame(frame, AS_OF, SEED_PROFILE), as_of=AS_OF, horizon_days=90)

        bare, ours = paired(lambda c=con: c.execute(BARE_SQL, [AS_OF]).fetchall(), forecast, args.repeat)
        ratios = [o[0] / b[0] for b, o in zip(bare, ours, strict=True)]
        bare_cpu, ours_cpu = (statistics.median(cpu for _, cpu in runs) for runs in (bare, ours))
        print(
            f"{n:>9,} {spread([w for w, _ in bare]):>20} {spread([w for w, _ in ours]):>20} "
            f"{statistics.median(ratios):>5.1f}x {f'{min(ratios):.1f}-{max(ratios):.1f}x':>12} "
            f"{f'{bare_cpu:.2f}/{ours_cpu:.2f}':>11} {ours_cpu / bare_cpu:>8.1f}x"
        )
        con.close()

    deals = generate_deals(100_000)
    predictions = predict_frame(deals, AS_OF, SEED_PROFILE)
    # what a dashboard run makes once and each slider move reads (PredictionRun.aggregate)
    kept, _ = best(lambda: AggregationInputs(predictions), args.repeat)
    inputs = AggregationInputs(predictions)
    moves = iter([(h, c) for h in (30, 60, 90, 180, 365) for c in (0.3, 0.5, 0.7)] * args.repeat)

    def slider_move():
        horizon, threshold = next(moves)
        return aggregate(
            inputs, as_of=AS_OF, horizon_days=horizon, min_confidence=threshold, granularity="week"
        )

    slider, _ = best(slider_move, 5 * args.repeat)
    monthly, _ = best(
        lambda: aggregate(
            inputs, as_of=AS_OF, horizon_days=365, granularity="month", pipeline="Projects", owner="Sara"
        ),
        args.repeat,
    )
    print(
        f"re-aggregation of 100,000 predicted deals: slider move {slider * 1000:.1f}ms, "
        f"month + filters {monthly * 1000:.1f}ms (goal < 100 ms), after making the run's aggregation "
        f"inputs once ({kept * 1000:.1f}ms); load average {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
