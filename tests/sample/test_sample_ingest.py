"""The generated exports go through the real ingest and load exactly their truth."""

from __future__ import annotations

import json

import pandas as pd

from core.currency import RateTable
from core.ingest import ingest_bytes
from core.sample import SAMPLE_RATES, generate_history
from core.sample.files import csv_bytes


def _without_blanks(extra: str) -> dict:
    return {key: value for key, value in json.loads(extra).items() if value not in (None, "")}


def test_ingest_bytes_loads_each_sample_csv_as_its_truth_and_rejects_exactly_the_bad_rows(store):
    rates = RateTable(rates=SAMPLE_RATES)
    for snapshot in generate_history(deals=150, snapshots=3, messy=0.1):
        result = ingest_bytes(store, csv_bytes(snapshot), f"{snapshot.file_stem}.csv", rates=rates)

        assert (result.source, result.as_of) == ("pipedrive", snapshot.as_of)
        assert result.rows_read == len(snapshot.export)
        expected_rows = sorted(snapshot.expected_rejects["position"] + 2)  # header is row 1
        assert [reject.row for reject in result.rejects] == expected_rows
        for reject, bad in zip(result.rejects, snapshot.expected_rejects.itertuples(), strict=True):
            assert bad.column in reject.reason and repr(bad.value) in reject.reason

        loaded = store.load_deals(result.snapshot_id)
        truth = snapshot.loadable_truth().sort_values("deal_id", ignore_index=True)
        assert [_without_blanks(e) for e in loaded["extra"]] == [_without_blanks(e) for e in truth["extra"]]
        pd.testing.assert_frame_equal(loaded.drop(columns="extra"), truth.drop(columns="extra"))
