"""Benchmark: ingest of Pipedrive-format CSVs against DuckDB's bare read_csv of the same file.

    .venv/bin/python bench/ingest.py                 # 100k and 1M rows
    .venv/bin/python bench/ingest.py --rows 100000   # one quick size
    .venv/bin/python bench/ingest.py --whole-process # as a user runs it: python -m core ingest

For each size it writes a seeded Pipedrive export to a temporary folder, then times, in
the same run: DuckDB's own ``read_csv`` of the file into a table of a fresh DuckDB file
(the bare-tool baseline, types auto-detected), and ``ingest_file`` into a fresh file
store (read, detect, parse every column, reject, save deals, rejects and raw bytes in
one transaction). The generated file is plain enough for the direct load (its numbers
converted by DuckDB's reader, its few "n/a" values parsed again from their text); the
"direct" column says whether it ran or the full parse did. Each runs in its own fresh
Python process, so the peak resident memory printed (RSS, which sees DuckDB's memory
too) is that step's alone. The pair is run ``--repeat`` times, alternating, so both
sides see the same load on a shared machine; it prints the median seconds with their
spread (min-max), the ratio of the medians, the CPU seconds each step used (user +
system, all threads: steadier than wall time when other work competes for the cores),
rows/s and peak RSS. Goal: ratio <= 2.0 and peak memory < 2 GB at 1M rows. Not part of
the test suite.

``--whole-process`` times what a user runs instead, start-up and imports included: the
process ``python -m core ingest FILE --db FRESH`` against a process that opens a fresh
DuckDB file and runs the same bare ``read_csv`` (bench/process.py; each with its own peak
RSS). The export is written once to bench/out/ and reused.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import process

from core.ingest import ingest_file
from core.store import Store

STAGES = (
    "Order Received",
    "Approved",
    "Awaiting Payment",
    "Awaiting Site Readiness",
    "Under Progress",
    "Awaiting MDD",
    "Awaiting GCC",
    "Awaiting GR",
    "Invoice Issued",
    "Payment Received",
)
OWNERS = ("Sara Al-Qahtani", "Omar Haddad", "Lina Faris", "Khalid Al-Otaibi", "Maya Rahman")
ORGS = ("Saudi Aramco", "Aramco Services", "Riyadh Holding", "Acme, Inc.", "Jeddah Towers", "Red Sea Fitouts")


def write_pipedrive_csv(path: Path, rows: int, seed: int = 7) -> None:
    """A seeded Pipedrive "Export deals" CSV with ``rows`` deals (some messy values)."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, rows + 1)
    created = np.datetime64("2024-01-01T00:00:00") + rng.integers(0, 600 * 86400, rows).astype(
        "timedelta64[s]"
    )
    updated = created + rng.integers(0, 90 * 86400, rows).astype("timedelta64[s]")
    status = rng.choice(np.array(["Open", "Won", "Lost"]), rows, p=[0.6, 0.25, 0.15])
    value = np.round(rng.gamma(2.0, 50000.0, rows), 2)

    def stamp(values: np.ndarray) -> np.ndarray:
        return np.char.replace(np.datetime_as_string(values, unit="s"), "T", " ")

    def day(values: np.ndarray) -> np.ndarray:
        return np.datetime_as_string(values, unit="D")

    closed = status != "Open"
    value_text = value.astype(str)
    value_text[rng.random(rows) < 0.001] = "n/a"  # a few unparseable values to reject
    table = pa.table(
        {
            "Deal - ID": ids,
            "Deal - Title": np.char.add("Fit-out project ", ids.astype(str)),
            "Deal - Owner": rng.choice(np.array(OWNERS), rows),
            "Deal - Value": value_text,
            "Deal - Currency of Value": rng.choice(
                np.array(["SAR", "USD", "EUR", "AED"]), rows, p=[0.7, 0.2, 0.05, 0.05]
            ),
            "Deal - Weighted value": np.round(value * 0.5, 2),
            "Deal - Pipeline": np.full(rows, "Projects"),
            "Deal - Stage": rng.choice(np.array(STAGES), rows),
            "Deal - Status": status,
            "Deal - Deal created": stamp(created),
            "Deal - Update time": stamp(updated),
            "Deal - Last stage change": stamp(updated),
            "Deal - Won time": np.where(status == "Won", stamp(updated), ""),
            "Deal - Lost time": np.where(status == "Lost", stamp(updated), ""),
            "Deal - Deal closed on": np.where(closed, stamp(updated), ""),
            "Deal - Expected close date": day(updated + np.timedelta64(30 * 86400, "s")),
            "Deal - Probability": np.where(
                rng.random(rows) < 0.5, rng.integers(0, 101, rows).astype(str), ""
            ),
            "Deal - Organization": rng.choice(np.array(ORGS), rows),
            "Deal - Contact person": rng.choice(np.array(["Ahmed Saleh", "Mona Aziz", "John Smith"]), rows),
            "Deal - Next activity date": day(updated + np.timedelta64(7 * 86400, "s")),
            "Deal - Last activity date": day(updated),
            "Deal - Label": rng.choice(np.array(["", "Hot", "Cold", "VIP"]), rows),
            "Deal - Invoice date": np.where(
                status == "Won", day(updated + np.timedelta64(20 * 86400, "s")), ""
            ),
        }
    )
    pacsv.write_csv(table, path)


