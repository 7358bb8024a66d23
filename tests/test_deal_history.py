"""One deal across snapshots: a row per snapshot that holds it, oldest first, up to a date."""

from __future__ import annotations

import datetime as dt
import itertools

from core.deal_history import HISTORY_COLUMNS, deal_history, deal_options
from core.store import Store
from core.writer.records import load_deal
from tests.cashflow.helpers import AS_OF, days_ahead, deals, save


def three_snapshots(store: Store) -> list[int]:
    """Deal 1 moves Approved -> Awaiting GR -> won; deal 2 exists only in the first snapshot."""
    return [
        save(store, deals({"stage": "Approved"}, {"title": None}), AS_OF, "a.csv"),
        save(store, deals({"stage": "Awaiting GR", "value_base": 1500.0}), days_ahead(7), "b.csv"),
        save(store, deals({"stage": "Awaiting GR", "status": "won"}), days_ahead(14), "c.csv"),
    ]


def test_deal_history_has_one_row_per_snapshot_holding_the_deal_oldest_first(store):
    ids = three_snapshots(store)
    history = deal_history(store, "1")
    assert list(history.columns) == list(HISTORY_COLUMNS)
    assert history["snapshot_id"].tolist() == ids
    assert history["stage"].tolist() == ["Approved", "Awaiting GR", "Awaiting GR"]
    assert history["status"].tolist() == ["open", "open", "won"]
    assert history["value_base"].tolist() == [1000.0, 1500.0, 1000.0]
    assert [d.date() for d in history["as_of"]] == [AS_OF, days_ahead(7), days_ahead(14)]


def test_deal_history_stops_at_the_given_date_and_skips_snapshots_without_the_deal(store):
    ids = three_snapshots(store)
    assert deal_history(store, "1", up_to=days_ahead(7))["snapshot_id"].tolist() == ids[:2]
    assert deal_history(store, "2")["snapshot_id"].tolist() == ids[:1]


def test_deal_history_of_an_unknown_deal_is_empty_with_its_columns(store):
    three_snapshots(store)
    history = deal_history(store, "nope", up_to=dt.date(2030, 1, 1))
    assert history.empty and list(history.columns) == list(HISTORY_COLUMNS)


def test_deal_history_agrees_with_the_writer_stage_history(store):
    three_snapshots(store)
    record = load_deal(store, "1")
    history = deal_history(store, "1", up_to=record.as_of)
    seen = history["stage"].tolist()
    changes = [seen[0], *(b for a, b in itertools.pairwise(seen) if a != b)]
    assert [c.stage for c in record.stage_history] == changes


def test_deal_options_label_each_deal_of_a_snapshot_by_id_and_title(store):
    first, *_ = three_snapshots(store)
    options, matching = deal_options(store, first)
    assert options["deal_id"].tolist() == ["1", "2"] and matching == 2
    assert options["label"].tolist() == ["1 — Deal 1", "2 — (untitled)"]


def test_deal_options_search_id_or_title_list_at_most_the_limit_and_keep_the_included_deal(store):
    save(store, deals(*({"title": f"Fit-out {i:02d}"} for i in range(30))), AS_OF)
    snapshot = store.resolve_snapshot("latest").id
    options, matching = deal_options(store, snapshot, " fit-OUT 07 ")
    assert options["label"].tolist() == ["8 — Fit-out 07"] and matching == 1
    options, matching = deal_options(store, snapshot, limit=5)
    assert options["deal_id"].tolist() == ["1", "10", "11", "12", "13"] and matching == 30
    options, matching = deal_options(store, snapshot, "fit-out 07", include="30", limit=2)
    assert options["deal_id"].tolist() == ["30", "8"] and matching == 1
    options, matching = deal_options(store, snapshot, "nothing like it")
    assert options.empty and matching == 0
