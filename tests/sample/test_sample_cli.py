"""``python -m core sample``: files written, what it prints, exit statuses."""

from __future__ import annotations

import json

import pytest

from core.cli import EXIT_BAD_INPUT, EXIT_OK, main
from core.sample import generate_history
from core.sample.files import csv_bytes


def test_sample_command_writes_one_csv_per_snapshot_and_lists_them(tmp_path, capsys):
    status = main(["sample", "--rows", "50", "--snapshots", "3", str(tmp_path)])
    assert status == EXIT_OK
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"pipedrive_deals_2026-09-{day}.csv" for day in ("07", "14", "21")]
    history = generate_history(deals=50, snapshots=3)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{tmp_path / name}  as of {s.as_of}  {len(s.export)} rows"
        for name, s in zip(names, history, strict=True)
    ]
    for name, snapshot in zip(names, history, strict=True):
        assert (tmp_path / name).read_bytes() == csv_bytes(snapshot)


def test_sample_command_json_lists_path_as_of_and_rows(tmp_path, capsys):
    status = main(["sample", "--rows", "40", "--snapshots", "2", "--format", "both", "--json", str(tmp_path)])
    assert status == EXIT_OK
    written = json.loads(capsys.readouterr().out)
    history = generate_history(deals=40, snapshots=2)
    assert written == [
        {"path": str(tmp_path / f"pipedrive_deals_{s.as_of}.{fmt}"), "as_of": s.as_of.isoformat(),
         "rows": len(s.export)}
        for s in history
        for fmt in ("csv", "xlsx")
    ]
    assert all((tmp_path / item["path"]).exists() for item in written)


def test_sample_command_options_reach_the_generator(tmp_path):
    options = ["--rows", "30", "--snapshots", "2", "--seed", "11", "--stage-days-scale", "1.7",
               "--messy", "0.2"]
    assert main(["sample", *options, str(tmp_path)]) == EXIT_OK
    history = generate_history(deals=30, snapshots=2, seed=11, stage_days_scale=1.7, messy=0.2)
    for snapshot in history:
        assert (tmp_path / f"{snapshot.file_stem}.csv").read_bytes() == csv_bytes(snapshot)


def test_sample_command_latest_only_writes_the_last_file_of_a_full_run(tmp_path):
    common = ["sample", "--rows", "30", "--snapshots", "4"]
    assert main([*common, str(tmp_path / "full")]) == EXIT_OK
    assert main([*common, "--latest-only", str(tmp_path / "one")]) == EXIT_OK
    (only,) = (tmp_path / "one").iterdir()
    assert only.name == "pipedrive_deals_2026-09-28.csv"
    assert only.read_bytes() == (tmp_path / "full" / only.name).read_bytes()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--rows", "0"], "argument --rows: must be at least 1, got 0"),
        (["--rows", "many"], "argument --rows: expected a whole number, got 'many'"),
        (["--snapshots", "-2"], "argument --snapshots: must be at least 1, got -2"),
        (["--seed", "x"], "argument --seed: invalid int value: 'x'"),
        (["--format", "pdf"], "argument --format: invalid choice: 'pdf'"),
        (["--stage-days-scale", "0"], "argument --stage-days-scale: must be above 0, got 0"),
        (["--stage-days-scale", "nan"], "argument --stage-days-scale: expected a finite number, got 'nan'"),
        (["--messy", "0.9"], "argument --messy: must be between 0 and 0.5, got 0.9"),
    ],
)
def test_sample_command_bad_arguments_exit_2_and_write_nothing(tmp_path, capsys, arguments, message):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", *arguments, str(out)])
    assert exit_info.value.code == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_sample_command_without_out_dir_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sample", "--rows", "10"])
    assert exit_info.value.code == EXIT_BAD_INPUT
    assert "OUT_DIR" in capsys.readouterr().err
