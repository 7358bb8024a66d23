"""Fuzz ingest: thousands of generated export files, each read or refused, never a crash.

    .venv/bin/python bench/fuzz_ingest.py                  # 10,000 files (seeds 0..9999)
    .venv/bin/python bench/fuzz_ingest.py --files 500 --start 20000

The files come from core.sample.fuzz (the test suite runs a seeded slice of the same
generator). For each file: a clear refusal (an IngestError: CLI exit 2 with its reason) or
rows read = loaded + rejected with each reject's reason; anything else is a crash, printed
with its seed so ``fuzz_file(seed)`` reproduces it. Prints the files by outcome and the
time taken; exits 1 when any file crashed. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.sample.fuzz import fuzz_file, ingest_outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000, help="how many files (default 10,000)")
    parser.add_argument("--start", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--progress", type=int, default=0, metavar="N",
                        help="print the counts so far every N files (default: only at the end)")
    args = parser.parse_args()
    outcomes: Counter[str] = Counter()
    crashes: dict[str, list[int]] = {}
    kinds: Counter[str] = Counter()
    started = time.perf_counter()
    for seed in range(args.start, args.start + args.files):
        name, data = fuzz_file(seed)
        kinds[name.rsplit(".", 1)[-1]] += 1
        outcome = ingest_outcome(name, data)
        outcomes[outcome] += 1
        if outcome.startswith("crash"):
            crashes.setdefault(outcome, []).append(seed)
        done = seed - args.start + 1
        if args.progress and done % args.progress == 0:
            counts = ", ".join(f"{o} {n:,}" for o, n in sorted(outcomes.items()))
            print(f"{done:,} files: {counts}", flush=True)
    seconds = time.perf_counter() - started
    print(f"{args.files:,} files (seeds {args.start}..{args.start + args.files - 1}; "
          + ", ".join(f"{n:,} {kind}" for kind, n in kinds.most_common()) + f") in {seconds:.0f} s")
    print(f"{'outcome':<40} {'files':>7}")
    for outcome, count in sorted(outcomes.items()):
        print(f"{outcome:<40} {count:>7,}")
    for outcome, seeds in crashes.items():
        print(f"CRASH {outcome}: seeds {seeds[:10]}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
