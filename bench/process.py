"""Whole-process timing for the benchmarks: a command as a user runs it, against a bare baseline.

``measure(argv)`` runs one command in a fresh process and returns its wall seconds (start-up
and imports included), its CPU seconds (user + system, all threads: steadier than wall time
when other work competes for the cores) and its own peak resident memory (``wait4``'s rusage
of that child, so DuckDB's memory counts and no other process's does). ``alternate`` runs two commands in
turn ``repeat`` times after one untimed warm-up of each, so both see the same load on a
shared machine; ``summary`` gives medians, the spread and the median of the per-pair ratios.
``cache_bytecode`` writes the bytecode cache of our modules first, as a user's first run does.
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Measured:
    """One whole-process run: wall seconds, CPU seconds and peak RSS in MB."""

    seconds: float
    cpu: float
    peak_rss_mb: float


def measure(argv: Sequence[str], env: Mapping[str, str] | None = None) -> Measured:
    """Run ``argv`` to completion (its output discarded); raise when it fails."""
    start = time.perf_counter()
    child = subprocess.Popen(
        list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})}
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    error = child.stderr.read().decode(errors="replace") if child.stderr else ""
    if child.stderr:
        child.stderr.close()
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {child.returncode}: {error[-2000:]}")
    return Measured(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def cache_bytecode() -> None:
    """Write the bytecode cache (``__pycache__``) of the ``core`` package, as a user's first run
    writes it. Where PYTHONDONTWRITEBYTECODE is set (the team's machines set it) no run writes
    it, so each timed run of ours would compile our modules from source again (~50 ms at each
    start) while the bare process compiles nothing; installed libraries are cached already."""
    compileall.compile_dir(ROOT / "core", quiet=1)


def alternate(
    first: Sequence[str], second: Sequence[str], repeat: int, env: Mapping[str, str] | None = None
) -> tuple[list[Measured], list[Measured]]:
    """``first`` and ``second`` run in turn ``repeat`` times, after one untimed run of each."""
    measure(first, env), measure(second, env)
    runs: tuple[list[Measured], list[Measured]] = ([], [])
    for _ in range(repeat):
        runs[0].append(measure(first, env))
        runs[1].append(measure(second, env))
    return runs


def summary(base: list[Measured], ours: list[Measured]) -> str:
    """``bare s (min-max)  ours s (min-max)  ratio (range)  CPU s and ratio  bare RSS  ours RSS``."""
    ratios = [o.seconds / b.seconds for b, o in zip(base, ours, strict=True)]
    base_cpu, ours_cpu = (statistics.median(run.cpu for run in runs) for runs in (base, ours))

    def spread(runs: list[Measured]) -> str:
        values = [run.seconds for run in runs]
        return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"

    return (
        f"{spread(base):>18} {spread(ours):>18} {statistics.median(ratios):>6.2f}x "
        f"{f'{min(ratios):.2f}-{max(ratios):.2f}':>10} "
        f"{f'{base_cpu:.2f}/{ours_cpu:.2f}':>11} {ours_cpu / base_cpu:>8.2f}x "
        f"{max(run.peak_rss_mb for run in base):>9.0f} {max(run.peak_rss_mb for run in ours):>9.0f}"
    )


HEADER = (
    f"{'bare s (min-max)':>18} {'ours s (min-max)':>18} {'ratio':>7} {'range':>10} "
    f"{'cpu s':>11} {'cpu ratio':>9} {'bare MB':>9} {'ours MB':>9}"
)
