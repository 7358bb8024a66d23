"""The direct load: a plain CSV goes from DuckDB's typed reader straight into ``deals``.

It is only a faster way to the same snapshot. Every test here ingests a file twice, once
allowed to load it directly and once by the full parse alone, and compares everything
saved: deals, rejected rows, counts, warnings, the detection report. A file the direct
load cannot vouch for is handed to the full parse with nothing written.
"""

from __future__ import annotations

import threading

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.ingest import csv_reader, ingest_bytes, parse
from core.ingest import direct as direct_load
from core.ingest.csv_reader import count_lines, csv_cells, holds_control_whitespace, typed_source
from core.ingest.mapping import remembered_mapping
from core.ingest.plan import TYPED_DATE_RANGE, TYPED_DATES
from core.ingest.values import DateProfile, date_sql
from core.store import Store
from tests.ingest.exports import PIPEDRIVE_HEADERS, pipedrive_csv, pipedrive_row, to_csv

#: Rows the column plan is made from in these tests (the files are a little longer).
SAMPLE = 4


def plain(deal_id: int, **overrides: str) -> dict[str, str]:
    """A row the direct load takes: a probability above 1 settles the probability scale."""
    return pipedrive_row(deal_id, **{"Probability": "60", **overrides})


def rows_with(late: dict[int, dict[str, str]], count: int = 12) -> list[dict[str, str]]:
    """``count`` plain rows, row ``i`` changed by ``late[i]`` (rows after the sample)."""
    return [plain(i, **late.get(i, {})) for i in range(1, count + 1)]


def cut_short(data: bytes, line: int, fields: int) -> bytes:
    """``data`` with its line ``line`` (0 for the header) cut to its first ``fields`` fields."""
    lines = data.split(b"\r\n")
    lines[line] = b",".join(lines[line].split(b",")[:fields])
    return b"\r\n".join(lines)


def saved(store: Store, result) -> dict:
    """Everything an ingest left in ``store`` and said about it (ids aside)."""
    cur = store.cursor()
    snapshot = store.get_snapshot(result.snapshot_id)
    return {
        "result": result.model_dump(exclude={"snapshot_id"}),
        "snapshot": snapshot.model_dump(exclude={"id", "created_at"}),
        "deals": cur.execute("SELECT * EXCLUDE (snapshot_id) FROM deals ORDER BY deal_id").fetchall(),
        "rejects": cur.execute(
            "SELECT * EXCLUDE (snapshot_id) FROM rejected_rows ORDER BY row_number"
        ).fetchall(),
        "snapshots": cur.execute("SELECT count(*) FROM snapshots").fetchall()[0][0],
    }


def spy_on_direct_loads(patch) -> list[int]:
    """Have ``patch`` (a monkeypatch) note the snapshot id of every direct load that succeeds."""
    loads = []
    load_direct = direct_load._load_direct

    def spied(*args, **options):
        loaded = load_direct(*args, **options)
        loads.append(args[-1])
        return loaded

    patch.setattr(direct_load, "_load_direct", spied)
    return loads


def ingest_both(data: bytes, monkeypatch, sample: int = SAMPLE) -> tuple[dict, dict, str]:
    """(saved when the direct load may take ``data``, saved by the full parse alone, which
    path the first took: "direct" or "full"), the plan made from ``sample`` rows."""
    with monkeypatch.context() as patch, Store(":memory:") as store:
        patch.setattr(parse, "SAMPLE_ROWS", sample)
        loads = spy_on_direct_loads(patch)
        direct = saved(store, ingest_bytes(store, data, "deals.csv"))
    with monkeypatch.context() as patch, Store(":memory:") as store:
        patch.setattr(parse, "SAMPLE_ROWS", sample)
        patch.setattr(direct_load, "_direct_eligible", lambda *args: False)
        full = saved(store, ingest_bytes(store, data, "deals.csv"))
    return direct, full, "direct" if loads else "full"