def peak_rss_mb() -> float:
    """This process's peak RSS. /proc's VmHWM starts afresh at exec; ru_maxrss would carry
    the parent's peak (the generator's arrays) into the child on Linux."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def time_read_csv(path: Path, folder: Path) -> dict:
    con = duckdb.connect(str(folder / "baseline.duckdb"))
    try:
        start, cpu = time.perf_counter(), cpu_seconds()
        con.execute("CREATE TABLE deals AS SELECT * FROM read_csv(?)", [str(path)])
        return {"seconds": time.perf_counter() - start, "cpu": cpu_seconds() - cpu}
    finally:
        con.close()


def time_ingest(path: Path, folder: Path) -> dict:
    gave_up = _Messages()
    logging.getLogger("core.ingest").addHandler(gave_up)
    logging.getLogger("core.ingest").setLevel(logging.INFO)
    with Store(str(folder / "store.duckdb")) as store:
        start, cpu = time.perf_counter(), cpu_seconds()
        result = ingest_file(store, path, max_bytes=4 * 1024**3)
        return {"seconds": time.perf_counter() - start, "cpu": cpu_seconds() - cpu,
                "loaded": result.rows_loaded, "rejected": result.rows_rejected,
                "direct": not any("not loaded directly" in message for message in gave_up.messages)}


class _Messages(logging.Handler):
    """Keeps the messages logged (the ingest logs why a direct load gave up)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def measure(kind: str, path: Path, folder: Path) -> dict:
    """Run one measurement in a fresh Python process (and a fresh database), so its peak RSS
    is its own."""
    for database in folder.glob("*.duckdb*"):
        database.unlink()
    completed = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path), str(folder)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(completed.stdout)


def spread(runs: list[dict], key: str = "seconds") -> tuple[float, float, float]:
    """(median, min, max) of one figure over the runs."""
    values = [run[key] for run in runs]
    return statistics.median(values), min(values), max(values)


def child(kind: str, path: str, folder: str) -> None:
    measured = (time_read_csv if kind == "read_csv" else time_ingest)(Path(path), Path(folder))
    print(json.dumps({**measured, "peak_rss_mb": peak_rss_mb()}))


BARE_READ_CSV = (
    "import duckdb, sys; duckdb.connect(sys.argv[1]).execute("
    "'CREATE TABLE deals AS SELECT * FROM read_csv(?)', [sys.argv[2]])"
)
OUT = Path(__file__).resolve().parent / "out"
WHOLE_PROCESS_DB = OUT / "ingest_whole_process.duckdb"


