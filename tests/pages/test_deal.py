"""Deal page: pick or link a deal, its history across snapshots, prediction, notes and writer actions."""

from __future__ import annotations

from core import deal_history as deal_history_module
from core.cashflow import CashflowPredictionService, PredictionOptions
from core.deal_history import deal_history
from views._common import _run_cache

AUTO = PredictionOptions(engine="auto", store_results=False)
ACTION_KEYS = ("write_summarize", "write_health", "write_compliance", "write_email", "write_reminder")


def snapshots_holding(store, deal_id: str) -> int:
    return store.cursor().execute("SELECT count(*) FROM deals WHERE deal_id = ?", [deal_id]).fetchone()[0]


def open_deal(open_page, deal_id: str | None = None):
    at = open_page("deal")
    if deal_id is not None:
        at.selectbox(key="deal_id").set_value(deal_id).run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def history_table(at):
    return at.dataframe[0].value


def test_deal_picker_lists_the_snapshot_deals_by_id_and_title(sample_store, open_page):
    latest = sample_store.resolve_snapshot("latest")
    deals = sample_store.load_deals(latest.id).sort_values("deal_id")
    picker = open_deal(open_page).selectbox(key="deal_id")
    assert picker.options == [f"{i} — {t}" for i, t in zip(deals["deal_id"], deals["title"], strict=True)]
    assert picker.value == deals["deal_id"].iloc[0]


def test_deal_picker_lists_at_most_its_limit_and_the_search_narrows_it(sample_store, open_page, monkeypatch):
    monkeypatch.setattr(deal_history_module, "DEAL_OPTIONS_LIMIT", 10)
    latest = sample_store.resolve_snapshot("latest")
    deals = sample_store.load_deals(latest.id).sort_values("deal_id")
    at = open_deal(open_page)
    assert len(at.selectbox(key="deal_id").options) == 10
    assert any(f"Listing 10 of {len(deals):,} matching deals" in c.value for c in at.caption)

    wanted = deals.iloc[-1]
    at.text_input(key="deal_search").input(str(wanted["title"]).upper()).run()
    picker = at.selectbox(key="deal_id")
    assert f"{wanted['deal_id']} — {wanted['title']}" in picker.options
    assert all(str(wanted["title"]) in label for label in picker.options)
    at.selectbox(key="deal_id").set_value(wanted["deal_id"]).run()
    history = deal_history(sample_store, wanted["deal_id"])
    assert history_table(at)["Stage"].iloc[0] == history["stage"].iloc[-1]

    at.text_input(key="deal_search").input("no deal is called this").run()
    assert not at.exception
    assert any("No deal of snapshot" in i.value for i in at.info)


def test_selecting_a_deal_shows_one_history_row_per_snapshot_holding_it(sample_store, open_page):
    # The newest deals are in fewer snapshots than the oldest: pick one of each.
    deals = sample_store.load_deals(sample_store.resolve_snapshot("latest").id)["deal_id"]
    old, new = deals.iloc[0], deals.iloc[-1]
    assert snapshots_holding(sample_store, old) != snapshots_holding(sample_store, new)
    at = open_deal(open_page, old)
    assert len(history_table(at)) == snapshots_holding(sample_store, old)
    at.selectbox(key="deal_id").set_value(new).run()
    table = history_table(at)
    assert len(table) == snapshots_holding(sample_store, new)
    expected = deal_history(sample_store, new)
    assert table["Stage"].tolist() == expected["stage"].tolist()[::-1]


def test_a_deal_link_opens_that_deal_and_the_url_follows_the_picker(sample_store, open_page):
    deals = sample_store.load_deals(sample_store.resolve_snapshot("latest").id)["deal_id"]
    at = open_page("deal")
    at.query_params["deal"] = deals.iloc[5]
    at.run()
    assert at.selectbox(key="deal_id").value == deals.iloc[5]
    at.selectbox(key="deal_id").set_value(deals.iloc[7]).run()
    assert at.query_params["deal"] == deals.iloc[7]


def test_deal_prediction_shows_the_forecast_dates_confidence_and_reasoning(sample_store, open_page):
    latest = sample_store.resolve_snapshot("latest")
    frame = CashflowPredictionService(sample_store).run(latest.id, AUTO).frame
    row = frame[frame["kind"] == "forecast"].iloc[0]
    at = open_deal(open_page, row["deal_id"])
    shown = {m.label: m.value for m in at.metric}
    assert shown["Invoice date"] == row["predicted_invoice_date"].date().isoformat()
    assert shown["Payment date"] == row["predicted_payment_date"].date().isoformat()
    assert shown["Confidence"] == f"{row['confidence']:.2f}"
    assert str(row["reasoning"]) in [t.value for t in at.text]
    assert any(f"Method: {row['method']}" in c.value for c in at.caption)


def test_every_writer_action_with_the_llm_off_shows_the_template_result_and_warning(sample_store, open_page):
    at = open_deal(open_page)
    for key in ACTION_KEYS:
        at.button(key=key).click().run()
        assert not at.exception and not at.error, (key, [e.value for e in at.error])
        assert [w.value[:7] for w in at.warning] == ["LLM off"], key
        assert any("source: fallback · confidence 0.00" in m.value for m in at.markdown), key


def test_writer_result_stays_on_rerun_and_belongs_to_its_deal(sample_store, open_page):
    deals = sample_store.load_deals(sample_store.resolve_snapshot("latest").id)["deal_id"]
    at = open_deal(open_page, deals.iloc[0])
    at.button(key="write_summarize").click().run()
    at.run()
    assert any("**Summary**" in m.value for m in at.markdown)
    at.selectbox(key="deal_id").set_value(deals.iloc[1]).run()
    assert not any("**Summary**" in m.value for m in at.markdown)
    assert not at.warning


def test_deal_page_without_data_points_to_upload(empty_store, open_page):
    at = open_page("deal")
    assert not at.selectbox
    assert any("Upload" in info.value for info in at.info)


def test_the_deal_page_forecasts_that_deal_alone_not_the_whole_snapshot(sample_store, open_page):
    latest = sample_store.resolve_snapshot("latest")
    deal_id = sample_store.load_deals(latest.id)["deal_id"].iloc[3]
    at = open_deal(open_page)  # the app opens on the Overview, whose runs the Deal page would reuse
    _run_cache()._runs.clear()
    at.selectbox(key="deal_id").set_value(deal_id).run()
    assert not at.exception, [e.value for e in at.exception]
    runs = _run_cache()._runs
    assert [key[-2:] for key in runs] == [("deal", deal_id)]
    assert next(iter(runs.values())).run.frame["deal_id"].tolist() == [deal_id]