@pytest.mark.parametrize(
    ("data", "path"),
    [
        pytest.param(pipedrive_csv(rows_with({})), "direct", id="plain"),
        pytest.param(pipedrive_csv(rows_with({}), line_end="\n"), "direct", id="lf-line-ends"),
        pytest.param(
            pipedrive_csv(rows_with({6: {"Value": "n/a"}, 9: {"Value": "abc", "Status": "Maybe"}})),
            "direct",
            id="refused-values-rejected",
        ),
        pytest.param(
            pipedrive_csv(
                rows_with({6: {"Value": "$1,200"}, 7: {"Value": "(500)"}, 8: {"Probability": "75%"}})
            ),
            "direct",
            id="refused-values-that-load",
        ),
        pytest.param(
            pipedrive_csv(rows_with({6: {"Value": " 12 "}, 7: {"Value": "1e3"}, 8: {"Value": ""}})),
            "direct",
            id="values-the-reader-converts",
        ),
        pytest.param(
            pipedrive_csv(rows_with({6: {"Value": "1,000 XYZ", "Currency_of_Value": ""}})),
            "direct",
            id="refused-value-with-an-unknown-currency",
        ),
        pytest.param(
            pipedrive_csv(
                rows_with({6: {"Value": "n/a", "Title": 'Acme, "Inc" شركة'}, 7: {"Title": "Café"}})
            ),
            "direct",
            id="refused-row-with-quotes-and-utf8",
        ),
        pytest.param(
            pipedrive_csv(rows_with({6: {"Value": "n/a", "Organization": "Café"}}), encoding="cp1252"),
            "direct",
            id="cp1252",
        ),
        pytest.param(
            cut_short(pipedrive_csv(rows_with({7: {"Value": "n/a"}})), 7, 10),
            "direct",
            id="short-row",
        ),
        pytest.param(
            pipedrive_csv(rows_with({6: {"Expected_close_date": "2026-13-45"}})),
            "direct",
            id="late-bad-date",
        ),
        pytest.param(
            pipedrive_csv(
                rows_with(
                    {
                        6: {"Deal_created": "2026-01-05"},
                        7: {"Expected_close_date": "2026-03-31 12:00:00"},
                        8: {"Update_time": " 2026-02-01 10:00:00 "},
                        9: {"Expected_close_date": "2026-3-1"},
                    }
                )
            ),
            "direct",
            id="late-dates-written-otherwise",
        ),
        pytest.param(
            pipedrive_csv(rows_with({6: {"Expected_close_date": "\t2026-03-31"}})),
            "full",
            id="late-date-beside-a-tab",
        ),
        pytest.param(
            pipedrive_csv(rows_with({6: {"Deal_created": "2026-01-05 09:30:00\r"}})),
            "full",
            id="late-date-beside-a-return",
        ),
        pytest.param(
            pipedrive_csv(rows_with({6: {"Expected_close_date": "infinity"}})),
            "full",
            id="late-date-the-reader-misreads",
        ),
        pytest.param(
            pipedrive_csv(rows_with({6: {"Deal_created": "26-01-05 09:30:00"}})),
            "full",
            id="late-short-year",
        ),
        pytest.param(
            pipedrive_csv(rows_with({6: {"Expected_close_date": "1900-01-01"}})),
            "full",
            id="late-date-out-of-the-typed-range",
        ),
        pytest.param(pipedrive_csv(rows_with({6: {"Status": "Maybe"}})), "full", id="late-bad-status"),
        pytest.param(
            pipedrive_csv(rows_with({6: {"Probability": "200"}})),
            "full",
            id="late-probability-out-of-range",
        ),
        pytest.param(pipedrive_csv(rows_with({6: {"Value": "inf"}})), "full", id="late-infinite-value"),
        pytest.param(
            pipedrive_csv(rows_with({6: {"Value": "1.234,56"}, 7: {"Value": "9,5"}})),
            "full",
            id="late-decimal-commas",
        ),
        pytest.param(
            pipedrive_csv(rows_with({6: {"Currency_of_Value": ""}})),
            "full",
            id="value-without-currency",
        ),
        pytest.param(
            pipedrive_csv(rows_with({6: {"Currency_of_Value": "XYZ"}})),
            "full",
            id="value-with-an-unknown-currency",
        ),
        pytest.param(
            pipedrive_csv([*rows_with({}), plain(3, Title="again")]),
            "full",
            id="duplicated-deal-id",
        ),
        pytest.param(
            pipedrive_csv(rows_with({6: {"Title": "two\nlines"}, 7: {"Value": "n/a"}})),
            "full",
            id="record-over-two-lines",
        ),
        pytest.param(pipedrive_csv(rows_with({})).replace(b"\r\n7,", b"\r\n\r\n7,"), "full", id="blank-line"),
        pytest.param(pipedrive_csv(rows_with({})) + b"Grand Totals (12 records)\r\n", "full", id="footer"),
        pytest.param(pipedrive_csv(rows_with({})) + b"Total,,,12000\r\n", "full", id="total-row"),
        pytest.param(
            pipedrive_csv(rows_with({})).replace(b"\r\n7,", b",extra\r\n7,"),
            "full",
            id="more-fields-than-headers",
        ),
        pytest.param(
            pipedrive_csv(rows_with({i: {"Probability": "0.5"} for i in range(1, 13)})),
            "full",
            id="probabilities-as-fractions",
        ),
        pytest.param(
            pipedrive_csv(rows_with({i: {"Probability": ""} for i in range(1, 13)})),
            "full",
            id="no-probabilities",
        ),
        pytest.param(
            pipedrive_csv(rows_with({i: {"Value": "$1,000"} for i in range(1, 13)})),
            "full",
            id="sample-of-formatted-values",
        ),
        pytest.param(
            pipedrive_csv(rows_with({i: {"Value": "1,5"} for i in range(1, 13)}), delimiter=";"),
            "full",
            id="decimal-commas",
        ),
    ],
)
def test_a_plain_file_loads_directly_any_other_by_the_full_parse_and_both_save_the_same(
    data, path, monkeypatch
):
    direct, full, taken = ingest_both(data, monkeypatch)

    assert taken == path
    assert direct == full


