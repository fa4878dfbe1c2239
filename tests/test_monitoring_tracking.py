"""Realised metrics logged on the model's registry version, or skipped with a reason."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from mlflow import MlflowClient

from customer_purchase_prediction.monitoring import tracking_metrics
from customer_purchase_prediction.monitoring_tracking import (
    REALISED_DATASET,
    RUN_TAG,
    RealisedTracking,
    log_realised,
)
from customer_purchase_prediction.registry import (
    KEDRO_VERSION_TAG,
    MODEL_NAME,
    ModelRegistry,
)


def _part(kedro_version: str, registry_version: str | None = None) -> dict[str, Any]:
    return {
        "model_version": kedro_version,
        "registry_version": registry_version,
        "runs": ["2026-12-01T10.00.00.000Z"],
        "predictions": 100,
        "share_matched": 0.8,
        "matched": 80,
        "roc_auc": 0.71,
        "precision": 0.5,
        "recall": 0.6,
        "f1": 0.545,
        "brier": 0.2,
        "profit": {"expected": 120.0, "realised": 90.0, "contacted": 30},
    }


def _registered(uri: str, tmp_path: Path, kedro_version: str) -> str:
    """A version of purchase-model in the store at ``uri``; its number."""
    registry = ModelRegistry(uri)
    client = registry.client
    experiment = client.get_experiment_by_name("monitoring-tests")
    experiment_id = (
        experiment.experiment_id
        if experiment
        else client.create_experiment("monitoring-tests")
    )
    run = client.create_run(experiment_id)
    client.set_terminated(run.info.run_id)
    (tmp_path / "model").mkdir()
    entry = registry.register(
        (tmp_path / "model").as_uri(),
        run_id=run.info.run_id,
        tags={KEDRO_VERSION_TAG: kedro_version},
    )
    return entry.version


def test_without_a_store_tracking_is_skipped_with_the_reason() -> None:
    outcome = log_realised({"models": [_part("v")]}, None, timeout=1)
    assert outcome["logged"] == []
    assert "no tracking store yet" in outcome["skipped"][0]


def test_an_unreachable_server_is_skipped_within_the_timeout() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    registry = ModelRegistry(f"http://127.0.0.1:{port}")
    outcome = log_realised({"models": [_part("v")]}, registry, timeout=0.5)
    assert outcome["logged"] == []
    assert "does not answer" in outcome["skipped"][0]


def test_realised_metrics_go_on_the_version_that_scored_the_runs(
    session_tracking_store: str, tmp_path: Path
) -> None:
    kedro_version = f"kv-{tmp_path.name}"
    version = _registered(session_tracking_store, tmp_path, kedro_version)
    registry = ModelRegistry(session_tracking_store)
    part = _part(kedro_version)
    unknown = _part("never-registered")
    outcome = log_realised({"models": [part, unknown]}, registry, timeout=2)
    [logged] = outcome["logged"]
    assert logged["registry_version"] == version
    client = MlflowClient(tracking_uri=session_tracking_store)
    run = client.get_run(logged["run_id"])
    assert run.data.metrics == tracking_metrics(part)
    assert run.data.metrics["realised_f1"] == pytest.approx(0.545)
    assert run.data.tags["registry_version"] == version
    assert (
        client.get_model_version(MODEL_NAME, version).tags[RUN_TAG] == run.info.run_id
    )
    assert outcome["skipped"] == [
        f"model never-registered is not a version of {MODEL_NAME} in "
        f"{session_tracking_store}"
    ]
    # The registry version a run summary names wins over the Kedro version.
    by_number = log_realised(
        {"models": [_part("other", registry_version=version)]}, registry, timeout=2
    )
    assert by_number["logged"][0]["registry_version"] == version


def test_the_hook_writes_nothing_and_says_tracking_was_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A project whose store does not exist yet (no tracked training run).
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "conf" / "local").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'none.db'}")
    hook = RealisedTracking()
    hook.after_context_created(
        SimpleNamespace(project_path=tmp_path, env=None, params={})
    )
    with caplog.at_level(logging.WARNING):
        hook.after_dataset_saved(REALISED_DATASET, {"models": [_part("v")]})
    assert hook.outcome is not None
    assert hook.outcome["logged"] == []
    assert "tracking skipped: no tracking store yet" in caplog.text
    assert not (tmp_path / "none.db").exists()
    hook.outcome = None
    hook.after_dataset_saved("drift_report", {})  # other datasets: nothing
    assert hook.outcome is None
