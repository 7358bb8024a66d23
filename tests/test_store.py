import datetime as dt
import json
import logging
import threading

import duckdb
import pandas as pd
import pytest

from core.deals import DEAL_COLUMNS, conform
from core.errors import NotFoundError
from core.migrations import MIGRATIONS, SCHEMA_VERSION, migrate
from core.store import NewSnapshot, Store


def make_deals(n: int, prefix: str = "") -> pd.DataFrame:
    return conform(pd.DataFrame({
        "deal_id": [f"{prefix}{i}" for i in range(n)],
        "title": [f"Deal {i}" for i in range(n)],
        "value": [1000.0 * i for i in range(n)],
        "created_at": ["2026-01-05"] * n,
        "extra": [json.dumps({"Custom": i}) for i in range(n)],
    }))


def no_rejects() -> pd.DataFrame:
    return pd.DataFrame({"row_number": [], "raw": [], "reason": []})


def new_snapshot(rows_read: int, sha: str = "sha-1", as_of: str = "2026-02-01") -> NewSnapshot:
    return NewSnapshot(as_of=dt.date.fromisoformat(as_of), source="pipedrive",
                       file_name="deals.csv", sha256=sha, rows_read=rows_read)


def test_store_new_database_is_at_latest_schema_version(store):
    assert store.schema_version == SCHEMA_VERSION == MIGRATIONS[-1][0]


def test_store_reopening_a_file_keeps_data_and_does_not_migrate_twice(db_path):
    with Store(db_path) as first:
        first.save_snapshot(new_snapshot(2), make_deals(2), no_rejects(), b"a,b\n")
    with Store(db_path) as again:
        assert again.schema_version == SCHEMA_VERSION
        assert [s.rows_loaded for s in again.list_snapshots()] == [2]


