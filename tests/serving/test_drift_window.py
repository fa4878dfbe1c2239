"""The service's rolling drift window: GET /v1/monitoring/drift and the gauges."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from customer_purchase_prediction.drift import MonitoringParams
from customer_purchase_prediction.errors import RunParameterError
from customer_purchase_prediction.predictor import PurchasePredictor
from customer_purchase_prediction.serving import create_app
from customer_purchase_prediction.serving.config import ServiceSettings
from customer_purchase_prediction.serving.drift_window import DriftWindow
from customer_purchase_prediction.synthetic import generate_sessions


@pytest.fixture
def client(trained_model: Any) -> Iterator[TestClient]:
    app = create_app(
        PurchasePredictor(trained_model),
        settings=ServiceSettings(max_batch=1000, drift_window=400),
    )
    with TestClient(app) as test_client:
        yield test_client


def _sessions(rows: int, seed: int, shift: str | None = None) -> list[dict[str, Any]]:
    # No text in numeric columns: the batch schema would refuse the request.
    raw, _ = generate_sessions(
        rows, seed, labelled=False, shift=shift, messy_fraction=0
    )
    frame = raw.astype("object").where(raw.notna(), None)
    return frame.to_dict(orient="records")


def test_an_empty_window_is_not_judged(client: TestClient) -> None:
    answer = client.get("/v1/monitoring/drift")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "not_judged"
    assert body["reason"].startswith("too small to judge")
    assert body["window"] == {"size": 400, "sessions": 0}


def test_the_window_keeps_the_last_sessions_and_judges_them(
    client: TestClient,
) -> None:
    fresh = _sessions(300, 31)
    shifted = _sessions(500, 32, "longer_sessions")
    assert client.post("/v1/predict/batch", json={"sessions": fresh}).is_success
    body = client.get("/v1/monitoring/drift").json()
    assert body["window"]["sessions"] == 300
    assert body["status"] != "alert", body["reason"]
    client.post("/v1/predict/batch", json={"sessions": shifted[:250]})
    client.post("/v1/predict/batch", json={"sessions": shifted[250:]})
    body = client.get("/v1/monitoring/drift").json()
    assert body["window"] == {"size": 400, "sessions": 400}  # the last 400 only
    assert body["status"] == "alert"
    assert body["columns"]["time_spent"]["status"] == "alert"
    assert "time_spent" in body["alerting"]
    metrics = client.get("/metrics").text
    assert 'purchase_drift_status{part="time_spent"} 2.0' in metrics
    assert 'purchase_drift_status{part="batch"} 2.0' in metrics
    assert 'purchase_drift_psi{part="time_spent"}' in metrics


def test_single_predictions_and_refusals_enter_the_window(
    client: TestClient,
) -> None:
    session = _sessions(1, 5)[0]
    assert client.post("/v1/predict", json=session).status_code == 200
    bad = {**session, "time_spent": -1}
    assert client.post("/v1/predict", json=bad).status_code == 422
    assert client.get("/v1/monitoring/drift").json()["window"]["sessions"] == 2


def test_sessions_refused_for_their_id_count_as_rejects_not_as_scores(
    client: TestClient,
) -> None:
    # The window numbers its sessions itself, which would mend an id that
    # broke a rule: such sessions count by the rule they broke, and with none
    # scored the window is not judged (no score of 0 is invented).
    sessions = _sessions(150, 21)
    for position, session in enumerate(sessions):
        bad = {**session, "customer_id": -1 - position}
        assert client.post("/v1/predict", json=bad).status_code == 422
    report = client.get("/v1/monitoring/drift").json()
    assert report["window"]["sessions"] == 150
    assert report["status"] == "not_judged", report
    twice = {"sessions": [dict(sessions[0])] * 200}  # every copy a duplicate
    answer = client.post("/v1/predict/batch", json=twice).json()
    assert len(answer["rejects"]) == 200
    assert client.post("/v1/predict/batch", json={"sessions": sessions}).is_success
    report = client.get("/v1/monitoring/drift").json()
    assert report["window"]["sessions"] == 400  # 50 refused alone, 200, 150
    rate = report["reject_rate"]
    assert rate["status"] == "alert", rate
    assert "62.5% here" in " ".join(rate["reasons"]), rate  # 250 of 400
    assert report["score"]["status"] != "alert", report["score"]  # no zeros


def test_a_customer_scored_twice_is_no_duplicate(trained_model: Any) -> None:
    window = DriftWindow(500)
    sessions = _sessions(150, 8)
    again = [dict(s, customer_id=sessions[0]["customer_id"]) for s in sessions]
    window.add(again, [0.5] * len(again))
    report = window.report(trained_model)
    assert report["rows"]["in"] == 150
    assert "customer_id:duplicated" not in str(report)


def _project_with_monitoring(root: Path, **monitoring: Any) -> Path:
    """A project folder whose conf sets ``monitoring`` (the rest: defaults)."""
    base = root / "conf" / "base"
    base.mkdir(parents=True)
    (root / "conf" / "local").mkdir()
    (base / "parameters_monitoring.yml").write_text(
        yaml.safe_dump({"monitoring": monitoring})
    )
    return root


def test_the_window_judges_by_the_project_s_monitoring_parameters(
    trained_model: Any, tmp_path: Path
) -> None:
    shifted = _sessions(400, 13, shift="more_mobile")
    statuses = {}
    for name, psi in (("defaults", None), ("lenient", {"warn": 5.0, "alert": 10.0})):
        project = _project_with_monitoring(
            tmp_path / name, **({"psi": psi} if psi else {})
        )
        app = create_app(
            PurchasePredictor(trained_model),
            settings=ServiceSettings(drift_window=400, project_path=project),
        )
        with TestClient(app) as test_client:
            assert test_client.post(
                "/v1/predict/batch", json={"sessions": shifted}
            ).is_success
            statuses[name] = test_client.get("/v1/monitoring/drift").json()
        assert app.state.drift_window.params.psi.alert == (psi or {}).get("alert", 0.25)
    assert statuses["defaults"]["columns"]["device_type"]["status"] == "alert"
    assert statuses["lenient"]["columns"]["device_type"]["status"] == "ok"


def test_a_bad_monitoring_parameter_of_the_project_is_named(
    trained_model: Any, tmp_path: Path
) -> None:
    project = _project_with_monitoring(tmp_path / "p", min_rows=0)
    with pytest.raises(RunParameterError, match=r"monitoring\.min_rows"):
        create_app(
            PurchasePredictor(trained_model),
            settings=ServiceSettings(project_path=project),
        )


def test_without_a_project_the_window_takes_the_defaults(trained_model: Any) -> None:
    app = create_app(PurchasePredictor(trained_model), settings=ServiceSettings())
    assert app.state.drift_window.params == MonitoringParams()


def test_a_row_breaking_two_rules_of_a_column_is_one_reject_of_it(
    client: TestClient,
) -> None:
    # pages_viewed -1.5 is both not_whole and negative: one rejected row.
    sessions = _sessions(1000, 31)
    rows = [
        {**session, "pages_viewed": -1.5} if position < 900 else session
        for position, session in enumerate(sessions)
    ]
    assert client.post("/v1/predict/batch", json={"sessions": rows}).is_success
    report = client.get("/v1/monitoring/drift").json()
    reasons = " ".join(report["columns"]["pages_viewed"]["reasons"])
    assert "% here" in reasons
    rate = float(reasons.split("% here")[0].rsplit(" ", 1)[-1])
    assert rate <= 100.0, reasons
