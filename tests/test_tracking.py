"""Tracking: the store checked first, every training run logged and registered.

The "Done when" of issue 13 is ``test_a_worse_run_is_registered_not_promoted``:
a first run is ``champion`` with the metrics of every candidate, a worse run is
registered as ``challenger``, and scoring keeps the champion unless asked.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path

import pytest
import yaml

from customer_purchase_prediction import PurchasePredictor
from customer_purchase_prediction.columns import example_record
from customer_purchase_prediction.registry import (
    CHALLENGER,
    CHAMPION,
    KEDRO_VERSION_TAG,
    MODEL_NAME,
    SHA256_TAG,
    TrackingError,
    TrackingParams,
    project_registry,
)
from customer_purchase_prediction.tracking import (
    flatten,
    input_example,
    model_signature,
    report_files,
    store_problem,
)
from tests.conftest import PROJECT_ROOT, TRACKING_URI, TRAINING, run_project

# Only logistic regression: a model the full comparison beats on the test part.
ONLY_LOGISTIC = {
    "modelling": {
        "candidates": {
            name: {"enabled": False}
            for name in ("random_forest", "xgboost", "ensemble")
        }
    }
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _messages(exc: BaseException) -> str:
    seen, parts = set(), []
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(str(current))
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


# ------------------------------------------------------------------ the store
def test_a_local_store_that_can_be_written_passes(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert store_problem(uri, str(tmp_path / "mlartifacts"), 1.0) is None


def test_a_store_under_a_file_cannot_be_written(tmp_path: Path) -> None:
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    problem = store_problem(f"sqlite:///{blocker / 'mlflow.db'}", None, 1.0)
    assert problem is not None
    assert f"{blocker} is not a folder" in problem


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_cannot_be_written(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        problem = store_problem(f"sqlite:///{folder / 'mlflow.db'}", None, 1.0)
    finally:
        folder.chmod(0o755)
    assert problem is not None and "is not writable" in problem


def test_a_server_that_does_not_answer_is_told_within_the_timeout() -> None:
    uri = f"http://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    problem = store_problem(uri, None, 1.0)
    assert time.monotonic() - started < 5
    assert problem is not None and f"the tracking server {uri} does not" in problem


def test_tracking_is_required_by_default() -> None:
    configured = yaml.safe_load(
        (PROJECT_ROOT / "conf/base/parameters_registry.yml").read_text()
    )
    assert TrackingParams().required is True
    assert configured["tracking"]["required"] is True
    assert configured["registry"]["promote"] == "gate"


@pytest.mark.slow
def test_an_unwritable_store_stops_training_before_any_node(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TRACKING_URI, f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(Exception) as raised:
        run_project(project_dir, pipeline=TRAINING)
    messages = _messages(raised.value)
    assert "does not answer" in messages
    assert "--params=tracking.required=false" in messages
    assert any(isinstance(e, TrackingError) for e in _chain(raised.value))
    assert not (project_dir / "data" / "03_primary").exists()  # nothing ran
    assert not (project_dir / "data" / "06_models").exists()


@pytest.mark.slow
def test_untracked_when_not_required_warns_once_and_runs(
    project_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocker = project_dir / "blocker"
    blocker.write_text("x")
    monkeypatch.setenv(TRACKING_URI, f"sqlite:///{blocker / 'mlflow.db'}")
    with caplog.at_level(logging.WARNING):
        run_project(
            project_dir,
            pipeline="data_processing",
            params={"tracking": {"required": False}},
        )
    warned = [r for r in caplog.records if "training untracked" in r.getMessage()]
    assert len(warned) == 1
    assert (project_dir / "data" / "03_primary" / "sessions.parquet").exists()
    assert not (project_dir / "mlflow.db").exists()


def _chain(exc: BaseException) -> list[BaseException]:
    found, current = [], exc
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def test_no_test_uses_the_projects_own_store(
    project_dir: Path, session_tracking_store: str
) -> None:
    import mlflow

    assert TRACKING_URI not in os.environ  # a developer's server is never used
    own = f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"
    assert project_registry(project_dir).tracking_uri == (
        f"sqlite:///{project_dir / 'mlflow.db'}"
    )
    assert project_registry(PROJECT_ROOT).tracking_uri == own  # the default
    assert mlflow.get_tracking_uri() != own
    assert own not in session_tracking_store


# ------------------------------------------------------------------ what is logged
def test_parameters_are_logged_flat_field_by_field() -> None:
    flat = flatten({"modelling": TrackingParams(), "a": {"b": {"c": 1}, "d": []}})
    assert flat == {
        "modelling.required": True,
        "modelling.timeout_seconds": 3.0,
        "a.b.c": 1,
        "a.d": [],
    }


def test_the_signature_and_example_come_from_the_column_spec() -> None:
    signature = model_signature()
    example = input_example()
    assert signature.inputs.input_names() == list(example.columns)
    assert example.iloc[0].to_dict() == example_record()
    assert "purchase_probability" in signature.outputs.input_names()


def test_the_reports_logged_are_the_reporting_files_written(tmp_path: Path) -> None:
    card = tmp_path / "model_card.md"
    card.write_text("# card")
    config = {
        "model_card": {"kwargs": {"filepath": str(card), "metadata": _layer()}},
        "report_html": {
            "filepath": str(tmp_path / "missing.html"),
            "kwargs": {"metadata": _layer()},
        },
        "sessions": {"filepath": str(card), "metadata": {"kedro-viz": {}}},
    }
    written = {"model_card", "report_html", "sessions"}
    assert list(report_files(config, written)) == [card]


def _layer() -> dict[str, dict[str, str]]:
    return {"kedro-viz": {"layer": "reporting"}}


# ------------------------------------------------------------------ done when
@pytest.mark.slow
def test_a_worse_run_is_registered_not_promoted(project_dir: Path) -> None:
    import mlflow

    run_project(project_dir, pipeline=TRAINING)
    assert TRACKING_URI not in os.environ  # the user's, not kedro-mlflow's
    registry = project_registry(project_dir)
    (first,) = registry.versions()
    assert first.aliases == (CHAMPION,)
    client = registry.client
    run = client.get_run(first.run_id)
    for name in ("logistic_regression", "random_forest", "xgboost"):
        assert f"test.{name}.f1" in run.data.metrics
        assert f"cv.{name}.f1.mean" in run.data.metrics
    assert run.data.params["modelling.cv_folds"] == "3"
    assert run.data.tags["data_fingerprint"]
    manifest = json.loads(
        (project_dir / "data/06_models/model_manifest.json").read_text()
    )
    entry = manifest["versions"][first.kedro_version]
    assert first.tags[SHA256_TAG] == entry["sha256"]
    assert first.tags[KEDRO_VERSION_TAG] == manifest["current"]["version"]

    run_project(project_dir, pipeline=TRAINING, params=ONLY_LOGISTIC)
    first, second = registry.versions()
    assert (first.aliases, second.aliases) == ((CHAMPION,), (CHALLENGER,))
    assert second.tags["gate"] == "worse than champion 1"

    run_project(project_dir, pipeline="inference")
    summary = project_dir / "data/07_model_output/inference_summary.json"
    model = json.loads(summary.read_text())["model"]
    assert (model["registry_version"], model["aliases"]) == ("1", [CHAMPION])
    assert model["version"] == first.kedro_version

    run_project(project_dir, pipeline="inference", params={"model": "2"})
    model = json.loads(summary.read_text())["model"]
    assert (model["name"], model["registry_version"]) == ("logistic_regression", "2")

    info = PurchasePredictor(project_path=project_dir).get_model_info()
    assert (info["registry_version"], info["aliases"]) == ("1", [CHAMPION])
    other = PurchasePredictor(
        model=f"models:/{MODEL_NAME}/2", project_path=project_dir
    ).get_model_info()
    assert (other["model_name"], other["aliases"]) == (
        "logistic_regression",
        [CHALLENGER],
    )

    # MLflow's own loader gives the champion's probabilities, from the skops
    # file with its hash checked (no pickle in the logged model).
    # (MLflow's own store setting is this project's, from its last run here.)
    logged = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{CHAMPION}")
    scored = logged.predict(input_example())
    expected = PurchasePredictor(project_path=project_dir).predict(
        example_record(), return_probabilities=True
    )
    assert scored["purchase_probability"].iloc[0] == expected["purchase_probability"]
    folder = Path(mlflow.artifacts.download_artifacts(f"models:/{MODEL_NAME}/1"))
    assert not list(folder.rglob("*.pkl"))


@pytest.mark.slow
def test_a_later_session_in_the_process_tracks_into_its_own_project(
    project_dir: Path, session_tracking_store: str
) -> None:
    import mlflow

    # Earlier sessions ran in this process from other folders (the working
    # folder is not this project's), and something left a run open elsewhere.
    stale = mlflow.start_run()
    try:
        run_project(project_dir, pipeline=TRAINING)
    finally:
        if mlflow.active_run() is not None:
            mlflow.end_run()
    registry = project_registry(project_dir)
    (version,) = registry.versions()
    # The training run is in the project's own store, beside its registry.
    assert registry.client.get_run(version.run_id).info.run_id != stale.info.run_id