def test_store_migrates_an_older_database(db_path):
    conn = duckdb.connect(db_path)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY)")
    conn.close()
    with Store(db_path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.list_snapshots() == []


def test_store_migration_4_keeps_the_deals_and_stores_per_deal_text_with_zstd(db_path):
    with duckdb.connect(db_path) as cur:  # rows written as that schema's code wrote them
        migrate(cur, to=3)
        cur.execute("INSERT INTO snapshots (as_of, source, file_name, sha256, rows_read, rows_loaded, "
                    "rows_rejected) VALUES (DATE '2026-02-01', 'pipedrive', 'deals.csv', 'sha-1', 3, 3, 0)")
        cur.register("old_rows", make_deals(3))
        cur.execute(f"INSERT INTO deals SELECT 1, {', '.join(DEAL_COLUMNS)} FROM old_rows")

    with Store(db_path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.load_deals(1)["extra"].tolist() == [json.dumps({"Custom": i}) for i in range(3)]
        store.save_snapshot(new_snapshot(3, sha="sha-2"), make_deals(3), no_rejects(), b"c,d\n")
        store.cursor().execute("CHECKPOINT")
        compression = dict(store.cursor().execute(
            """SELECT column_name, any_value(compression) FROM pragma_storage_info('deals')
               WHERE segment_type IN ('VARCHAR', 'JSON') GROUP BY column_name"""
        ).fetchall())
    assert {column: compression[column] for column in ("deal_id", "title", "extra")} == dict.fromkeys(
        ("deal_id", "title", "extra"), "ZSTD"
    )
    assert compression["stage"] != "ZSTD"


def test_store_migration_5_marks_cached_replies_used_when_they_were_written(db_path):
    with duckdb.connect(db_path) as old:
        migrate(old, to=4)
        old.execute(
            "INSERT INTO llm_cache (key, model, response, created_at, expires_at) "
            "VALUES ('k', 'm', '{}', TIMESTAMP '2026-01-02 03:04:05', TIMESTAMP '2027-01-01')"
        )

    with Store(db_path) as store:
        assert store.schema_version == SCHEMA_VERSION
        (used,) = store.cursor().execute("SELECT last_used_at FROM llm_cache").fetchone()
    assert used == dt.datetime(2026, 1, 2, 3, 4, 5)


def test_save_snapshot_round_trips_deals_rejects_and_raw_bytes(store):
    rejects = pd.DataFrame({"row_number": [4], "raw": ["x;y"], "reason": ["Deal - Value: 'abc'"]})
    snap = store.save_snapshot(new_snapshot(4), make_deals(3), rejects, b"\xef\xbb\xbfraw bytes")
    assert (snap.rows_read, snap.rows_loaded, snap.rows_rejected) == (4, 3, 1)
    deals = store.load_deals(snap.id)
    assert list(deals.columns) == list(DEAL_COLUMNS)
    assert deals["deal_id"].tolist() == ["0", "1", "2"]
    assert json.loads(deals.loc[2, "extra"]) == {"Custom": 2}
    assert deals.loc[0, "created_at"] == pd.Timestamp("2026-01-05")
    assert store.load_rejects(snap.id).to_dict("records") == [
        {"row_number": 4, "raw": "x;y", "reason": "Deal - Value: 'abc'"}
    ]
    assert store.raw_file(snap.id) == ("deals.csv", b"\xef\xbb\xbfraw bytes")


def test_load_rejects_gives_the_first_rows_up_to_a_limit(store):
    rejects = pd.DataFrame({"row_number": [9, 3, 5], "raw": ["a", "b", "c"], "reason": ["r"] * 3})
    snap = store.save_snapshot(new_snapshot(6), make_deals(3), rejects, b"raw")
    assert store.load_rejects(snap.id, limit=2)["row_number"].tolist() == [3, 5]
    assert store.load_rejects(snap.id)["row_number"].tolist() == [3, 5, 9]


def test_save_snapshot_refuses_counts_that_do_not_add_up_and_writes_nothing(store):
    with pytest.raises(ValueError, match="rows read"):
        store.save_snapshot(new_snapshot(5), make_deals(3), no_rejects(), b"")
    assert store.list_snapshots() == []


def test_write_snapshot_lets_the_caller_write_rows_first_and_undoes_all_when_it_raises(store):
    def write(cur, snapshot_id):
        cur.execute("INSERT INTO deals SELECT ?, * EXCLUDE (snapshot_id) FROM incoming", [snapshot_id])
        return new_snapshot(3), no_rejects(), 3

    store.cursor().register("incoming", make_deals(3).assign(snapshot_id=0))
    snap = store.write_snapshot(write, b"abc")
    assert (snap.rows_loaded, store.load_deals(snap.id)["deal_id"].tolist()) == (3, ["0", "1", "2"])

    def give_up(cur, snapshot_id):
        write(cur, snapshot_id)
        raise RuntimeError("not after all")

    with pytest.raises(RuntimeError):
        store.write_snapshot(give_up, b"def")
    assert [s.id for s in store.list_snapshots()] == [snap.id]
    assert store.query_df("SELECT count(*) AS n FROM deals")["n"][0] == 3


def test_failure_half_way_leaves_no_snapshot(store):
    broken = make_deals(3)
    broken["created_at"] = broken["created_at"].astype("string")
    broken.loc[1, "created_at"] = "not a date"  # the CAST to DATE fails inside the transaction
    with pytest.raises(duckdb.Error):
        store.save_snapshot(new_snapshot(3), broken, no_rejects(), b"abc")
    assert store.list_snapshots() == []
    assert store.query_df("SELECT count(*) AS n FROM deals")["n"][0] == 0
    assert store.query_df("SELECT count(*) AS n FROM raw_files")["n"][0] == 0


def test_find_snapshot_by_sha_detects_the_same_bytes(store):
    snap = store.save_snapshot(new_snapshot(1, sha="abc"), make_deals(1), no_rejects(), b"x")
    assert store.find_snapshot_by_sha("abc").id == snap.id
    assert store.find_snapshot_by_sha("other") is None


def test_resolve_snapshot_latest_is_newest_as_of(store):
    older = store.save_snapshot(new_snapshot(1, "a", "2026-01-01"), make_deals(1), no_rejects(), b"")
    newer = store.save_snapshot(new_snapshot(1, "b", "2026-03-01"), make_deals(1), no_rejects(), b"")
    assert store.resolve_snapshot("latest").id == newer.id
    assert store.resolve_snapshot(str(older.id)).id == older.id
    with pytest.raises(NotFoundError, match="No snapshot with id 99"):
        store.resolve_snapshot(99)
    with pytest.raises(NotFoundError, match="not a snapshot id"):
        store.resolve_snapshot("yesterday")


def test_resolve_latest_on_empty_store_says_what_to_do(store):
    with pytest.raises(NotFoundError, match="ingest a file first"):
        store.resolve_snapshot("latest")


def test_delete_snapshot_removes_everything_stored_with_it(store):
    rejects = pd.DataFrame({"row_number": [2], "raw": ["r"], "reason": ["why"]})
    keep = store.save_snapshot(new_snapshot(2, "k"), make_deals(1), rejects, b"k")
    gone = store.save_snapshot(new_snapshot(2, "g"), make_deals(1), rejects, b"g")
    store.delete_snapshot(gone.id)
    assert [s.id for s in store.list_snapshots()] == [keep.id]
    for table in ("deals", "rejected_rows", "raw_files"):
        ids = store.query_df(f"SELECT DISTINCT snapshot_id FROM {table}")["snapshot_id"].tolist()
        assert ids == [keep.id], table


def test_snapshot_keeps_its_uploader_and_a_deletion_is_logged_with_who_deleted_it(store, caplog):
    saved = store.save_snapshot(new_snapshot(1).model_copy(update={"uploaded_by": "ana@finance.example"}),
                                make_deals(1), no_rejects(), b"u")
    assert store.get_snapshot(saved.id).uploaded_by == "ana@finance.example"

    with caplog.at_level(logging.WARNING, logger="core.store"):
        store.delete_snapshot(saved.id, deleted_by="bob@finance.example")

    # The standard record structlog hands to the handler carries the event's fields.
    (event,) = [record.msg for record in caplog.records if record.name == "core.store"]
    assert event["event"] == "snapshot_deleted"
    assert (event["snapshot_id"], event["file_name"], event["uploaded_by"], event["deleted_by"]) == (
        saved.id, "deals.csv", "ana@finance.example", "bob@finance.example")


def test_concurrent_saves_from_two_threads_both_land(file_store):
    errors: list[BaseException] = []

    def ingest(worker: int) -> None:
        try:
            for round_ in range(5):
                file_store.save_snapshot(
                    new_snapshot(50, sha=f"{worker}-{round_}"), make_deals(50, f"w{worker}-"),
                    no_rejects(), b"bytes",
                )
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(w,)) for w in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    snapshots = file_store.list_snapshots()
    assert len(snapshots) == 10
    assert len({s.id for s in snapshots}) == 10
    assert file_store.query_df("SELECT count(*) AS n FROM deals")["n"][0] == 500


def test_closed_store_refuses_use_with_a_clear_message():
    store = Store()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.cursor()
