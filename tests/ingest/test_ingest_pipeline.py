"""Ingest into the store: one transaction per upload, duplicates, as-of, threads, and no row lost."""

from __future__ import annotations

import datetime as dt
import threading

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.ingest import ingest_bytes, ingest_file, parse_export
from core.ingest.cells import load_cells
from core.store import Store
from tests.ingest.exports import pipedrive_csv, pipedrive_row


def test_ingest_bytes_saves_deals_rejects_and_the_original_bytes(store):
    data = pipedrive_csv([pipedrive_row(1), pipedrive_row(2, Value="abc"), pipedrive_row(3)])

    result = ingest_bytes(store, data, "deals.csv", label="week 1")

    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (3, 2, 1)
    assert [(r.row, r.reason) for r in result.rejects] == [
        (3, "row 3, column 'Deal - Value': 'abc' is not a number")
    ]
    snapshot = store.get_snapshot(result.snapshot_id)
    assert (snapshot.source, snapshot.label, snapshot.as_of) == ("pipedrive", "week 1", dt.date(2026, 2, 1))
    assert store.load_deals(result.snapshot_id)["deal_id"].tolist() == ["1", "3"]
    rejects = store.load_rejects(result.snapshot_id)
    assert rejects["raw"].tolist()[0].startswith("2,Fit-out 2,Sara Al-Qahtani,abc,SAR,")
    assert store.raw_file(result.snapshot_id) == ("deals.csv", data)


def test_ingest_bytes_keeps_the_last_of_duplicated_deal_ids_and_rejects_the_others(store):
    data = pipedrive_csv([pipedrive_row(1, Title="old"), pipedrive_row(2), pipedrive_row(1, Title="new")])

    result = ingest_bytes(store, data, "deals.csv")

    assert [r.reason for r in result.rejects] == [
        "row 2, column 'Deal - ID': duplicate deal id '1', row 4 has the same id and is kept "
        "(the last one wins)"
    ]
    deals = store.load_deals(result.snapshot_id).sort_values("deal_id")
    assert deals[["deal_id", "title"]].values.tolist() == [["1", "new"], ["2", "Fit-out 2"]]


def test_ingest_bytes_reports_the_same_bytes_twice_as_already_loaded(store):
    data = pipedrive_csv([pipedrive_row(1)])
    first = ingest_bytes(store, data, "deals.csv")

    again = ingest_bytes(store, data, "copy.csv", label="again")

    assert (again.duplicate_of, again.snapshot_id, again.rows_loaded) == (
        first.snapshot_id,
        first.snapshot_id,
        1,
    )
    assert again.warnings == [
        f"deals.csv: these exact bytes are already loaded as snapshot {first.snapshot_id}; "
        "nothing was written."
    ]
    assert len(store.list_snapshots()) == 1


@pytest.mark.parametrize(
    ("rows", "as_of", "expected"),
    [
        ([pipedrive_row(1), pipedrive_row(2, Update_time="2026-03-09 23:59:59")], None, dt.date(2026, 3, 9)),
        ([pipedrive_row(1)], "2026-01-31", dt.date(2026, 1, 31)),
        ([pipedrive_row(1, Update_time="", Deal_created="")], None, dt.datetime.now(dt.UTC).date()),
    ],
)
def test_ingest_bytes_as_of_is_given_else_newest_update_or_created_else_today(store, rows, as_of, expected):
    result = ingest_bytes(store, pipedrive_csv(rows), "deals.csv", as_of=as_of)

    assert result.as_of == expected


def test_ingest_bytes_leaves_no_snapshot_when_saving_fails_half_way(store, monkeypatch):
    data = pipedrive_csv([pipedrive_row(1), pipedrive_row(2, Value="abc")])
    real_execute = store.cursor().execute
    cursor = store.cursor()

    class SaveFailure(RuntimeError):
        pass

    def failing_execute(sql, *args, **kwargs):
        if sql.startswith("INSERT INTO raw_files"):
            raise SaveFailure("disk full")
        return real_execute(sql, *args, **kwargs)

    monkeypatch.setattr(store, "cursor", lambda: _CursorProxy(cursor, failing_execute))

    with pytest.raises(SaveFailure):
        ingest_bytes(store, data, "deals.csv")

    monkeypatch.undo()
    counts = store.query_df(
        "SELECT (SELECT count(*) FROM snapshots) AS s, (SELECT count(*) FROM deals) AS d, "
        "(SELECT count(*) FROM rejected_rows) AS r, (SELECT count(*) FROM raw_files) AS f"
    )
    assert counts.iloc[0].tolist() == [0, 0, 0, 0]
    assert ingest_bytes(store, data, "deals.csv").rows_loaded == 1


