"""Pinning the model pins its training run: old reports can be recreated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_project


@pytest.mark.slow
def test_reports_of_an_older_model_are_recreated_after_a_newer_run(
    trained_copy: Path,
) -> None:
    # trained_project holds two training runs: f1 first, then precision.
    project = trained_copy
    older, newer = sorted(
        p.name for p in Path("data/06_models/purchase_model.skops").iterdir()
    )
    assert older != newer

    run_project(project, pipeline="reporting", load_versions={"purchase_model": older})

    metrics = json.loads(Path("data/08_reporting/model_metrics.json").read_text())
    assert metrics["artifact_version"] == older
    assert metrics["selection_metric"] == "f1"  # the older run's, not the newer's
    card = Path("data/08_reporting/model_card.md").read_text()
    assert f"--load-versions=purchase_model:{older}" in card
