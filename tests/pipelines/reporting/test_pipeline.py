"""The reporting pipeline: a memory-catalog run, a full Kedro run, and that every
report quotes the same numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure
from plotly import graph_objects as go
from pydantic import BaseModel

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.candidates import get_candidate
from customer_purchase_prediction.output_paths import CATALOG_RESOLVERS
from customer_purchase_prediction.params import FeatureParams
from customer_purchase_prediction.pipelines import (
    feature_engineering,
    modelling,
    reporting,
)
from customer_purchase_prediction.pipelines.reporting.computations import (
    REPORTED_METRICS,
)
from customer_purchase_prediction.pipelines.reporting.params import ReportingParams
from customer_purchase_prediction.pipelines.reporting.summaries import METRIC_LABELS
from customer_purchase_prediction.registry import RegistryParams, gate_decision
from customer_purchase_prediction.scale_out import NotPartitioned
from customer_purchase_prediction.synthetic import generate_sessions, write_frame
from tests.conftest import PROJECT_ROOT, modelling_params, run_project
from tests.pipelines.reporting.inputs import QUALITY_REPORT

REPORT_FILES = (
    "model_comparison.csv",
    "model_comparison.md",
    "model_metrics.json",
    "business_impact.json",
    "business_impact.md",
    "business_deciles.csv",
    "feature_importance.csv",
    "model_card.md",
    "confusion_matrix.png",
    "roc_pr_curves.png",
    "roc_pr_curves.plotly.json",
    "threshold_curves.png",
    "threshold_curves.plotly.json",
    "calibration.png",
    "gain_lift.png",
    "gain_lift.plotly.json",
    "feature_importance.png",
    "report.html",
)


class KeptDataset(MemoryDataset):
    """A memory dataset the runner does not release, so a test can read it after."""

    def _release(self) -> None:
        pass


@pytest.fixture(scope="module")
def reports(small_sessions: pd.DataFrame) -> dict[str, Any]:
    """Every reporting output of a quick training run, on a memory catalog."""
    training = feature_engineering.create_pipeline() + modelling.create_pipeline()
    pipeline = training + reporting.create_pipeline()
    catalog = DataCatalog(
        {name: KeptDataset() for name in pipeline.datasets()}
        | {
            "sessions": MemoryDataset(small_sessions),
            "params:modelling": MemoryDataset(modelling_params()),
            "params:feature_engineering": MemoryDataset(FeatureParams()),
            "validation_sessions": KeptDataset(copy_mode="assign"),
            "training_rows": NotPartitioned(),  # read by the dask environment only
            "data_quality_report": MemoryDataset(QUALITY_REPORT),
            "params:reporting": MemoryDataset(ReportingParams(data_note="Toy data.")),
            "params:business": MemoryDataset(
                BusinessParams(contact_cost=4.0, conversion_value=30.0)
            ),
            # The registry gate's decision (a first model: champion).
            "registry_decision": MemoryDataset(
                gate_decision("f1", 0.5, None, None, RegistryParams())
            ),
        }
    )
    SequentialRunner().run(pipeline, catalog)
    names = {*reporting.create_pipeline().all_outputs(), "test_predictions"}
    return {name: _as_saved(catalog.load(name)) for name in names}


def _as_saved(data: Any) -> Any:
    """A typed summary as its JSON file holds it; anything else as it is."""
    return data.model_dump(mode="json") if isinstance(data, BaseModel) else data


def _money(value: float, currency: str) -> str:
    return f"{'-' if value < 0 else ''}{currency}{abs(value):,.0f}"


def assert_reports_agree(reports: dict[str, Any]) -> None:
    """Comparison table, metrics, business impact and model card quote one set of
    numbers, and the confusion counts reproduce the quoted test metrics."""
    metrics, impact = reports["model_metrics"], reports["business_impact"]
    selected, card = metrics["selected_model"], reports["model_card"]
    comparison = reports["model_comparison"].set_index("model")
    assert comparison.index[comparison["selected"].astype(bool)].tolist() == [selected]
    metric = metrics["selection_metric"]
    for name, entry in metrics["models"].items():
        row = comparison.loc[name]
        for m in REPORTED_METRICS:
            assert row[f"test_{m}"] == pytest.approx(entry["test"][m], rel=1e-12)
        assert row[f"cv_{metric}_mean"] == pytest.approx(entry["cv"][metric]["mean"])
        assert row[f"cv_{metric}_std"] == pytest.approx(entry["cv"][metric]["std"])
        assert f"{entry['test']['f1']:.3f}" in reports["model_comparison_md"]

    # The business figures come from the same predictions at the same threshold
    # as the quoted test metrics.
    assert (impact["model"], impact["threshold"]) == (selected, metrics["threshold"])
    c = impact["confusion_matrix"]
    tp, fp, fn, tn = (
        c[k]
        for k in (
            "true_positives",
            "false_positives",
            "false_negatives",
            "true_negatives",
        )
    )
    assert tp + fp + fn + tn == metrics["test_rows"] == impact["test_customers"]
    assert tp + fn == metrics["test_purchasers"] == impact["purchasers"]
    test = metrics["models"][selected]["test"]
    assert (tp + tn) / (tp + fp + fn + tn) == pytest.approx(test["accuracy"], rel=1e-12)
    assert tp / (tp + fp) == pytest.approx(test["precision"], rel=1e-12)
    assert tp / (tp + fn) == pytest.approx(test["recall"], rel=1e-12)
    assert 2 * tp / (2 * tp + fp + fn) == pytest.approx(test["f1"], rel=1e-12)
    assert impact["classified_correctly"]["share"] == pytest.approx(test["accuracy"])
    deciles = reports["business_deciles"]
    assert deciles["customers"].sum() == impact["test_customers"]
    assert deciles["purchasers"].sum() == impact["purchasers"]

    # The model card and the Markdown summaries quote those numbers.
    interval = metrics["models"][selected]["test_interval"]
    for m in REPORTED_METRICS:
        low, high = interval[m]
        assert (
            f"| {METRIC_LABELS[m]} | {test[m]:.3f} | {low:.3f} - {high:.3f} |" in card
        )
    assert metrics["artifact_version"] in card
    assert f"at threshold {metrics['threshold']:.2f}" in card
    cur = impact["assumptions"]["currency"]
    for strategy in ("model", "everyone"):
        per_1000 = impact["strategies"][strategy]["profit_per_1000_customers"]
        assert _money(per_1000, cur) in card
        assert _money(per_1000, cur) in reports["business_impact_md"]
    headline = f"**Classified correctly:** {tp + tn} customers"
    assert headline in card
    assert headline in reports["business_impact_md"]
    brier = metrics["calibration"]["brier_score"]
    assert f"Brier score {brier:.3f}" in card


def test_reporting_pipeline_reads_only_saved_artifacts() -> None:
    """``kedro run --pipelines=reporting`` needs no training: every input is a
    dataset a training run saves, and every report is saved too."""
    loader = OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        base_env="base",
        default_run_env="test",
        custom_resolvers=CATALOG_RESOLVERS,
    )
    declared = set(loader["catalog"])
    pipeline = reporting.create_pipeline()
    inputs = {name for name in pipeline.inputs() if not name.startswith("params:")}
    assert inputs <= declared
    assert inputs.isdisjoint({"sessions", "raw_sessions", "feature_transformer"})
    assert pipeline.all_outputs() <= declared
    assert "reporting" in loader["parameters"]


def test_reports_agree_on_every_number(reports: dict[str, Any]) -> None:
    assert_reports_agree(reports)


def test_metrics_report_has_the_documented_keys(reports: dict[str, Any]) -> None:
    metrics = reports["model_metrics"]
    assert {"selected_model", "selection_metric", "threshold"} <= set(metrics)
    assert set(metrics["models"]) == {
        "logistic_regression",
        "random_forest",
        "xgboost",
        "ensemble",
    }
    assert metrics["calibration_method"] == "sigmoid"
    assert metrics["threshold_tuned_on"] == "out_of_fold_and_validation"
    # Which weights the ensemble uses, and why (ensemble.weights: auto).
    assert metrics["ensemble_weights_setting"] == "auto"
    honest = metrics["ensemble_weights_cv"]
    assert honest["metric"] == "brier"
    better = "greedy" if honest["greedy"] < honest["equal"] else "equal"
    assert metrics["ensemble_weights"] == better
    assert honest[better] == metrics["models"]["ensemble"]["cv"]["brier"]["mean"]
    for entry in metrics["models"].values():
        assert set(REPORTED_METRICS) <= set(entry["test"])
        assert {"brier", "log_loss", "ece", "profit"} <= set(entry["test"])
        assert {"brier", "log_loss", "ece", "profit"} <= set(entry["cv"])
        assert all({"mean", "std"} <= set(entry["cv"][m]) for m in REPORTED_METRICS)
        for m in REPORTED_METRICS:
            low, high = entry["test_interval"][m]
            assert low <= entry["test"][m] <= high
    json.dumps(metrics, allow_nan=False)  # plain JSON, ready for the catalog


def test_plots_are_figures_and_interactive_ones_plotly(reports: dict[str, Any]) -> None:
    for name in (
        "confusion_matrix",
        "roc_pr_curves",
        "threshold_curves",
        "calibration",
        "gain_lift",
        "feature_importance",
    ):
        figure = reports[f"{name}_plot"]
        assert isinstance(figure, Figure)
        assert figure.axes[0].get_title() or figure.get_suptitle()
        assert all(ax.get_xlabel() and ax.get_ylabel() for ax in figure.axes[:1])
    for name in ("roc_pr_curves", "threshold_curves", "gain_lift"):
        chart = reports[f"{name}_interactive"]
        assert isinstance(chart, go.Figure)
        assert chart.layout.title.text
    assert len(reports["roc_pr_curves_interactive"].data) >= 3 * 2


def test_feature_importance_names_engineered_features(reports: dict[str, Any]) -> None:
    table = reports["feature_importance"]
    features = set(table["feature"])
    assert {"engagement_score", "basket_intensity"} <= features
    assert any(f.startswith("behavioral_segment_") for f in features)
    selected = reports["model_metrics"]["selected_model"]
    # A model without an importance of its own (the ensemble) shows none.
    own = get_candidate(selected).importance is not None
    assert table["model_importance"].sum() == pytest.approx(1.0 if own else 0.0)
    assert table["permutation_mean"].is_monotonic_decreasing


def test_model_card_covers_every_section(reports: dict[str, Any]) -> None:
    card = reports["model_card"]
    for heading in (
        "## Intended use",
        "## Training data",
        "## Candidates and selection",
        "## Test metrics",
        "## Calibration",
        "## Business impact",
        "## Limitations",
        "## Versions and reproduction",
    ):
        assert heading in card
    assert "Toy data." in card
    assert "603 in, 600 kept, 3 rejected" in card
    assert "`time_spent:negative` (2)" in card
    assert "Probabilities are calibrated (sigmoid" in card  # the default
    assert "| scikit-learn |" in card


def test_selected_model_is_scored_by_the_artifact(reports: dict[str, Any]) -> None:
    predictions = reports["test_predictions"]
    selected = predictions[predictions["selected"]]
    assert set(selected["model"]) == {reports["model_metrics"]["selected_model"]}
    assert predictions.groupby("model").size().nunique() == 1  # same rows each
    expected = (selected["probability"] >= selected["threshold"]).astype(int)
    assert selected["prediction"].tolist() == expected.tolist()


@pytest.mark.slow
def test_training_run_writes_every_report_and_reporting_alone_recreates_them(
    project_dir: Path,
) -> None:
    raw, _ = generate_sessions(800, seed=11)
    write_frame(raw, project_dir / "data/01_raw/customer_sessions.csv")
    run_project(project_dir)
    folder = Path("data/08_reporting")
    assert [name for name in REPORT_FILES if not (folder / name).is_file()] == []
    first = _read_reports(folder)
    assert_reports_agree(first)
    version = next(Path("data/06_models/purchase_model.skops").iterdir()).name
    assert first["model_metrics"]["artifact_version"] == version

    for name in REPORT_FILES:
        (folder / name).unlink()
    run_project(project_dir, pipeline="reporting")
    assert [name for name in REPORT_FILES if not (folder / name).is_file()] == []
    assert len(list(Path("data/06_models/purchase_model.skops").iterdir())) == 1
    again = _read_reports(folder)
    assert again["model_metrics"] == first["model_metrics"]
    assert again["model_card"] == first["model_card"]


def _read_reports(folder: Path) -> dict[str, Any]:
    return {
        "model_metrics": json.loads((folder / "model_metrics.json").read_text()),
        "business_impact": json.loads((folder / "business_impact.json").read_text()),
        "model_comparison": pd.read_csv(folder / "model_comparison.csv"),
        "model_comparison_md": (folder / "model_comparison.md").read_text(),
        "business_impact_md": (folder / "business_impact.md").read_text(),
        "business_deciles": pd.read_csv(folder / "business_deciles.csv"),
        "model_card": (folder / "model_card.md").read_text(),
    }
