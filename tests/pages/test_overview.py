"""Overview page: tiles equal core.overview's KPIs and deltas, the chart, and the change tabs."""

from __future__ import annotations

from core import overview as overview_module
from core.cashflow import CashflowPredictionService, PredictionOptions
from core.formatting import money_short
from core.overview import CASH_HORIZONS, change_counts, kpi_deltas, overview_kpis, snapshot_changes

AUTO = PredictionOptions(engine="auto", store_results=False)


def kpis_for(store, snapshot_id):
    return overview_kpis(CashflowPredictionService(store).run(snapshot_id, AUTO))


def metrics(at) -> dict[str, tuple[str, str]]:
    """Label -> (value, delta); AppTest shows a missing delta as an empty string."""
    return {m.label: (m.value, m.delta) for m in at.metric}


def signed(value: float, currency: str) -> str:
    return ("+" if value > 0 else "") + money_short(value, currency)


def test_overview_tiles_show_the_kpis_and_their_change_since_the_previous_snapshot(sample_store, open_page):
    *_, previous, latest = sample_store.list_snapshots()
    kpis, before = kpis_for(sample_store, latest.id), kpis_for(sample_store, previous.id)
    deltas = kpi_deltas(kpis, before)
    shown = metrics(open_page("overview"))
    sar = kpis.base_currency
    assert shown["Open pipeline"] == (money_short(kpis.open_value, sar), signed(deltas["open_value"], sar))
    assert shown["Weighted pipeline"] == (
        money_short(kpis.weighted_value, sar),
        signed(deltas["weighted_value"], sar),
    )
    for days in CASH_HORIZONS:
        assert shown[f"Cash in {days} days"] == (
            money_short(kpis.cash_expected[days], sar),
            signed(deltas[f"cash_{days}"], sar),
        )
    assert shown["Overdue"] == (money_short(kpis.overdue_value, sar), signed(deltas["overdue_value"], sar))
    assert shown["Deals at risk"] == (str(kpis.at_risk_count), f"{int(deltas['at_risk_count']):+d}")
    assert shown["Last snapshot"][0] == str(latest.as_of)
    assert shown["Last snapshot"][1].endswith("old")


def test_overview_change_tabs_count_what_core_finds_between_the_snapshots(sample_store, open_page):
    *_, previous, latest = sample_store.list_snapshots()
    changes = snapshot_changes(sample_store.load_deals(previous.id), sample_store.load_deals(latest.id))
    counts = change_counts(changes)
    at = open_page("overview")
    assert [tab.label for tab in at.tabs] == [f"{kind.capitalize()} ({n})" for kind, n in counts.items()]
    tabs = dict(zip(counts, at.tabs, strict=True))
    tables = {kind: [frame.value for frame in tab.dataframe] for kind, tab in tabs.items()}
    for kind, count in counts.items():
        assert [len(table) for table in tables[kind]] == ([count] if count else [])
    (moved,) = tables["moved"]
    assert moved["Deal"].str.startswith("/deal?deal=").all()
    assert set(moved["Deal"].str.removeprefix("/deal?deal=")) == set(
        changes.loc[changes["change"] == "moved", "deal_id"]
    )


def test_overview_change_tables_show_at_most_their_limit_and_say_so(sample_store, open_page, monkeypatch):
    monkeypatch.setattr(overview_module, "CHANGE_ROWS", 3)
    *_, previous, latest = sample_store.list_snapshots()
    counts = change_counts(snapshot_changes(sample_store.load_deals(previous.id),
                                            sample_store.load_deals(latest.id)))
    at = open_page("overview")
    for kind, tab in zip(counts, at.tabs, strict=True):
        shown = [len(frame.value) for frame in tab.dataframe]
        assert shown == ([min(counts[kind], 3)] if counts[kind] else [])
        told = [c.value for c in tab.caption if c.value.startswith("The first 3 of")]
        assert told == ([f"The first 3 of {counts[kind]:,} by deal id."] if counts[kind] > 3 else [])
    assert any(n > 3 for n in counts.values())


def test_overview_of_the_first_snapshot_has_no_deltas_and_says_how_to_see_changes(sample_store, open_page):
    first = sample_store.list_snapshots()[0]
    at = open_page("overview")
    at.sidebar.selectbox(key="snapshot_id").set_value(first.id).run()
    assert not at.exception
    shown = metrics(at)
    kpis = kpis_for(sample_store, first.id)
    assert shown["Open pipeline"] == (money_short(kpis.open_value, kpis.base_currency), "")
    assert shown["Deals at risk"] == (str(kpis.at_risk_count), "")
    assert any("first snapshot" in info.value for info in at.info)
    assert not at.tabs


def test_overview_without_data_points_to_upload(empty_store, open_page):
    at = open_page("overview")
    assert not at.metric
    assert any("Upload" in info.value for info in at.info)
