"""Upload page: a newcomer loads the sample, a user uploads, maps, previews, saves and deletes."""

from __future__ import annotations

import hashlib

from core.bootstrap import sample_files
from core.cashflow.assumptions import SEED_PROFILE, save_assumptions
from tests.ingest.exports import pipedrive_csv, pipedrive_row
from tests.pages.conftest import shown


def upload(at, name: str, data: bytes, mime: str = "text/csv"):
    at.file_uploader(key="upload").upload(name, data, mime)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_newcomer_loads_the_sample_with_one_click(empty_store, open_page):
    at = open_page("upload")
    assert any("No data yet" in i.value for i in at.info)
    at.user = {"is_logged_in": True, "email": "ana@finance.example"}
    at.button(key="load_sample").click().run()
    snapshots = empty_store.list_snapshots()
    assert len(snapshots) == len(sample_files())
    assert {s.uploaded_by for s in snapshots} == {"ana@finance.example"}
    assert any(f"Loaded {len(snapshots)} sample snapshots" in s.value for s in at.success)
    assert at.sidebar.selectbox(key="snapshot_id").value == snapshots[-1].id
    assert not [b for b in at.button if b.key == "load_sample"]


def test_upload_shows_detection_counts_rejects_and_saves_one_snapshot(empty_store, open_page):
    rows = [pipedrive_row(1), pipedrive_row(2), pipedrive_row(2, Title="Duplicate id"), pipedrive_row(3)]
    at = upload(open_page("upload"), "deals.csv", pipedrive_csv(rows))
    assert "pipedrive" in at.subheader[0].value
    assert metric(at, "Rows read") == "4"
    assert metric(at, "Rows to load") == "3"
    assert metric(at, "Rows rejected") == "1"
    assert empty_store.list_snapshots() == [], "nothing is written before Save"

    at.date_input(key="as_of").set_value("2026-02-02").run()
    at.button(key="save_snapshot").click().run()
    [snapshot] = empty_store.list_snapshots()
    assert (snapshot.rows_read, snapshot.rows_loaded, snapshot.rows_rejected) == (4, 3, 1)
    assert str(snapshot.as_of) == "2026-02-02"
    assert any(f"Saved snapshot {snapshot.id}" in s.value for s in at.success)


def test_rejected_rows_tables_show_at_most_a_thousand_and_say_how_many_there_are(empty_store, open_page):
    rows = [pipedrive_row(1), *(pipedrive_row(i, Value="not a number") for i in range(2, 1_007))]
    at = upload(open_page("upload"), "deals.csv", pipedrive_csv(rows))
    assert metric(at, "Rows rejected") == "1,005"
    rejects = [frame.value for frame in at.dataframe if "reason" in frame.value.columns]
    assert [len(frame) for frame in rejects] == [1_000]
    told = "The first 1,000 of 1,005 rejected rows; the downloads hold all of them."
    assert any(told == c.value for c in at.caption)

    at.button(key="save_snapshot").click().run()
    saved = next(box for box in at.expander if box.label == "Rejected rows of this snapshot")
    assert len(saved.dataframe[0].value) == 1_000
    assert [c.value for c in saved.caption] == [told]


def test_reruns_of_an_uploaded_file_never_ingest_it_twice(empty_store, open_page):
    at = upload(open_page("upload"), "deals.csv", pipedrive_csv([pipedrive_row(1)]))
    at.button(key="save_snapshot").click().run()
    at.run()
    at.run()
    assert len(empty_store.list_snapshots()) == 1
    assert any("already loaded as snapshot" in i.value for i in at.info)


def test_generic_file_without_a_title_column_asks_for_a_mapping(empty_store, open_page):
    data = b"Ref,Name of job,Amount\nA-1,Kitchen,100\nA-2,Roof,250\n"
    at = open_page("upload")
    at.selectbox(key="source").set_value("generic").run()
    at = upload(at, "jobs.csv", data)
    assert any("no deal id or title column" in e.value for e in at.error)
    # The mapping editor is open; AppTest cannot type into a data editor, so apply the mapping
    # the way its "Apply mapping" button stores it.
    sha = hashlib.sha256(data).hexdigest()
    at.session_state[f"mapping:{sha}"] = {"deal_id": "Ref", "title": "Name of job", "value": "Amount"}
    at.run()
    assert not at.error
    assert metric(at, "Rows to load") == "2"
    at.button(key="save_snapshot").click().run()
    [snapshot] = empty_store.list_snapshots()
    deals = empty_store.load_deals(snapshot.id)
    assert sorted(deals["title"]) == ["Kitchen", "Roof"]
    assert sorted(deals["value"]) == [100, 250]


def test_unreadable_file_is_an_error_message_not_a_traceback(empty_store, open_page):
    at = upload(open_page("upload"), "deals.csv", b"%PDF-1.7 binary junk \x00\x01\x02")
    assert [shown(error.value) for error in at.error] == [
        "deals.csv: this is a PDF document, not a CSV or XLSX export."]
    assert empty_store.list_snapshots() == []


def test_snapshot_list_downloads_the_original_and_deletes_only_after_confirmation(sample_store, open_page):
    at = open_page("upload")
    newest = sample_store.list_snapshots()[-1]
    assert at.selectbox(key="manage_snapshot").value == newest.id
    assert at.get("download_button")
    delete = at.button(key="delete_snapshot")
    assert delete.disabled
    at.checkbox(key="confirm_delete").check().run()
    at.button(key="delete_snapshot").click().run()
    assert newest.id not in [s.id for s in sample_store.list_snapshots()]


def test_upload_converts_with_the_rates_saved_on_the_settings_page(empty_store, open_page):
    edited = SEED_PROFILE.model_copy(update={"rates": {**SEED_PROFILE.rates, "USD": 4.0}})
    save_assumptions(empty_store, edited)
    row = pipedrive_row(1, Value="1000", **{"Currency of Value": "USD"})
    at = upload(open_page("upload"), "usd.csv", pipedrive_csv([row]))
    at.button(key="save_snapshot").click().run()
    [snapshot] = empty_store.list_snapshots()
    assert list(empty_store.load_deals(snapshot.id)["value_base"]) == [4000]
