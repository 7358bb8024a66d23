"""Every endpoint over real HTTP: answers, auth, uploads and error bodies."""

from __future__ import annotations

import json

import pytest

from core.cli import main
from core.store import Store
from tests.api.conftest import API_TOKEN, LLM_KEY
from tests.ingest.exports import pipedrive_csv, pipedrive_row
from tests.support.openai_server import Reply
from tests.writer.helpers import ANSWERS, email_context, reminder_context


def test_health_and_readiness_need_no_token(api):
    with api.client(token=None) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["snapshots"] == 3
    assert ready["llm"] == {"enabled": True, "disabled_reason": None, "circuit_state": "closed"}


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", "Basic " + API_TOKEN, "Bearer"])
def test_requests_without_a_known_token_get_401(api, header):
    with api.client(token=None) as http:
        response = http.get("/snapshots", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "DEALCAST_API_TOKENS" in response.json()["detail"]
    assert API_TOKEN not in response.text


def test_every_configured_token_is_accepted(api):
    for token in ("other-token", API_TOKEN):
        with api.client(token=token) as http:
            assert http.get("/snapshots").status_code == 200


def test_snapshots_lists_the_deal_snapshots(api):
    with api.client() as http:
        snapshots = http.get("/snapshots").json()
    assert [s["file_name"] for s in snapshots] == [
        "pipedrive_deals_2026-10-19.csv",
        "pipedrive_deals_2026-10-26.csv",
    ]
    assert all(s["rows_read"] == s["rows_loaded"] + s["rows_rejected"] for s in snapshots)


def test_predict_returns_the_same_document_as_forecast_json(api, capsys):
    request = {"horizon_days": 120, "granularity": "month", "min_confidence": 0.4, "engine": "learned"}
    with api.client() as http:
        response = http.post("/cashflow/predict", json=request)
    assert response.status_code == 200
    served = response.json()
    assert main(["forecast", "--db", api.db, "--horizon", "120", "--granularity", "month",
                 "--min-confidence", "0.4", "--engine", "learned", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    for document in (served, printed):
        document.pop("run_id")
    assert served == printed
    assert served["periods"] and len(served["deals"]) > 100


def test_predict_without_deals_keeps_periods_and_totals(api):
    with api.client() as http:
        full = http.post("/cashflow/predict", json={}).json()
        short = http.post(
            "/cashflow/predict", json={"include_deals": False, "snapshot": full["snapshot_id"]}
        ).json()
    assert short["deals"] == []
    assert short["periods"] == full["periods"] and short["totals"] == full["totals"]


def test_predict_with_the_llm_off_is_503(api, monkeypatch):
    monkeypatch.setenv("DEALCAST_LLM_BASE_URL", "https://openrouter.ai/api/v1")
    monkeypatch.delenv("DEALCAST_LLM_API_KEY")
    from core.config import get_settings

    get_settings.cache_clear()
    with api.client() as http:
        response = http.post("/cashflow/predict", json={"llm": True})
    assert response.status_code == 503
    assert response.json()["detail"].startswith("The LLM is needed and unavailable: No API key is set")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"horizon_days": 0}, "horizon_days"),
        ({"min_confidence": 2}, "min_confidence"),
        ({"granularity": "day"}, "granularity"),
        ({"engine": "crystal-ball"}, "engine"),
        ({"snapshot": "yesterday"}, "snapshot"),
    ],
)
def test_predict_rejects_invalid_fields_with_422(api, body, field):
    with api.client() as http:
        response = http.post("/cashflow/predict", json=body)
    assert response.status_code == 422
    assert any(error["loc"][-1] == field or field in error["loc"] for error in response.json()["detail"])


def test_unknown_snapshot_is_404_with_a_detail(api):
    with api.client() as http:
        predict = http.post("/cashflow/predict", json={"snapshot": 999})
        rejects = http.get("/snapshots/999/rejects")
    for response in (predict, rejects):
        assert response.status_code == 404
        assert response.json() == {"detail": "No snapshot with id 999."}