def test_values_the_typed_reader_refuses_are_read_from_their_text(monkeypatch):
    late = {6: {"Value": "$1,200", "Currency_of_Value": ""}, 8: {"Value": "n/a"}, 9: {"Probability": "75%"}}
    data = pipedrive_csv(rows_with(late))

    direct, _, path = ingest_both(data, monkeypatch)

    deals = {deal[0]: deal for deal in direct["deals"]}
    assert path == "direct"
    assert (deals["6"][5], deals["6"][6]) == (1200.0, "USD")
    assert deals["9"][8] == 0.75
    assert "8" not in deals
    assert direct["rejects"] == [
        (9, "8,Fit-out 8,Sara Al-Qahtani,n/a,SAR,500,Projects,Approved,Open,2026-01-05 09:30:00,"
         "2026-02-01 10:00:00,2026-01-20 08:00:00,,,,2026-03-31,60,Saudi Aramco,Ahmed Saleh,"
         "2026-02-10,2026-01-30,", "row 9, column 'Deal - Value': 'n/a' is not a number")
    ]
    assert direct["snapshot"]["rows_read"] == 12


def test_a_large_file_loads_directly_and_its_refused_rows_keep_their_row_numbers(monkeypatch):
    """Some 20 MB with the default sample: a refused row every 997 rows, numbered as the full
    parse numbers them."""
    rows = [
        plain(i, Value="n/a" if i % 997 == 0 else str(i), Title=f"Fit-out {i} " + "x" * 80)
        for i in range(1, 80_001)
    ]
    data = pipedrive_csv(rows, line_end="\n")

    direct, full, path = ingest_both(data, monkeypatch, sample=10_000)

    assert len(data) > 20 * 1024 * 1024
    assert path == "direct"
    assert [row for row, *_ in direct["rejects"]] == [i + 1 for i in range(997, 80_001, 997)]
    assert direct == full