def _fresh_database_run(argv: list[str], env: dict[str, str]) -> process.Measured:
    for stale in OUT.glob(f"{WHOLE_PROCESS_DB.name}*"):
        stale.unlink()
    return process.measure(argv, env)


def whole_process(sizes: list[int], seed: int, repeat: int) -> None:
    """python -m core ingest vs a bare read_csv process, alternated, each into a fresh file."""
    OUT.mkdir(exist_ok=True)
    process.cache_bytecode()
    print(f"whole processes, median of {repeat} alternated pairs; load average {os.getloadavg()[0]:.2f}")
    print(f"{'rows':>9} {process.HEADER}")
    for rows in sizes:
        export = OUT / f"pipedrive_{rows}.csv"
        if not export.exists():
            write_pipedrive_csv(export, rows, seed)
        env = {"DEALCAST_MAX_UPLOAD_MB": str(export.stat().st_size // 2**20 + 1)}
        bare = [sys.executable, "-c", BARE_READ_CSV, str(WHOLE_PROCESS_DB), str(export)]
        ours = [sys.executable, "-m", "core", "ingest", str(export), "--db", str(WHOLE_PROCESS_DB)]
        runs: tuple[list[process.Measured], list[process.Measured]] = ([], [])
        for _ in range(repeat):
            runs[0].append(_fresh_database_run(bare, env))
            runs[1].append(_fresh_database_run(ours, env))
        print(f"{rows:>9,} {process.summary(*runs)}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, action="append",
                        help="rows per file (repeatable; default 100000 and 1000000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the generated exports")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each step per size (median shown)")
    parser.add_argument("--whole-process", action="store_true",
                        help="time python -m core ingest against a bare read_csv process, start-up included")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "PATH", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    sizes = args.rows or [100_000, 1_000_000]
    if args.whole_process:
        whole_process(sizes, args.seed, args.repeat)
        return 0
    print(f"median of {args.repeat} runs (min-max); load average before: {os.getloadavg()[0]:.2f}")
    print(f"{'rows':>9} {'MB':>7} {'read_csv s':>17} {'ingest s':>17} {'ratio':>6} {'cpu s':>11} "
          f"{'cpu ratio':>9} {'ingest rows/s':>14} {'loaded':>9} {'rejected':>8} {'direct':>6} "
          f"{'read_csv RSS MB':>15} {'ingest RSS MB':>13}")
    for rows in sizes:
        with tempfile.TemporaryDirectory(prefix="dealcast-bench-") as tmp:
            folder = Path(tmp)
            path = folder / f"pipedrive_{rows}.csv"
            write_pipedrive_csv(path, rows, args.seed)
            baselines, ingests = [], []
            for _ in range(args.repeat):
                baselines.append(measure("read_csv", path, folder))
                ingests.append(measure("ingest", path, folder))
            base, base_low, base_high = spread(baselines)
            ours, ours_low, ours_high = spread(ingests)
            base_cpu, ours_cpu = spread(baselines, "cpu")[0], spread(ingests, "cpu")[0]
            size_mb = path.stat().st_size / 1024 / 1024
            print(f"{rows:>9} {size_mb:>7.1f} {f'{base:.2f} ({base_low:.2f}-{base_high:.2f})':>17} "
                  f"{f'{ours:.2f} ({ours_low:.2f}-{ours_high:.2f})':>17} {ours / base:>6.2f} "
                  f"{f'{base_cpu:.1f}/{ours_cpu:.1f}':>11} {ours_cpu / base_cpu:>9.2f} {rows / ours:>14,.0f} "
                  f"{ingests[0]['loaded']:>9} {ingests[0]['rejected']:>8} "
                  f"{'yes' if all(run['direct'] for run in ingests) else 'no':>6} "
                  f"{max(run['peak_rss_mb'] for run in baselines):>15.0f} "
                  f"{max(run['peak_rss_mb'] for run in ingests):>13.0f}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
