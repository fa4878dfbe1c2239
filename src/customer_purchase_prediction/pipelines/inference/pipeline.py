"""Wiring of the inference pipeline (never part of ``__default__``).

Every output is written by the last node, together: predictions, rejects, then
the summary. Until then the run's data stays in memory, so a run that stops
early leaves the previous run's outputs as they were.
"""

from __future__ import annotations

from typing import Any

from kedro.pipeline import Node, Pipeline

from customer_purchase_prediction.pipelines.inference.nodes import (
    build_contact_list,
    explain_predictions,
    publish_outputs,
    rank_predictions,
    score_sessions,
    summarise_inference,
    validate_new_sessions,
)
from customer_purchase_prediction.pipelines.monitoring.nodes import report_drift


def create_pipeline(**kwargs: Any) -> Pipeline:
    """Validate new sessions, score the valid ones, summarise, publish."""
    return Pipeline(
        [
            Node(
                func=validate_new_sessions,
                inputs="new_sessions",
                outputs=[
                    "new_sessions_validated",
                    "new_session_rejects",
                    "new_sessions_summary",
                ],
                name="validate_new_sessions",
            ),
            Node(
                func=score_sessions,
                inputs=["new_sessions_validated", "purchase_model"],
                outputs="scored_sessions",
                name="score_sessions",
            ),
            Node(
                func=explain_predictions,
                inputs=[
                    "scored_sessions",
                    "new_sessions_validated",
                    "purchase_model",
                    "params:inference",
                ],
                outputs="explained_sessions",
                name="explain_predictions",
            ),
            Node(
                func=build_contact_list,
                inputs=[
                    "new_sessions_validated",
                    "explained_sessions",
                    "purchase_model",
                    "params:business",
                    "params:targeting",
                ],
                outputs=["contact_list_unpublished", "contact_list_summary"],
                name="build_contact_list",
            ),
            Node(
                func=rank_predictions,
                inputs="explained_sessions",
                outputs="ranked_predictions",
                name="rank_predictions",
            ),
            Node(
                func=summarise_inference,
                inputs=[
                    "scored_sessions",
                    "new_session_rejects",
                    "new_sessions_summary",
                    "purchase_model",
                ],
                outputs="inference_run_summary",
                name="summarise_inference",
            ),
            Node(
                func=report_drift,
                inputs=[
                    "new_sessions_validated",
                    "scored_sessions",
                    "new_session_rejects",
                    "new_sessions_summary",
                    "purchase_model",
                    "params:monitoring",
                    "run_id",
                ],
                outputs=["drift_report_unpublished", "drift_page_unpublished"],
                name="report_drift",
            ),
            Node(
                func=publish_outputs,
                inputs=[
                    "ranked_predictions",
                    "new_session_rejects",
                    "inference_run_summary",
                    "run_id",
                    "drift_report_unpublished",
                    "drift_page_unpublished",
                    "contact_list_unpublished",
                    "contact_list_summary",
                ],
                # Saved in this order: the summary last.
                outputs=[
                    "purchase_predictions",
                    "rejected_new_sessions",
                    "drift_report",
                    "drift_page",
                    "contact_list",
                    "inference_summary",
                ],
                name="publish_outputs",
            ),
        ]
    )