def test_explain_gives_one_deal_with_reasoning_and_assumptions(api):
    with api.client() as http:
        deals = http.post("/cashflow/predict", json={}).json()["deals"]
        deal = next(d for d in deals if d["kind"] == "forecast")
        explained = http.get("/cashflow/explain", params={"deal_id": deal["deal_id"]}).json()
        missing = http.get("/cashflow/explain", params={"deal_id": "no-such-deal"})
    prediction = explained["prediction"]
    assert prediction["deal_id"] == deal["deal_id"]
    assert prediction["reasoning"] == deal["reasoning"] and prediction["method"] == deal["method"]
    assert prediction["flags"] == deal["flags"]
    assert any("Payment" in sentence for sentence in explained["assumptions"])
    assert missing.status_code == 404
    assert "no-such-deal" in missing.json()["detail"]


def test_backtest_scores_an_earlier_snapshot(api):
    with api.client() as http:
        first, last = (s["id"] for s in http.get("/snapshots").json())
        result = http.get("/backtest", params={"from": first, "to": last, "engine": "rules"}).json()
        bad = http.get("/backtest", params={"from": "nope"})
    assert result["from_snapshot"] == first and result["to_snapshot"] == last
    assert result["deals_evaluated"] > 0
    assert bad.status_code == 404


def test_upload_of_a_pipedrive_export_makes_a_snapshot_with_its_rejects(api):
    rows = [pipedrive_row(1), pipedrive_row(2, Value="not money"), pipedrive_row(3)]
    data = pipedrive_csv(rows)
    with api.client() as http:
        created = http.post("/snapshots", files={"file": ("deals.csv", data, "text/csv")},
                            data={"as_of": "2026-11-02", "label": "from the API"})
        again = http.post("/snapshots", files={"file": ("deals.csv", data, "text/csv")})
        snapshot_id = created.json()["snapshot_id"]
        rejects = http.get(f"/snapshots/{snapshot_id}/rejects").json()
    assert created.status_code == 201
    body = created.json()
    assert (body["rows_read"], body["rows_loaded"], body["rows_rejected"]) == (3, 2, 1)
    assert body["source"] == "pipedrive" and body["as_of"] == "2026-11-02"
    assert again.status_code == 200 and again.json()["duplicate_of"] == snapshot_id
    assert [r["row_number"] for r in rejects] == [3]
    assert "not money" in rejects[0]["raw"]
    assert rejects[0]["reason"] == "row 3, column 'Deal - Value': 'not money' is not a number"


def test_upload_of_the_bundled_xlsx_export(api):
    from core.config import SAMPLE_DIR

    data = (SAMPLE_DIR / "pipedrive_deals_2026-10-26.xlsx").read_bytes()
    with api.client() as http:
        response = http.post("/snapshots", files={"file": ("deals.xlsx", data)})
    assert response.status_code == 201
    assert response.json()["rows_loaded"] > 100


@pytest.mark.parametrize(
    ("files", "data", "status", "words"),
    [
        ({"file": ("empty.csv", b"", "text/csv")}, {}, 400, "empty"),
        ({"file": ("deals.csv", b"a,b\n1,2\n", "text/csv")}, {"source": "nowhere"}, 400, "unknown source"),
        ({"file": ("deals.csv", b"a,b\n1,2\n", "text/csv")}, {"mapping": "{not json"}, 400, "mapping"),
        ({}, {}, 422, "file"),
    ],
)
def test_bad_uploads_get_a_clear_detail(api, files, data, status, words):
    with api.client() as http:
        response = http.post("/snapshots", files=files or None, data=data)
    assert response.status_code == status
    assert words in json.dumps(response.json()["detail"]).lower()
    assert "Traceback" not in response.text


