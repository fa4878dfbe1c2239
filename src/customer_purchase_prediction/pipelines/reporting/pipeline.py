"""Wiring of the reporting pipeline: it reads saved artifacts only, never retrains."""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Node, Pipeline

from customer_purchase_prediction.pipelines.reporting.nodes import (
    assess_business_impact,
    build_model_comparison,
    compile_model_metrics,
    explain_features,
    plot_calibration,
    plot_confusion_matrix,
    plot_feature_importance,
    plot_gain_lift,
    plot_roc_pr_curves,
    plot_threshold_curves,
    summarise_business_impact,
    write_html_report,
    write_model_card,
)


def create_pipeline(**kwargs: Any) -> Pipeline:
    """Build every report from the test predictions and metrics modelling saved."""
    return Pipeline(
        [
            Node(
                func=compile_model_metrics,
                inputs=[
                    "candidate_tuning",
                    "model_selection",
                    "test_metrics",
                    "test_predictions",
                    "purchase_model",
                    "params:reporting",
                ],
                outputs="model_metrics",
                name="compile_model_metrics",
            ),
            Node(
                func=build_model_comparison,
                inputs="model_metrics",
                outputs=["model_comparison", "model_comparison_md"],
                name="build_model_comparison",
            ),
            Node(
                func=assess_business_impact,
                inputs=["test_predictions", "params:business"],
                outputs=["business_impact", "business_deciles"],
                name="assess_business_impact",
            ),
            Node(
                func=summarise_business_impact,
                inputs="business_impact",
                outputs="business_impact_md",
                name="summarise_business_impact",
            ),
            Node(
                func=explain_features,
                inputs=["purchase_model", "test_predictions", "params:reporting"],
                outputs="feature_importance",
                name="explain_features",
            ),
            Node(
                func=write_model_card,
                inputs=[
                    "model_metrics",
                    "business_impact",
                    "feature_importance",
                    "purchase_model",
                    "params:reporting",
                    "params:business",
                    "registry_decision",
                ],
                outputs="model_card",
                name="write_model_card",
            ),
            Node(
                func=write_html_report,
                inputs=[
                    "model_metrics",
                    "business_impact",
                    "feature_importance",
                    "test_predictions",
                    "purchase_model",
                    "params:reporting",
                    "params:business",
                    "registry_decision",
                ],
                outputs="report_html",
                name="write_html_report",
            ),
            Node(
                func=plot_confusion_matrix,
                inputs="business_impact",
                outputs="confusion_matrix_plot",
                name="plot_confusion_matrix",
            ),
            Node(
                func=plot_roc_pr_curves,
                inputs=["test_predictions", "model_metrics"],
                outputs=["roc_pr_curves_plot", "roc_pr_curves_interactive"],
                name="plot_roc_pr_curves",
            ),
            Node(
                func=plot_threshold_curves,
                inputs=["test_predictions", "model_metrics"],
                outputs=["threshold_curves_plot", "threshold_curves_interactive"],
                name="plot_threshold_curves",
            ),
            Node(
                func=plot_calibration,
                inputs="model_metrics",
                outputs="calibration_plot",
                name="plot_calibration",
            ),
            Node(
                func=plot_gain_lift,
                inputs="business_impact",
                outputs=["gain_lift_plot", "gain_lift_interactive"],
                name="plot_gain_lift",
            ),
            Node(
                func=plot_feature_importance,
                inputs=["feature_importance", "model_metrics", "params:reporting"],
                outputs="feature_importance_plot",
                name="plot_feature_importance",
            ),
        ]
    )
