"""The drift report of inference runs, FailOnDrift, and the monitoring pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.framework.startup import bootstrap_project
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from mlflow import MlflowClient
from sklearn.metrics import (
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from customer_purchase_prediction.artifact import dumps, loads
from customer_purchase_prediction.atomic_datasets import JSONDataset, TextDataset
from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.drift import MonitoringParams
from customer_purchase_prediction.errors import DriftAlertError
from customer_purchase_prediction.pipeline_registry import register_pipelines
from customer_purchase_prediction.pipelines.monitoring import pipeline as monitoring
from customer_purchase_prediction.pipelines.monitoring.nodes import report_drift
from customer_purchase_prediction.predictor import PurchasePredictor
from customer_purchase_prediction.synthetic import generate_sessions
from tests.conftest import PROJECT_ROOT, run_project

OUTPUT = Path("data/07_model_output")
REPORTING = Path("data/08_reporting")


def test_monitoring_is_registered_and_never_part_of_training() -> None:
    bootstrap_project(PROJECT_ROOT)
    pipelines = register_pipelines()
    assert "monitoring" in pipelines
    assert not set(pipelines["monitoring"].nodes) & set(pipelines["__default__"].nodes)
    assert "report_drift" not in {n.name for n in pipelines["__default__"].nodes}


def test_an_artifact_without_a_profile_gets_a_report_not_a_crash(
    trained_model: object,
) -> None:
    class Old:  # what an artifact saved before profiles loads as
        name, version, reference_profile = "random_forest", "old", None

    raw, _ = generate_sessions(200, 3, labelled=False)
    sessions = raw.iloc[:0]
    report, page = report_drift(
        sessions,
        pd.DataFrame({"purchase_probability": []}),
        raw.iloc[:0].assign(reject_rule=pd.Series(dtype="str")),
        {"source": "x.csv", "rows_in": 0},
        Old(),  # type: ignore[arg-type]
        MonitoringParams(),
        "run-1",
    )
    assert report["status"] == "not_judged"
    assert report["reason"].startswith("no reference profile")
    assert "no reference profile" in page


@pytest.mark.slow
def test_the_embedded_new_sessions_drift_report_is_ok(trained_copy: Path) -> None:
    run_project(trained_copy, pipeline="inference")
    report = json.loads((OUTPUT / "drift_report.json").read_text())
    summary = json.loads((OUTPUT / "inference_summary.json").read_text())
    assert report["status"] == "ok", report["reason"]
    assert report["run_id"] == summary["run_id"]
    assert summary["drift"]["status"] == "ok"
    assert "Drift report" in (OUTPUT / "drift_report.html").read_text()


@pytest.mark.slow
def test_shifted_sessions_alert_and_fail_on_alert_fails_after_writing(
    trained_copy: Path,
) -> None:
    shifted, _ = generate_sessions(600, 8, labelled=False, shift="longer_sessions")
    shifted.to_csv("shifted.csv", index=False)
    params = {
        "inference_input_path": "shifted.csv",
        "inference_output_path": "out/shifted.csv",
    }
    run_project(trained_copy, pipeline="inference", params=params)
    summary = json.loads(Path("out/shifted_summary.json").read_text())
    assert summary["drift"]["status"] == "alert"
    assert "time_spent" in summary["drift"]["alerting"]
    report = json.loads(Path("out/shifted_drift.json").read_text())
    assert report["columns"]["time_spent"]["status"] == "alert"
    assert 'id="chart-time_spent"' in Path("out/shifted_drift.html").read_text()
    for name in Path("out").iterdir():
        name.unlink()
    with pytest.raises(DriftAlertError, match="time_spent"):
        run_project(
            trained_copy,
            pipeline="inference",
            params={**params, "monitoring": {"fail_on": "alert"}},
        )
    # Everything was written before the run failed, the summary too.
    assert Path("out/shifted.csv").exists()
    assert Path("out/shifted_drift.json").exists()
    assert (
        json.loads(Path("out/shifted_summary.json").read_text())["drift"]["status"]
        == "alert"
    )


def _outcomes(predictions: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": predictions["customer_id"],
            "purchase": (
                rng.random(len(predictions)) < predictions["purchase_probability"]
            ).astype(int),
        }
    )


def test_the_monitoring_slice_reports_scikit_learn_s_metrics(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    predictions = pd.DataFrame(
        {
            "customer_id": np.arange(1, 301),
            "purchase_probability": rng.random(300),
            "run_id": ["2026-12-01T10.00.00.000Z"] * 150
            + ["2026-12-02T10.00.00.000Z"] * 150,
        }
    ).assign(purchase_prediction=lambda f: (f.purchase_probability >= 0.4).astype(int))
    outcomes = _outcomes(predictions, 3).iloc[:250]
    outcomes = pd.concat(
        [outcomes, pd.DataFrame({"customer_id": [999], "purchase": [1]})]
    ).astype(str)
    catalog = DataCatalog(
        {
            "monitored_predictions": MemoryDataset(predictions),
            "outcomes": MemoryDataset(outcomes),
            "params:business": MemoryDataset(BusinessParams()),
            "params:monitoring": MemoryDataset(MonitoringParams()),
            "realised_performance": JSONDataset(filepath=str(tmp_path / "r.json")),
            "monitoring_html": TextDataset(filepath=str(tmp_path / "m.html")),
        }
    )
    SequentialRunner().run(monitoring.create_pipeline(), catalog)
    report = catalog.load("realised_performance")
    matched = predictions.iloc[:250]
    y = outcomes["purchase"].iloc[:250].astype(int).to_numpy()
    overall = report["overall"]
    assert overall["roc_auc"] == pytest.approx(
        roc_auc_score(y, matched.purchase_probability)
    )
    assert overall["precision"] == pytest.approx(
        precision_score(y, matched.purchase_prediction)
    )
    assert overall["recall"] == pytest.approx(
        recall_score(y, matched.purchase_prediction)
    )
    assert overall["f1"] == pytest.approx(f1_score(y, matched.purchase_prediction))
    assert overall["brier"] == pytest.approx(
        brier_score_loss(y, matched.purchase_probability)
    )
    assert overall["share_matched"] == pytest.approx(250 / 300)
    assert [run["share_matched"] for run in report["runs"]] == [1.0, 100 / 150]
    assert report["outcomes"]["rejects_by_rule"] == {"customer_id:unknown": 1}
    assert "Realised performance" in catalog.load("monitoring_html")


@pytest.mark.slow
def test_kedro_run_monitoring_with_generated_outcomes(trained_copy: Path) -> None:
    run_project(trained_copy, pipeline="inference")
    predictions = pd.read_csv(OUTPUT / "purchase_predictions.csv")
    labelled, _ = generate_sessions(200, 7)  # the embedded new sessions, labelled
    outcomes = labelled[["customer_id", "purchase"]]
    outcomes.to_csv("outcomes.csv", index=False)
    run_project(
        trained_copy, pipeline="monitoring", params={"outcomes_path": "outcomes.csv"}
    )
    report = json.loads((REPORTING / "realised_performance.json").read_text())
    rejects = pd.read_csv(REPORTING / "rejected_outcomes.csv", dtype=str)
    assert report["outcomes"]["in"] == len(outcomes)
    assert report["outcomes"]["matched"] + len(rejects) == len(outcomes)
    assert rejects["reject_reason"].str.len().gt(0).all()
    joined = predictions.merge(
        outcomes[~outcomes.index.isin(rejects["source_row"].astype(int) - 1)].astype(
            {"purchase": int}
        ),
        on="customer_id",
    )
    y = joined["purchase"].to_numpy()
    assert report["overall"]["roc_auc"] == pytest.approx(
        roc_auc_score(y, joined["purchase_probability"])
    )
    assert report["overall"]["f1"] == pytest.approx(
        f1_score(y, joined["purchase_prediction"])
    )
    assert (REPORTING / "realised_performance.png").stat().st_size > 0
    assert "Realised performance" in (REPORTING / "monitoring.html").read_text()


def test_the_profile_survives_the_artifact_format(trained_model: Any) -> None:
    assert trained_model.reference_profile is not None
    restored = loads(dumps(trained_model), "memory")
    assert restored.reference_profile == trained_model.reference_profile
    assert len(dumps(trained_model.reference_profile)) < 50_000


def test_predict_from_csv_writes_the_drift_report_beside(
    trained_model: Any, tmp_path: Path
) -> None:
    raw, _ = generate_sessions(400, 12, labelled=False, shift="more_mobile")
    source = tmp_path / "new.csv"
    raw.to_csv(source, index=False)
    PurchasePredictor(trained_model).predict_from_csv(source, tmp_path / "out.csv")
    report = json.loads((tmp_path / "out_drift.json").read_text())
    summary = json.loads((tmp_path / "out_summary.json").read_text())
    assert report["status"] == "alert"
    assert report["alerting"] == summary["drift"]["alerting"] == ["device_type"]
    assert report["run_id"] == summary["run_id"]
    assert 'id="chart-device_type"' in (tmp_path / "out_drift.html").read_text()


def test_predict_from_csv_of_a_plain_model_uses_the_default_thresholds(
    trained_model: Any,
) -> None:
    predictor = PurchasePredictor(trained_model)
    assert predictor.project_path is None
    assert predictor.monitoring == MonitoringParams()


@pytest.mark.slow
def test_predict_from_csv_of_a_project_model_uses_the_project_s_thresholds(
    trained_copy: Path,
) -> None:
    raw, _ = generate_sessions(400, 12, labelled=False, shift="more_mobile")
    raw.to_csv("shifted.csv", index=False)
    PurchasePredictor(project_path=trained_copy).predict_from_csv(
        "shifted.csv", "out/default.csv"
    )
    assert json.loads(Path("out/default_drift.json").read_text())["status"] == "alert"
    conf = trained_copy / "conf/base/parameters_monitoring.yml"
    params = yaml.safe_load(conf.read_text())
    params["monitoring"]["psi"] = {"warn": 5.0, "alert": 10.0}
    conf.write_text(yaml.safe_dump(params))
    predictor = PurchasePredictor(project_path=trained_copy)
    assert predictor.monitoring.psi.alert == 10.0
    predictor.predict_from_csv("shifted.csv", "out/lenient.csv")
    lenient = json.loads(Path("out/lenient_drift.json").read_text())
    assert lenient["columns"]["device_type"]["status"] == "ok"
    assert lenient["columns"]["device_type"]["psi"] > 0.25  # drifted, judged leniently


@pytest.mark.slow
def test_a_scheduled_history_is_monitored_and_logged_on_the_champion(
    trained_copy: Path,
) -> None:
    """Each run writes its own predictions file; monitoring reads the folder."""
    for day, seed in (("day1", 21), ("day2", 22)):
        raw, _ = generate_sessions(300, seed, labelled=False)
        raw.to_csv(f"{day}_sessions.csv", index=False)
        run_project(
            trained_copy,
            pipeline="inference",
            params={
                "inference_input_path": f"{day}_sessions.csv",
                "inference_output_path": f"history/{day}.csv",
            },
        )
    outcomes = pd.concat(
        [
            pd.read_csv(f"history/{day}.csv")[["customer_id", "run_id"]].assign(
                purchase=lambda f: (f["customer_id"] % 3 == 0).astype(int)
            )
            for day in ("day1", "day2")
        ]
    )
    outcomes.to_csv("outcomes.csv", index=False)
    run_project(
        trained_copy,
        pipeline="monitoring",
        params={"outcomes_path": "outcomes.csv", "predictions_path": "history/"},
    )
    report = json.loads((REPORTING / "realised_performance.json").read_text())
    assert len(report["runs"]) == 2
    assert report["predictions"]["set_aside"] == 0
    assert report["outcomes"]["matched"] == len(outcomes)
    [model] = report["models"]
    assert model["registry_version"] is not None
    client = MlflowClient(tracking_uri=f"sqlite:///{trained_copy / 'mlflow.db'}")
    version = client.get_model_version("purchase-model", model["registry_version"])
    run = client.get_run(version.tags["realised_monitoring_run"])
    assert run.data.metrics["realised_f1"] == pytest.approx(model["f1"])
    assert run.data.metrics["realised_roc_auc"] == pytest.approx(model["roc_auc"])
    if version.model_id:  # MLflow 3: the logged model behind the version has them
        logged = {
            m.key: m.value for m in client.get_logged_model(version.model_id).metrics
        }
        assert logged["realised_f1"] == pytest.approx(model["f1"])