def test_upload_over_the_limit_is_413_before_it_is_read(api):
    big = b"x" * (1024 * 1024 + 128 * 1024)
    with api.client() as http:
        declared = http.post("/snapshots", files={"file": ("big.csv", big, "text/csv")})

        def chunks():
            yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
            for _ in range(20):
                yield b"y" * (128 * 1024)

        chunked = http.post("/snapshots", content=chunks(),
                            headers={"Content-Type": "multipart/form-data; boundary=x"})
    for response in (declared, chunked):
        assert response.status_code == 413
        assert "1 MB limit" in response.json()["detail"]


def test_invoice_upload_makes_an_invoices_snapshot(api):
    data = (
        b"Invoice Number,Customer,Invoice Date,Due Date,Amount,Currency,Paid Date\n"
        b"INV-1,Acme,2026-10-01,2026-10-31,1000,SAR,\n"
        b"INV-2,Acme,2026-09-01,2026-10-01,500,SAR,2026-10-05\n"
    )
    with api.client() as http:
        response = http.post("/receivables/invoices", files={"file": ("ar.csv", data, "text/csv")})
    assert response.status_code == 201
    assert response.json()["rows_loaded"] == 2
    with Store(api.db) as store:
        assert [s.kind for s in store.list_snapshots("invoices")] == ["invoices", "invoices"]


def test_writer_endpoints_draft_with_the_llm(api, openai_server):
    openai_server.script(Reply.json(ANSWERS["email.followup"]), Reply.json(ANSWERS["reminder.whatsapp"]))
    with api.client() as http:
        email = http.post("/writer/draft-email", json=email_context().model_dump(mode="json"))
        reminder = http.post("/writer/draft-reminder", json=reminder_context().model_dump(mode="json"))
    assert email.status_code == 200, email.text
    assert email.json()["subject"] == ANSWERS["email.followup"]["subject"]
    assert email.json()["source"] == "llm"
    assert reminder.json()["message_text"] == ANSWERS["reminder.whatsapp"]["message_text"]
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {LLM_KEY}"


def test_writer_falls_back_or_answers_503_when_the_llm_fails(api, openai_server):
    openai_server.script(Reply.error(500), Reply.error(500))
    body = email_context().model_dump(mode="json")
    with api.client() as http:
        fallback = http.post("/writer/draft-email", json=body)
        strict = http.post("/writer/draft-email", json=body, params={"fallback": "false"})
        invalid = http.post("/writer/draft-email", json={"recipients": []})
    assert fallback.status_code == 200 and fallback.json()["source"] == "fallback"
    assert fallback.json()["confidence"] == 0
    assert strict.status_code == 503
    assert strict.json()["detail"].startswith("The LLM is needed and unavailable")
    assert invalid.status_code == 422


def test_openapi_shows_every_endpoint_with_its_models(api):
    with api.client(token=None) as http:
        spec = http.get("/openapi.json").json()
        docs = http.get("/docs")
    assert docs.status_code == 200
    paths = spec["paths"]
    expected = {
        ("post", "/writer/draft-email"), ("post", "/writer/draft-reminder"), ("post", "/cashflow/predict"),
        ("get", "/cashflow/explain"), ("post", "/snapshots"), ("get", "/snapshots"),
        ("get", "/snapshots/{snapshot_id}/rejects"), ("post", "/receivables/invoices"), ("get", "/backtest"),
        ("get", "/healthz"), ("get", "/readyz"),
    }
    assert expected <= {(method, path) for path, methods in paths.items() for method in methods}
    schemas = spec["components"]["schemas"]
    for name in ("PredictRequest", "ForecastResponse", "ExplainResponse", "EmailDraftContext",
                 "DraftEmailResult", "ReminderDraftContext", "DraftReminderResult", "IngestResult",
                 "Snapshot", "BacktestResult", "ErrorBody"):
        assert name in schemas
    assert paths["/cashflow/predict"]["post"]["security"] == [{"HTTPBearer": []}]
