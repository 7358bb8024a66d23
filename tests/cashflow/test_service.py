"""CashflowPredictionService: models out, results stored, assumptions versioned, the LLM refiner plugs in."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

from core.cashflow import (
    SEED_PROFILE,
    CashflowPredictionInput,
    CashflowPredictionService,
    DealForPrediction,
    ForecastOptions,
    PredictionOptions,
    load_assumptions,
    register_refiner,
    save_assumptions,
)
from core.cashflow.checks import run_warnings
from core.cashflow.engines import (
    BUILT_IN_ENGINES,
    BUILT_IN_REFINERS,
    LLMPathUnavailableError,
    engine_names,
    get_engine,
    get_refiner,
)
from core.deals import FORECAST_COLUMNS
from core.errors import InputError
from core.export import neutralise_formulas
from core.sample import generate_history
from tests.cashflow.helpers import AS_OF, days_ahead, deals, save, save_history


@pytest.fixture
def snapshot(store):
    return save(
        store,
        deals(
            {"stage": "Awaiting GR", "owner": "Sara"},
            {"stage": "Lead In", "owner": "Omar"},
            {"stage": "Approved", "owner": "Sara", "status": "lost"},
        ),
        AS_OF,
    )


def test_predict_cashflow_returns_predictions_buckets_totals_and_metadata(store, snapshot):
    service = CashflowPredictionService(store)
    result = service.predict_cashflow_sync(CashflowPredictionInput(forecast=ForecastOptions(horizon_days=90)))
    assert [p.deal_id for p in result.predictions] == ["1", "2", "3"]
    assert result.metadata.deals_analysed == 3 and result.metadata.deals_with_predictions == 2
    assert result.metadata.average_confidence == 0.68  # (0.85 + 0.50) / 2
    assert result.metadata.engine == "rules" and result.metadata.assumptions_version == 0
    assert result.buckets[0].period == "2026-W10"
    assert result.totals.cash_in == 2000.0
    assert sum(b.cash_in for b in result.buckets) == result.totals.cash_in
    stored = store.query_df(
        "SELECT deal_id, method, flags FROM predictions WHERE run_id = ? ORDER BY deal_id",
        [result.metadata.run_id],
    )
    assert stored["deal_id"].tolist() == ["1", "2", "3"]
    assert stored["flags"].tolist()[2] == '["not_forecast"]'


def test_predict_deal_dates_for_explicit_deals(store):
    service = CashflowPredictionService(store)
    [p] = service.predict_deal_dates_sync(
        [DealForPrediction(deal_id="A-1", stage="Awaiting GR", value=10)], today=AS_OF
    )
    assert (p.deal_id, p.predicted_invoice_date, p.confidence) == ("A-1", days_ahead(7), 0.85)
    assert store.query_df("SELECT count(*) AS n FROM predictions")["n"].iloc[0] == 0


def test_explicit_deals_need_an_as_of_date(store):
    with pytest.raises(InputError, match="as_of"):
        CashflowPredictionService(store).predict_cashflow_sync(
            CashflowPredictionInput(deals=[DealForPrediction(deal_id="1")])
        )


@pytest.mark.parametrize(
    ("group_by", "keys"),
    [
        ("owner", ["Omar", "Sara"]),
        ("stage", ["Awaiting GR", "Lead In"]),
        ("month", ["2026-03", "2026-04", "2026-05"]),
    ],
)
def test_generate_forecast_table_groups_real_sums(store, snapshot, group_by, keys):
    table = CashflowPredictionService(store).generate_forecast_table(CashflowPredictionInput(), group_by)
    assert [row.key for row in table.rows] == keys
    assert sum(row.cash_in for row in table.rows) == table.totals.cash_in == 2000.0


def test_explain_assumptions_reports_global_per_deal_and_distribution(store, snapshot):
    report = CashflowPredictionService(store).explain_assumptions(CashflowPredictionInput())
    assert any("37 days" in line and "aramco" in line for line in report.global_assumptions)
    assert len(report.stage_table) == len(SEED_PROFILE.stages)
    assert [d["deal_id"] for d in report.per_deal] == ["1", "2"]
    assert sum(report.confidence_distribution.values()) == 2


def test_assumptions_are_versioned_in_the_store_and_used_by_forecasts(store, snapshot):
    assert load_assumptions(store) is SEED_PROFILE
    saved = save_assumptions(
        store, SEED_PROFILE.model_copy(update={"default_payment_days": 60}), "slower payers"
    )
    assert saved.version == 1
    assert load_assumptions(store).default_payment_days == 60
    run = CashflowPredictionService(store).run(snapshot, PredictionOptions(store_results=False))
    assert run.assumptions.version == 1
    assert run.frame["payment_terms_days"].tolist()[:2] == [60, 60]
    assert save_assumptions(store, SEED_PROFILE, "back to seed").version == 2


def test_progress_callback_is_told_start_and_end(store, snapshot):
    calls = []
    CashflowPredictionService(store).run(
        snapshot, progress=lambda done, total, msg: calls.append((done, total))
    )
    assert calls[0] == (0, 1) and calls[-1] == (1, 1)


class FakeLLM:
    """A refiner as the LLM path will register one: it answers for some deals only."""

    def __init__(self):
        self.seen: list[str] = []

    def refine(self, deals_frame, predictions, context):
        self.seen = predictions["deal_id"].tolist()
        return pd.DataFrame(
            {
                "deal_id": ["2"],
                "predicted_invoice_date": [pd.Timestamp("2025-12-01")],
                "predicted_payment_date": [pd.NaT],
                "confidence": [0.9],
                "method": ["llm"],
                "reasoning": ["Client confirmed the PO in the notes."],
            }
        )


def test_a_registered_refiner_gets_the_policy_deals_and_its_answers_obey_the_rules(
    store, snapshot, llm_refiner_slot
):
    fake = FakeLLM()
    register_refiner("llm", fake)
    run = CashflowPredictionService(store).run(
        snapshot, PredictionOptions(use_llm=True, llm_policy="unknown", store_results=False)
    )
    assert fake.seen == ["2"]  # only the unknown stage went to the LLM
    refined = run.frame.set_index("deal_id").loc["2"]
    assert refined["method"] == "llm"
    assert refined["predicted_invoice_date"] == pd.Timestamp(days_ahead(7))  # past guess moved
    assert refined["confidence"] == 0.70
    assert refined["reasoning"].startswith("Client confirmed the PO in the notes")
    assert run.frame.set_index("deal_id").loc["1", "method"] == "rules"


def test_use_llm_without_a_refiner_raises_a_clear_error(store, snapshot, llm_refiner_slot):
    register_refiner("llm", None)
    with pytest.raises(LLMPathUnavailableError, match="LLM path not available"):
        CashflowPredictionService(store).run(snapshot, PredictionOptions(use_llm=True))


def test_the_built_in_tables_name_the_module_that_registers_each_engine_and_refiner(llm_refiner_slot):
    for name, module in BUILT_IN_ENGINES.items():
        assert type(get_engine(name)).__module__ == module
    for name, module in BUILT_IN_REFINERS.items():
        assert type(get_refiner(name)).__module__ == module
        register_refiner(name, None)
        assert get_refiner(name) is None  # a removed built-in stays removed
    assert set(engine_names()) == {"rules", *BUILT_IN_ENGINES}


def test_unknown_engine_is_an_input_error(store, snapshot):
    with pytest.raises(InputError, match="Unknown engine"):
        CashflowPredictionService(store).run(snapshot, PredictionOptions(engine="crystal-ball"))


def test_neutralise_formulas_prefixes_only_text_that_starts_a_formula():
    frame = pd.DataFrame({"t": ["=1+1", "+966", "-x", "@SUM", "fine", None], "n": [-1, 2, 3, 4, 5, 6]})
    out = neutralise_formulas(frame)
    assert out["t"].tolist()[:5] == ["'=1+1", "'+966", "'-x", "'@SUM", "fine"]
    assert out["n"].tolist() == [-1, 2, 3, 4, 5, 6]


# -- the seed's interface: flat request fields, awaitable methods, its field names --------


def test_seed_request_fields_go_into_the_forecast_options():
    request = CashflowPredictionInput(pipeline_name="Aramco Projects", horizon_days=30, granularity="month")
    expected = ForecastOptions(pipeline="Aramco Projects", horizon_days=30, granularity="month")
    assert request.forecast == expected
    assert request.granularity == "month"
    assert (request.pipeline_name, request.horizon_days) == ("Aramco Projects", 30)
    assert "pipeline_name" not in request.model_dump()  # an alias, not a second copy


@pytest.mark.parametrize(
    "fields",
    [
        {"pipline_name": "typo"},
        {"forecast": {"horizon": 30}},
        {"options": {"engin": "rules"}},
        {"deals": [{"deal_id": "1", "stagee": "Approved"}]},
        {"horizon_days": 30, "forecast": {"horizon_days": 60}},
    ],
)
def test_cashflow_inputs_refuse_unknown_or_doubled_fields(fields):
    with pytest.raises(ValueError, match=r"not permitted|same setting"):
        CashflowPredictionInput(**fields)


def test_a_pipeline_no_deal_has_gives_an_empty_forecast_and_a_warning(store, snapshot):
    service = CashflowPredictionService(store)
    result = service.predict_cashflow_sync(CashflowPredictionInput(pipeline_name="Nope"))
    assert result.aggregated_forecast == [] and result.per_deal_predictions == []
    assert result.metadata.deals_analyzed == 0 and result.totals.cash_in == 0
    assert any("No deal has pipeline 'Nope'" in w for w in result.warnings)


def test_an_owner_filter_limits_the_per_deal_part_to_that_owner(store, snapshot):
    service = CashflowPredictionService(store)
    result = service.predict_cashflow_sync(CashflowPredictionInput(owner_name="Sara"))
    assert [p.deal_id for p in result.per_deal_predictions] == ["1", "3"]
    assert result.metadata.deals_analyzed == 2 and result.metadata.avg_confidence == 0.85
    assert sum(b.expected_invoice_value_sar for b in result.aggregated_forecast) == 1000.0
    assert not any("No deal" in w for w in result.warnings)


def test_predict_cashflow_and_predict_deal_dates_are_awaitable(store, snapshot):
    service = CashflowPredictionService(store)
    request = CashflowPredictionInput(horizon_days=90, granularity="week")
    result = asyncio.run(service.predict_cashflow(request))
    assert result.per_deal_predictions[0].deal_title == "Deal 1"
    deal = DealForPrediction(deal_id="A-1", deal_title="Lobby", stage="Awaiting GR")
    [p] = asyncio.run(service.predict_deal_dates([deal], PredictionOptions(), AS_OF))
    assert (p.deal_title, p.predicted_invoice_date) == ("Lobby", days_ahead(7))


def test_forecast_table_and_assumptions_from_the_seeds_list_of_predictions(store):
    service = CashflowPredictionService(store)
    predictions = service.predict_deal_dates_sync(
        [DealForPrediction(deal_id=str(i), stage=s, value=100.0) for i, s in enumerate(["Awaiting GR", "X"])],
        today=AS_OF,
    )
    table = service.generate_forecast_table(predictions, ForecastOptions(granularity="month"), today=AS_OF)
    assert table.group_by == "month" and sum(row.invoice_value for row in table.rows) == 200.0
    report = service.explain_assumptions(predictions)
    assert [d["deal_id"] for d in report.per_deal] == ["0", "1"]
    assert report.methods == {"rules": 2}


@pytest.mark.parametrize("engine", ["rules", "learned", "naive", "auto"])
def test_a_run_of_some_deals_predicts_them_as_the_whole_run_does(store, engine):
    """What the Deal page relies on: one deal's prediction depends on its row and the history only."""
    latest = save_history(store, generate_history(deals=120, snapshots=3, seed=3, messy=0.0))[-1]
    service = CashflowPredictionService(store)
    options = PredictionOptions(engine=engine, store_results=False)
    whole = service.run(latest, options).frame
    ids = list(whole["deal_id"].iloc[[5, 40, 77]])
    some = service.run(latest, options, deal_ids=ids).frame
    expected = whole[whole["deal_id"].isin(ids)].reset_index(drop=True)
    assert len(some) == 3
    pd.testing.assert_frame_equal(some, expected, check_categorical=False)


