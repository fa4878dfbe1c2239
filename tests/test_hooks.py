"""A run that trains the model ends with one line: the model chosen, where to read."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro_datasets.text import TextDataset

from customer_purchase_prediction.datasets import MarkdownDataset
from customer_purchase_prediction.hooks import RunSummaryHooks, run_summary
from tests.conftest import run_project

MODEL = SimpleNamespace(
    name="xgboost", metadata={"selection_metric": "f1", "test": {"f1": 0.81254}}
)
TRAINING = Pipeline(
    [
        Node(func=lambda: MODEL, inputs=None, outputs="purchase_model", name="train"),
        Node(
            func=lambda model: ("# card", "<html></html>", "# comparison"),
            inputs="purchase_model",
            outputs=["model_card", "report", "model_comparison_md"],
            name="report",
        ),
    ]
)
SCORING = Pipeline(
    [Node(func=lambda model: 1, inputs="purchase_model", outputs="scores", name="s")]
)


def _catalog(project: Path) -> DataCatalog:
    reporting = project / "data" / "08_reporting"
    return DataCatalog(
        {
            "purchase_model": MemoryDataset(MODEL),
            "model_card": MarkdownDataset(filepath=str(reporting / "model_card.md")),
            "report": TextDataset(filepath=str(reporting / "report.html")),
            "model_comparison_md": MarkdownDataset(
                filepath=str(reporting / "model_comparison.md")
            ),
            "scores": MemoryDataset(),
        }
    )


def _summaries(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "customer_purchase_prediction.hooks"]


def _fake_run(
    hooks: RunSummaryHooks, pipeline: Pipeline, project: Path, *, saved: Any = MODEL
) -> None:
    """Call the hooks as a run of ``pipeline`` in ``project`` would."""
    hooks.before_pipeline_run()
    if saved is not None and "purchase_model" in pipeline.all_outputs():
        hooks.after_dataset_saved("purchase_model", saved)
    hooks.after_pipeline_run(
        run_params={"project_path": project.as_posix()},
        pipeline=pipeline,
        catalog=_catalog(project),
    )


def test_a_training_run_ends_with_the_model_its_test_score_and_the_reports(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _fake_run(RunSummaryHooks(), TRAINING, tmp_path)
    assert [(r.levelname, r.getMessage()) for r in _summaries(caplog)] == [
        (
            "INFO",
            "Selected xgboost: test f1 0.8125; reports: "
            "data/08_reporting/model_card.md, data/08_reporting/report.html",
        )
    ]


def test_the_model_is_loaded_when_the_hooks_did_not_see_it_saved(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _fake_run(RunSummaryHooks(), TRAINING, tmp_path, saved=None)  # ParallelRunner
    assert [r.getMessage() for r in _summaries(caplog)] == [
        "Selected xgboost: test f1 0.8125; reports: "
        "data/08_reporting/model_card.md, data/08_reporting/report.html"
    ]


def test_a_run_that_does_not_train_says_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    hooks = RunSummaryHooks()
    _fake_run(hooks, TRAINING, tmp_path)
    caplog.clear()
    _fake_run(hooks, SCORING, tmp_path)  # e.g. --pipelines=inference
    assert _summaries(caplog) == []


def test_a_summary_that_cannot_be_made_never_fails_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    odd = SimpleNamespace(name="xgboost", metadata={"selection_metric": "f1"})
    _fake_run(RunSummaryHooks(), TRAINING, tmp_path, saved=odd)
    assert [(r.levelname, r.getMessage()) for r in _summaries(caplog)] == [
        ("WARNING", "No run summary: KeyError: 'test'")
    ]


def test_the_summary_names_only_the_reports_there_are() -> None:
    assert run_summary(MODEL) == "Selected xgboost: test f1 0.8125"


@pytest.mark.slow
def test_kedro_run_ends_with_the_summary(
    project_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    run_project(project_dir)
    summaries = [r.getMessage() for r in _summaries(caplog)]
    assert len(summaries) == 1
    chosen, reports = summaries[0].split("; reports: ")
    assert chosen.startswith("Selected ")
    assert " test f1 " in chosen
    written = [
        f"data/08_reporting/{name}"
        for name in ("model_card.md", "report.html")
        if (project_dir / "data/08_reporting" / name).exists()
    ]
    assert "data/08_reporting/model_card.md" in written
    assert reports.split(", ") == written


# ------------------------------------------------------------------ untracked
class _Catalog:
    def __init__(self, dataset: Any) -> None:
        self._dataset = dataset

    def get(self, name: str) -> Any:
        return self._dataset


def test_untracked_the_current_model_follows_the_gate(
    tmp_path: Path, trained_model: Any
) -> None:
    from kedro.io import Version

    from customer_purchase_prediction.artifact import (
        ModelArtifactDataset,
    )
    from customer_purchase_prediction.hooks import (
        DECISION_DATASET,
        RecordCurrentModel,
    )
    from customer_purchase_prediction.registry import (
        RegistryParams,
        gate_decision,
    )

    def saved(version: str) -> ModelArtifactDataset:
        dataset = ModelArtifactDataset(
            filepath=str(tmp_path / "purchase_model.skops"),
            version=Version(None, version),
        )
        dataset.save(trained_model)
        return dataset

    old, new = "2026-01-01T00.00.00.000Z", "2026-02-01T00.00.00.000Z"
    saved(old).make_current(reason="first")
    dataset = saved(new)
    hook, run = RecordCurrentModel(), {"session_id": new}
    worse = gate_decision("f1", 0.1, 0.9, old, RegistryParams())
    hook.before_pipeline_run()
    hook.after_dataset_saved(DECISION_DATASET, worse)
    hook.after_pipeline_run(run, TRAINING, _Catalog(dataset))
    assert dataset.current_version() == old  # a challenger is not made current

    better = gate_decision("f1", 0.9, 0.1, old, RegistryParams())
    hook.before_pipeline_run()
    hook.after_dataset_saved(DECISION_DATASET, better)
    hook.after_pipeline_run(run, TRAINING, _Catalog(dataset))
    assert dataset.current_version() == new
