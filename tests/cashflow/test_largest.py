"""The deal table of a stored run: the largest deals of a selection, with titles fetched once."""

from __future__ import annotations

import numpy as np

from core.cashflow import CashflowPredictionService, PredictionOptions
from core.cashflow import run as run_module
from tests.cashflow.helpers import AS_OF, deals, save

VALUES = [300.0, 900.0, 100.0, 900.0, 500.0, 700.0]


def stored_run(store, monkeypatch):
    """A stored run of deals of ``VALUES``, and the deal ids of each title fetch it makes."""
    frame = deals(*({"stage": "Awaiting GR", "value": v, "value_base": v} for v in VALUES))
    snapshot = save(store, frame, AS_OF)
    found = CashflowPredictionService(store).run(snapshot, PredictionOptions(store_results=False))
    fetched: list[list[str]] = []
    deal_texts = store.deal_texts

    def spied(snapshot_id, deal_ids, columns=("title",)):
        fetched.append(list(deal_ids))
        return deal_texts(snapshot_id, deal_ids, columns)

    monkeypatch.setattr(store, "deal_texts", spied)
    return found, fetched


def test_largest_deals_come_first_with_their_titles_fetched_once_per_run(store, monkeypatch):
    monkeypatch.setattr(run_module, "TITLES_AHEAD", 1)  # no titles ahead: fetch what is shown
    run, fetched = stored_run(store, monkeypatch)
    everyone = np.ones(len(VALUES), dtype=bool)
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


def test_titles_of_the_largest_deals_are_fetched_ahead(store, monkeypatch):
    """One fetch costs about the same for 1 title or 20,000: the first table fetches ahead."""
    run, fetched = stored_run(store, monkeypatch)
    assert run.largest(np.array([0, 1, 0, 0, 0, 0], dtype=bool), ["deal_id", "title"])["title"].tolist() == [
        "Deal 2"]
    assert run.largest(np.ones(6, dtype=bool), ["title"])["title"].tolist() == [
        "Deal 2", "Deal 4", "Deal 6", "Deal 5", "Deal 1", "Deal 3"]
    assert fetched == [["2", "4", "6", "5", "1", "3"]]