class _CursorProxy:
    """A cursor whose ``execute`` is replaced; everything else goes to the real one."""

    def __init__(self, cursor, execute):
        self._cursor, self.execute = cursor, execute

    def __getattr__(self, name):
        return getattr(self._cursor, name)


def test_ingest_file_from_two_threads_into_one_file_store_saves_both(file_store, tmp_path):
    paths = []
    for n in range(2):
        path = tmp_path / f"week{n}.csv"
        path.write_bytes(pipedrive_csv([pipedrive_row(i, Title=f"w{n}-{i}") for i in range(1, 301)]))
        paths.append(path)
    results, errors = [], []

    def load(path):
        try:
            results.append(ingest_file(file_store, path))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(r.file_name for r in results) == ["week0.csv", "week1.csv"]
    for result in results:
        titles = file_store.load_deals(result.snapshot_id)["title"]
        week = result.file_name.removesuffix(".csv").removeprefix("week")
        assert len(titles) == 300 and titles.str.startswith(f"w{week}-").all()


def test_ingest_file_names_a_missing_path(store, tmp_path):
    from core.errors import InputError

    with pytest.raises(InputError, match="no such file"):
        ingest_file(store, tmp_path / "nope.csv")


def test_ingest_into_a_reopened_file_store_keeps_every_snapshot(db_path):
    with Store(db_path) as first:
        ingest_bytes(first, pipedrive_csv([pipedrive_row(1)]), "a.csv")
    with Store(db_path) as second:
        ingest_bytes(second, pipedrive_csv([pipedrive_row(2)]), "b.csv")
        assert [s.file_name for s in second.list_snapshots()] == ["a.csv", "b.csv"]


# -- properties -------------------------------------------------------------------------

texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=20
)
deal_rows = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=40),
        texts.map(str.strip),
        st.one_of(st.none(), st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False)),
        st.sampled_from(["SAR", "USD", "EUR", "AED", "BGN"]),
        st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2090, 12, 31)),
        st.sampled_from(["Open", "Won", "Lost", "Deleted"]),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=deal_rows, junk=st.lists(st.integers(min_value=0, max_value=24), max_size=3))
def test_any_pipedrive_export_round_trips_its_values_and_loses_no_row(rows, junk):
    source_rows = [
        pipedrive_row(
            deal_id,
            Title=title,
            Value="" if value is None else f"{value:,}",
            Currency_of_Value=currency,
            Deal_created=f"{created.isoformat()} 10:00:00",
            Status=status,
        )
        for deal_id, title, value, currency, created, status in rows
    ]
    bad = {i for i in junk if i < len(source_rows)}
    for i in bad:
        source_rows[i]["Deal - Value"] = "twelve"

    parsed = parse_export(pipedrive_csv(source_rows), "deals.csv")

    assert parsed.rows_read == len(rows) == parsed.rows_loaded + parsed.rows_rejected
    expected = {}
    for position, (deal_id, title, value, currency, created, status) in enumerate(rows):
        if position not in bad:
            expected[str(deal_id)] = (
                title or None,
                None if value is None else float(value),
                currency,
                dt.datetime.combine(created, dt.time()),
                status.lower(),
            )
    loaded = {
        row.deal_id: (
            _none(row.title),
            _none(row.value),
            row.currency,
            row.created_at.to_pydatetime(),
            row.status,
        )
        for row in parsed.deals.itertuples()
    }
    assert loaded == expected
    assert sorted(parsed.rejects["row_number"]) == sorted(
        set(range(2, len(rows) + 2)) - {_last_row_of(rows, bad, deal_id) for deal_id in expected}
    )


