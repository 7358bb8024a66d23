"""Golden forecasts: the CLI's JSON for the bundled sample and a generated 50k snapshot.

``test_golden.py`` compares what ``python -m core forecast --json`` (and ``backtest --json``
on the sample) print today with ``golden/forecast.json``, so a change meant to be faster
cannot change a number. Each case keeps the whole JSON except ``run_id`` (random per run);
the per-deal and per-invoice lists are sorted by id (their order is the snapshot's, not a
number) and kept as their count and a sha256, which keeps the file small.

A change that alters numbers on purpose re-blesses the cases it changes and says why in
its commit:

    .venv/bin/python -m tests.cashflow.golden            # rewrite golden/forecast.json
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from core.bootstrap import ensure_sample_data
from core.cli import main
from core.ingest import ingest_file
from core.sample import generate_history, write_history
from core.store import Store

GOLDEN = Path(__file__).parent / "golden" / "forecast.json"
ENGINES = ("rules", "learned", "auto")
#: Options of each forecast case beside ``--engine`` (the defaults, and a year by month with no threshold).
FORECAST_OPTIONS = {
    "default": [],
    "year-month-all": ["--horizon", "365", "--granularity", "month", "--min-confidence", "0"],
}
#: The generated snapshot: deals, seed.
LARGE_ROWS, LARGE_SEED = 50_000, 7


def run_cli(args: list[str]) -> dict:
    """The JSON ``python -m core ARGS --json`` prints, canonicalised (see the module docstring)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = main([*args, "--json"])
    if status != 0:
        raise AssertionError(f"python -m core {' '.join(args)} exited with {status}")
    payload = json.loads(out.getvalue())
    payload.pop("run_id", None)
    if "deals" in payload:
        payload["deals"] = digest(payload["deals"], "deal_id")
    if payload.get("receivables"):
        payload["receivables"]["invoices"] = digest(payload["receivables"]["invoices"], "invoice_id")
    return payload


def digest(records: list[dict], key: str) -> dict[str, object]:
    """Count and sha256 of ``records`` sorted by ``key``."""
    ordered = sorted(records, key=lambda record: record[key])
    text = json.dumps(ordered, sort_keys=True, ensure_ascii=False).encode()
    return {"count": len(ordered), "sha256": hashlib.sha256(text).hexdigest()}


def sample_cases(db: str) -> Iterator[tuple[str, dict]]:
    """Forecasts of the newest sample snapshot and backtests from the oldest, per engine."""
    with Store(db) as store:
        ensure_sample_data(store)
        first = store.list_snapshots()[0].id
    for engine in ENGINES:
        for name, options in FORECAST_OPTIONS.items():
            yield f"sample/{engine}/{name}", run_cli(["forecast", "--db", db, "--engine", engine, *options])
        yield (
            f"sample/{engine}/backtest",
            run_cli(["backtest", "--db", db, "--from", str(first), "--engine", engine]),
        )


def large_cases(db: str, folder: Path) -> Iterator[tuple[str, dict]]:
    """Forecasts of one generated 50k-deal Pipedrive export, per engine."""
    history = generate_history(deals=LARGE_ROWS, snapshots=1, seed=LARGE_SEED)
    (path,) = write_history(history, folder, formats=("csv",))
    with Store(db) as store:
        ingest_file(store, path, source="pipedrive")
    for engine in ENGINES:
        options = FORECAST_OPTIONS["year-month-all"]
        yield f"large/{engine}", run_cli(["forecast", "--db", db, "--engine", engine, *options])


def compute(which: str) -> dict[str, dict]:
    """Every case of ``which`` (``sample`` or ``large``), freshly computed in a temporary folder."""
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "golden.duckdb")
        cases = sample_cases(db) if which == "sample" else large_cases(db, Path(folder))
        return dict(cases)


def load() -> dict[str, dict]:
    return json.loads(GOLDEN.read_text())


def bless() -> None:
    """Rewrite the golden file from the code as it is now."""
    cases = {**compute("sample"), **compute("large")}
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(cases, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"wrote {len(cases)} cases to {GOLDEN}", file=sys.stderr)


if __name__ == "__main__":
    bless()
