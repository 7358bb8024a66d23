"""The deal table of a stored run: the largest deals of a selection, with titles fetched once."""

from __future__ import annotations

import numpy as np

from core.cashflow import CashflowPredictionService, PredictionOptions
from tests.cashflow.helpers import AS_OF, deals, save


def test_largest_deals_come_first_with_their_titles_fetched_once_per_run(store, monkeypatch):
    values = [300.0, 900.0, 100.0, 900.0, 500.0, 700.0]
    frame = deals(*({"stage": "Awaiting GR", "value": v, "value_base": v} for v in values))
    snapshot = save(store, frame, AS_OF)
    run = CashflowPredictionService(store).run(snapshot, PredictionOptions(store_results=False))
    fetched: list[list[str]] = []
    deal_texts = store.deal_texts

    def spied(snapshot_id, deal_ids, columns=("title",)):
        fetched.append(list(deal_ids))
        return deal_texts(snapshot_id, deal_ids, columns)

    monkeypatch.setattr(store, "deal_texts", spied)
    everyone = np.ones(len(frame), dtype=bool)
    table = run.largest(everyone, ["deal_id", "title", "weighted_value"], limit=4)
    assert table["deal_id"].tolist() == ["2", "4", "6", "5"]  # equal values in row order
    assert table["title"].tolist() == ["Deal 2", "Deal 4", "Deal 6", "Deal 5"]
    assert fetched == [["2", "4", "6", "5"]]

    some = np.array([True, False, False, True, True, False])  # all among the four largest but "1"
    table = run.largest(some, ["deal_id", "title"], limit=2)
    assert table["title"].tolist() == ["Deal 4", "Deal 5"]
    assert len(fetched) == 1  # titles known: no query
    table = run.largest(some, ["deal_id", "title"])
    assert table["title"].tolist() == ["Deal 4", "Deal 5", "Deal 1"]
    assert fetched[1:] == [["1", "3"]]  # the next ones, at least as many again
    assert run.largest(~everyone, ["deal_id", "title"]).empty