def test_two_threads_load_directly_at_once_each_into_its_own_snapshot(file_store, monkeypatch):
    monkeypatch.setattr(parse, "SAMPLE_ROWS", SAMPLE)
    direct = spy_on_direct_loads(monkeypatch)
    files = {n: pipedrive_csv(rows_with({6: {"Value": "n/a"}, 9: {"Title": f"upload {n}"}})) for n in (1, 2)}
    results = {}

    def load(n: int) -> None:
        results[n] = ingest_bytes(file_store, files[n], f"deals-{n}.csv")

    threads = [threading.Thread(target=load, args=(n,)) for n in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(direct) == sorted(result.snapshot_id for result in results.values())
    for n, result in results.items():
        deals = file_store.load_deals(result.snapshot_id).set_index("deal_id")
        assert (result.rows_loaded, [r.row for r in result.rejects]) == (11, [7])
        assert deals.loc["9", "title"] == f"upload {n}"


def test_a_mapping_given_with_a_file_loaded_directly_is_remembered_for_its_headers(monkeypatch):
    mapping = {"deal_id": "Deal - ID", "title": "Deal - Title", "value": "Deal - Value",
               "currency": "Deal - Currency of Value", "probability": "Deal - Probability"}
    data = pipedrive_csv(rows_with({}))
    monkeypatch.setattr(parse, "SAMPLE_ROWS", SAMPLE)
    direct = spy_on_direct_loads(monkeypatch)
    with Store(":memory:") as store:
        result = ingest_bytes(store, data, "deals.csv", source="generic", mapping=mapping)

        assert direct == [result.snapshot_id]
        assert remembered_mapping(store, list(PIPEDRIVE_HEADERS)) == ("generic", mapping)


def test_a_direct_load_that_gives_up_writes_nothing_of_its_own(monkeypatch, caplog):
    data = pipedrive_csv(rows_with({6: {"Value": "n/a"}, 10: {"Status": "Maybe"}}))
    caplog.set_level("INFO", logger="core.ingest")

    direct, full, path = ingest_both(data, monkeypatch)

    assert path == "full"
    assert direct == full
    assert direct["snapshots"] == 1
    assert len(direct["deals"]) == 10
    assert "deals.csv: not loaded directly (" in caplog.text


#: (column, value) a late row may carry: most the direct load reads (some from their text),
#: some that hand the file to the full parse.
MESSY_CELLS = [
    *(("Value", value) for value in ("12.5", " 7 ", "1e3", "-3", "", "n/a", "$1,200", "(5)", "inf", "1,5")),
    *(("Value", value) for value in ("+5", "5.", "1,000.50", "€7", "0x10", "1_000")),
    *(("Probability", value) for value in ("", "75%", "0.5", "200", "abc", " 30 ", "100", "0")),
    *(("Expected_close_date", value) for value in ("", "2026-03-31 10:00:00", "2026-13-45", "31/03/2026")),
    *(("Deal_created", value) for value in ("2026-01-05T09:30:00", "2026-01-05 09:30")),
    *(("Status", value) for value in ("won", "Lost", "", "Maybe")),
    *(("Currency_of_Value", value) for value in ("usd", "", "XYZ")),
    *(("Title", value) for value in ('a, "b"', "ü ş", "x;y\tz")),
    ("Organization", "  padded  "),
]
#: Columns a file may lack (it always has the title).
OPTIONAL_HEADERS = [header for header in PIPEDRIVE_HEADERS if header != "Deal - Title"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    late=st.lists(st.lists(st.sampled_from(MESSY_CELLS), max_size=2), min_size=1, max_size=10),
    repeated_ids=st.lists(st.integers(min_value=1, max_value=16), max_size=1),
    missing=st.sets(st.sampled_from(OPTIONAL_HEADERS), max_size=6),
    layout=st.fixed_dictionaries(
        {
            "delimiter": st.sampled_from([",", ";", "\t"]),
            "line_end": st.sampled_from(["\r\n", "\n"]),
            "quote_all": st.booleans(),
        }
    ),
    top=st.sampled_from([b"", b"\xef\xbb\xbf", b"Deals report\r\nRun 2026-02-01\r\n\r\n"]),
)
def test_the_direct_load_saves_what_the_full_parse_saves_whatever_the_file_holds(
    late, repeated_ids, missing, layout, top, monkeypatch
):
    rows = [plain(i) for i in range(1, SAMPLE + 1)]
    rows += [plain(SAMPLE + i, **dict(cells)) for i, cells in enumerate(late, start=1)]
    rows += [plain(deal_id, Title="repeated") for deal_id in repeated_ids]
    headers = [header for header in PIPEDRIVE_HEADERS if header not in missing]

    direct, full, _ = ingest_both(top + to_csv(rows, headers, **layout), monkeypatch)

    assert direct == full


@pytest.mark.parametrize(
    ("data", "lines"),
    [(b"", 0), (b"a", 1), (b"a\n", 1), (b"a\r\nb", 2), (b"a\n\nb\n", 3), (b"\n" * 5, 5)],
)
def test_count_lines_counts_a_last_line_without_a_newline(data, lines):
    assert count_lines(data) == lines


#: Date-like texts: ISO dates and date-times, and what DuckDB's reader might take for one
#: (years of other lengths, other separators, times, zones, padding, its special words). No
#: tab, vertical tab, form feed or lone carriage return: a file holding one converts no
#: dates (``holds_control_whitespace``).
DATE_TEXTS = st.one_of(
    st.builds(
        "{}{}{}{}{}{}{}{}".format,
        st.sampled_from(["", "", " ", "  ", "\u00a0", "\u3000"]),
        st.sampled_from(["2026", "1999", "1901", "1900", "0999", "0000", "26", "7", "02026", "12026"]),
        st.sampled_from(["-", "-", "/", ".", " "]),
        st.sampled_from(["01", "1", "12", "13", "00", "001", " 1"]),
        st.sampled_from(["-", "-", "/"]),
        st.sampled_from(["01", "1", "29", "30", "31", "32", "00"]),
        st.sampled_from(["", " 10:00:00", "T10:00:00", " 24:00:00", " 1:2:3", " 10:00", " 10:00:00.5",
                         " 10:00:00+05:00", " 10:00:00Z", "  10:00:00", " BC", "x"]),
        st.sampled_from(["", "", " ", "  ", "\u00a0", "\u3000"]),
    ),
    st.sampled_from(["epoch", "infinity", "-infinity", "today", "now", "allballs", "", " "]),
    st.text(alphabet="0123456789-: T/.+Zn", max_size=20),
)


@pytest.mark.parametrize(
    ("data", "holds"),
    [
        (b"a,b\n1,2\n", False),
        (b"a,b\r\n1,2\r\n", False),
        (b"a,b\r\n1,2", False),
        (b"a,b\n1,\t2\n", True),
        (b"a,b\n1,\x0b2\n", True),
        (b"a,b\n1,\x0c2\n", True),
        (b"a,b\r\n1,\"2\r\",3\r\n", True),
        (b"a,b\r\n1,2\r", True),
        (b"a,b\r\n" * 5 + b"1,\r2\r\n" + b"3,4\r\n" * 5, True),
    ],
)
def test_holds_control_whitespace_finds_tabs_and_returns_that_end_no_line(data, holds, monkeypatch):
    monkeypatch.setattr(csv_reader, "SLICE_BYTES", 4)  # a return at a slice's end is seen too
    assert holds_control_whitespace(data) is holds


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(DATE_TEXTS, min_size=1, max_size=40), st.sampled_from(sorted(TYPED_DATES)))
def test_a_date_the_typed_reader_converts_in_range_is_the_date_its_text_parses_to(texts, kind):
    """What lets the direct load take dates from DuckDB's reader: every value it converts to a
    date inside ``TYPED_DATE_RANGE`` is the one the text parse reads (the rest is parsed from
    its text, or sends the file to the full parse)."""
    rows = [[f"t{i}", t] for i, t in enumerate(texts)]
    data = to_csv(rows, ["Deal - Title", "Deal - Expected close date"], quote_all=True)
    formats = {option: text for _, option, text in TYPED_DATES.values()}
    assert not holds_control_whitespace(data)  # else the direct load converts no dates
    with duckdb.connect() as con, csv_cells(data, "dates.csv", "_dates", None) as raw:
        source = typed_source(raw, {"c1": kind}, "_refused", "_refused_scans", formats)
        typed = con.execute(
            f"SELECT c0, CAST(c1 AS DATE) FROM {source} WHERE CAST(c1 AS DATE) BETWEEN {TYPED_DATE_RANGE}",
            raw.params,
        ).fetchall()
        text = dict(con.execute(f"SELECT c0, {date_sql('c1', DateProfile(order='iso'))} FROM {raw.source}",
                                raw.params).fetchall())
    assert {title: text[title] for title, _ in typed} == dict(typed)