def _none(value):
    return None if pd.isna(value) else value


def _last_row_of(rows, bad, deal_id):
    return max(i for i, row in enumerate(rows) if str(row[0]) == deal_id and i not in bad) + 2


def _rows(count: int, **late: str) -> list[dict[str, str]]:
    """``count`` Pipedrive rows whose second half carries the ``late`` overrides."""
    return [pipedrive_row(i, **(late if i > count // 2 else {})) for i in range(1, count + 1)]


MESSY = [
    *_rows(6),
    pipedrive_row(7, Value="n/a", Deal_created="2026-13-45"),
    pipedrive_row(8, Title='Line one\nline two, "quoted"', Organization="\u00a0شركة\u00a0"),
    pipedrive_row(9, Status="Maybe", Title="  padded  "),
    {**pipedrive_row(10), "Deal - ID": "", "Deal - Title": ""},
    pipedrive_row(11, Probability="200"),
]


@pytest.mark.parametrize(
    "data",
    [
        pipedrive_csv(MESSY) + b"\r\nTotal,,,9000\r\nGrand Totals (11 records)\r\n",
        pipedrive_csv([*MESSY, pipedrive_row(3, Title="again"), pipedrive_row(12)], delimiter=";"),
        pipedrive_csv([*MESSY, pipedrive_row(12, Expected_close_date="someday")]),
        pipedrive_csv(_rows(8, Value="1.234,56")),
        pipedrive_csv(_rows(8, Expected_close_date="25/12/2026")),
        pipedrive_csv(_rows(8, Probability="0.5")),
        pipedrive_csv(_rows(8, Probability="75")),
        pipedrive_csv(_rows(8, Value="1,200")),
    ],
    ids=[
        "bad-values-footers",
        "duplicates-semicolon",
        "late-non-date",
        "late-decimal-comma",
        "late-day-first",
        "late-fractions",
        "percent",
        "thousands",
    ],
)
def test_parse_from_the_first_rows_in_one_pass_equals_the_parse_of_the_whole_file(data, monkeypatch):
    whole = parse_export(data, "deals.csv")
    monkeypatch.setattr("core.ingest.parse.SAMPLE_ROWS", 2)

    sampled = parse_export(data, "deals.csv")

    assert sampled.table.to_pylist() == whole.table.to_pylist()
    assert sampled.rejects.to_dict("records") == whole.rejects.to_dict("records")
    assert (sampled.rows_read, sampled.warnings, sampled.detection, sampled.as_of_guess) == (
        whole.rows_read,
        whole.warnings,
        whole.detection,
        whole.as_of_guess,
    )


@pytest.mark.parametrize(
    ("late_date", "whole_file_loaded"),
    [("n/a", False), ("2026-13-45", False), ("25/12/2026", True), ("soon", True)],
)
def test_a_late_date_reloads_the_whole_file_only_when_it_may_be_another_format(
    late_date, whole_file_loaded, monkeypatch
):
    loads = []

    def counted_load(con, raw, limit=None):
        loads.append(limit)  # None: the whole file as text
        return load_cells(con, raw, limit)

    monkeypatch.setattr("core.ingest.parse.SAMPLE_ROWS", 2)
    monkeypatch.setattr("core.ingest.parse.load_cells", counted_load)
    rows = [*(pipedrive_row(i) for i in range(1, 5)), pipedrive_row(5, Expected_close_date=late_date)]

    parse_export(pipedrive_csv(rows), "deals.csv")

    assert (None in loads) == whole_file_loaded


def test_ingest_file_keeps_a_large_upload_byte_for_byte(file_store, tmp_path):
    path = tmp_path / "big.csv"
    rows = [pipedrive_row(i, Title=f"Deal {i} " + "x" * 200) for i in range(1, 5001)]
    path.write_bytes(pipedrive_csv(rows))

    result = ingest_file(file_store, path)

    assert path.stat().st_size > 1024 * 1024
    assert file_store.raw_file(result.snapshot_id) == ("big.csv", path.read_bytes())
