"""Files that cannot be ingested at all: a specific message naming the file, and nothing written."""

from __future__ import annotations

import pytest

from core.ingest import (
    EmptyFileError,
    FileTooLargeError,
    IngestError,
    MissingColumnsError,
    NoHeaderError,
    NotTabularError,
    UnreadableFileError,
    ingest_bytes,
)
from core.ingest.layout import HEADER_SEARCH_ROWS

BAD_FILES = [
    (b"", "deals.csv", EmptyFileError, "deals.csv: the file is empty (0 bytes)."),
    (b"\r\n\r\n  \n", "deals.csv", EmptyFileError, "deals.csv: the file has no rows, only blank lines."),
    (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
        "deals.csv",
        NotTabularError,
        "deals.csv: this is a PDF document, not a CSV or XLSX export.",
    ),
    (
        b"\x89PNG\r\n\x1a\n\x00\x00",
        "deals.xlsx",
        NotTabularError,
        "deals.xlsx: this is a PNG image, not a CSV or XLSX export.",
    ),
    (
        b"PK\x03\x04 not really a zip",
        "deals.xlsx",
        UnreadableFileError,
        "deals.xlsx: the XLSX (zip) file is damaged or cut short.",
    ),
    (
        b"\x00\x01\x02binary",
        "deals.csv",
        NotTabularError,
        "deals.csv: this is a binary file, not a CSV or XLSX export.",
    ),
    (
        b"1,2,3\n4,5,6\n",
        "numbers.csv",
        NoHeaderError,
        f"numbers.csv: no header row found in the first {HEADER_SEARCH_ROWS} rows (expected column names "
        "such as 'Deal - Title' or 'Deal Name'; the first row reads '1', '2', '3').",
    ),
    (
        b"Colour,Size\nred,L\n",
        "shirts.csv",
        MissingColumnsError,
        "shirts.csv: no deal id or title column found (looked for the generic names, e.g. 'title', 'Deal'). "
        "Columns found: Colour, Size. Map one with --map title='Column' or --map deal_id='Column'.",
    ),
]


@pytest.mark.parametrize(("data", "name", "error", "message"), BAD_FILES)
def test_ingest_bytes_refuses_an_unusable_file_with_a_specific_message_and_writes_nothing(
    store, data, name, error, message
):
    with pytest.raises(error) as raised:
        ingest_bytes(store, data, name)

    assert str(raised.value) == message
    assert isinstance(raised.value, IngestError)
    assert store.list_snapshots() == []
    assert store.query_df("SELECT count(*) AS n FROM raw_files")["n"][0] == 0


def test_missing_columns_error_lists_what_is_missing_and_what_was_found(store):
    with pytest.raises(MissingColumnsError) as raised:
        ingest_bytes(store, b"Colour,Size\nred,L\n", "shirts.csv")

    assert (raised.value.missing, raised.value.found) == (["deal_id", "title"], ["Colour", "Size"])


def test_ingest_bytes_refuses_a_file_over_the_configured_limit(store):
    data = b"Deal - ID,Deal - Title\n" + b"1,One\n" * 200

    with pytest.raises(FileTooLargeError) as raised:
        ingest_bytes(store, data, "big.csv", max_bytes=1000)

    assert str(raised.value) == (
        "big.csv: the file is 1223 bytes, over the 1000 bytes limit "
        "(raise DEALCAST_MAX_UPLOAD_MB to allow it)."
    )
    assert store.list_snapshots() == []


def test_ingest_bytes_default_limit_comes_from_settings(store, monkeypatch):
    from core import config

    monkeypatch.setenv("DEALCAST_MAX_UPLOAD_MB", "1")
    config.get_settings.cache_clear()
    try:
        with pytest.raises(FileTooLargeError, match=r"over the 1\.0 MB limit"):
            ingest_bytes(store, b"Deal - ID,Deal - Title\n" + b"1,One\n" * 200_000, "big.csv")
    finally:
        config.get_settings.cache_clear()
