"""A seeded slice of the ingest fuzzer (core.sample.fuzz; bench/fuzz_ingest.py runs 10,000):
every generated file is read with all its rows accounted for, or refused with a reason."""

from __future__ import annotations

from collections import Counter

from core.cli import EXIT_BAD_INPUT, EXIT_OK, main
from core.sample.fuzz import fuzz_file, ingest_outcome

#: Seeds the suite runs (the bench starts at 0 too, so a crash here is one there).
SLICE = range(300)


def test_fuzzed_files_are_read_or_refused_never_crash():
    outcomes = Counter()
    crashes = []
    for seed in SLICE:
        outcome = ingest_outcome(*fuzz_file(seed))
        outcomes[outcome.split(":")[0]] += 1
        if outcome.startswith("crash"):
            crashes.append((seed, outcome))
    assert not crashes
    assert outcomes["loaded"] > 50 and outcomes["refused"] > 20, outcomes  # the slice tries both


def test_fuzz_files_are_the_same_for_a_seed_and_vary_across_seeds():
    assert fuzz_file(7) == fuzz_file(7)
    names = {fuzz_file(seed)[0].rsplit(".", 1)[-1] for seed in SLICE}
    assert names == {"csv", "xlsx"}


def test_a_refused_fuzz_file_exits_2_with_one_line_and_a_loaded_one_exits_0(tmp_path, capsys):
    statuses = {}
    for seed in range(40):
        name, data = fuzz_file(seed)
        path = tmp_path / name
        path.write_bytes(data)
        outcome = ingest_outcome(name, data).split(":")[0]
        if outcome in statuses:
            continue
        capsys.readouterr()
        statuses[outcome] = main(["ingest", str(path), "--db", ":memory:"])
        if outcome == "refused":
            err = capsys.readouterr().err
            assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert statuses == {"loaded": EXIT_OK, "refused": EXIT_BAD_INPUT}