def test_a_rules_run_of_a_stored_snapshot_equals_the_rules_over_its_frame(store):
    """The rules run in DuckDB over the stored deals; the frame engines get the same predictions."""
    latest = save_history(store, generate_history(deals=150, snapshots=2, seed=5, messy=0.3))[-1]
    service = CashflowPredictionService(store)
    options = PredictionOptions(store_results=False)
    stored = service.run(latest, options)
    found = store.resolve_snapshot(latest)
    from_frame = service.run_deals(store.load_deals(found.id, FORECAST_COLUMNS), found.as_of, options)
    pd.testing.assert_frame_equal(stored.frame, from_frame.frame, check_categorical=False)


def test_a_lazy_run_aggregates_in_duckdb_and_makes_its_frame_only_when_asked(store):
    latest = save_history(store, generate_history(deals=150, snapshots=2, seed=5, messy=0.3))[-1]
    service = CashflowPredictionService(store)
    options = PredictionOptions(store_results=False)
    forecast = ForecastOptions(horizon_days=120, min_confidence=0.2)
    eager = service.run(latest, options)
    with store:  # a lazy run reads the database when used: its caller holds the store open
        lazy = service.run(latest, options, lazy=True)
        assert lazy.source is lazy.predictions.select  # no frame made yet
        from_relation = lazy.aggregate(forecast, warnings=True)
        assert "frame" not in lazy.__dict__
        pd.testing.assert_frame_equal(lazy.frame, eager.frame, check_categorical=False)
    from_frame = eager.aggregate(forecast, warnings=True)
    assert from_relation.periods.equals(from_frame.periods)
    assert (from_relation.totals, from_relation.excluded) == (from_frame.totals, from_frame.excluded)
    assert from_relation.warnings == from_frame.warnings


def test_warnings_counted_with_the_aggregation_are_the_runs_warnings(store):
    latest = save_history(store, generate_history(deals=150, snapshots=2, seed=9, messy=0.5))[-1]
    run = CashflowPredictionService(store).run(latest, PredictionOptions(store_results=False))
    expected = run_warnings(run.frame, run.as_of, run.assumptions)
    assert expected  # the messy history fails some checks
    assert run.aggregate(ForecastOptions(pipeline="no such pipeline"), warnings=True).warnings == expected
    assert run.aggregate(ForecastOptions()).warnings == []  # only when asked
