"""Nodes of the inference pipeline: the training contract and artifact, reused."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.contract import (
    ID_COLUMN,
    count_reject_rules,
    validate_sessions,
)
from customer_purchase_prediction.drift import summary_of
from customer_purchase_prediction.explain import InferenceParams, explain
from customer_purchase_prediction.model import CONFIDENCE_LEVELS, PurchaseModel
from customer_purchase_prediction.scale_out import on_partitions
from customer_purchase_prediction.targeting import (
    TargetingParams,
    contact_list,
    contact_rows,
    contact_summary,
)

logger = logging.getLogger(__name__)

SCORE_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
# The column, and the summary key, that tie a run's outputs together.
RUN_ID = "run_id"


@on_partitions  # a Dask frame: partitioned.validate_new_sessions (--env=dask)
def validate_new_sessions(
    new_sessions: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Apply the data contract, without the label, to sessions to be scored."""
    source = new_sessions.attrs.get("source", "the new sessions")
    result = validate_sessions(new_sessions, labelled=False, source=source)
    logger.info(
        "%s: %d rows in, %d valid, %d rejected",
        source,
        result.rows_in,
        len(result.valid),
        len(result.rejects),
    )
    return result.valid, result.rejects, {"source": source, "rows_in": result.rows_in}


@on_partitions  # a Dask frame: partitioned.score_sessions (--env=dask)
def score_sessions(
    sessions: pd.DataFrame, purchase_model: PurchaseModel
) -> pd.DataFrame:
    """Predictions for valid sessions, in their order."""
    return purchase_model.score(sessions)


@on_partitions  # a Dask frame: partitioned.explain_predictions (--env=dask)
def explain_predictions(
    scored_sessions: pd.DataFrame,
    sessions: pd.DataFrame,
    purchase_model: PurchaseModel,
    inference: InferenceParams,
) -> pd.DataFrame:
    """With ``inference.explain``, each prediction with its reasons
    (``reason_1..reason_3``); otherwise the predictions as they are."""
    if not inference.explain:
        return scored_sessions
    probability = scored_sessions["purchase_probability"].to_numpy()
    reasons = explain(purchase_model, sessions, probability=probability).frame()
    return pd.concat([scored_sessions.reset_index(drop=True), reasons], axis=1)


@on_partitions  # a Dask frame: partitioned.build_contact_list (--env=dask)
def build_contact_list(
    sessions: pd.DataFrame,
    explained_sessions: pd.DataFrame,
    purchase_model: PurchaseModel,
    business: BusinessParams,
    targeting: TargetingParams,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The customers worth contacting, best expected profit first, and what the
    run summary says of them (``targeting.py``)."""
    # A Dask run (--env=dask) hands over lazy frames: the list needs them whole.
    sessions, explained_sessions = (
        frame.compute() if hasattr(frame, "compute") else frame
        for frame in (sessions, explained_sessions)
    )
    contacts = contact_list(
        sessions, explained_sessions, purchase_model, business, targeting
    )
    summary = contact_summary(contacts, business, targeting)
    logger.info(
        "Contact list: %d customers, %.1f expected conversions, expected profit %s%.2f",
        summary["listed"],
        summary["expected_conversions"],
        business.currency,
        summary["expected_profit"],
    )
    return contacts, summary


def select_contacts(
    sessions: pd.DataFrame,
    explained_sessions: pd.DataFrame,
    business: BusinessParams,
    targeting: TargetingParams,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sessions and scored rows the contact list would hold, in its order,
    without reasons: ``targeting.contact_rows``, the rule ``build_contact_list``
    applies. The list of these rows is the list of all of them, so a Dask run
    (``partitioned.build_contact_list``) selects with it per partition and per
    merge and explains only the last selection's rows, once."""
    chosen = contact_rows(explained_sessions, business, targeting)
    return (
        sessions.iloc[chosen].reset_index(drop=True),
        explained_sessions.iloc[chosen].reset_index(drop=True),
    )


@on_partitions  # a Dask frame: partitioned.rank_predictions (--env=dask)
def rank_predictions(scored_sessions: pd.DataFrame) -> pd.DataFrame:
    """Predictions ranked, the most likely buyers first (ties by customer_id)."""
    order = np.lexsort(
        (
            scored_sessions[ID_COLUMN].to_numpy(),
            -scored_sessions["purchase_probability"].to_numpy(),
        )
    )
    return scored_sessions.iloc[order].reset_index(drop=True)


@on_partitions  # a Dask frame: partitioned.summarise_inference (--env=dask)
def summarise_inference(
    scored_sessions: pd.DataFrame,
    rejected_new_sessions: pd.DataFrame,
    new_sessions_summary: dict[str, Any],
    purchase_model: PurchaseModel,
) -> dict[str, Any]:
    """Rows in, scored and rejected (by rule), and the distribution of scores."""
    proba = scored_sessions["purchase_probability"]
    return {
        "source": new_sessions_summary["source"],
        "model": {
            "name": purchase_model.name,
            "version": purchase_model.version,
            "sha256": (purchase_model.artifact or {}).get("sha256"),
            # The registry's version and aliases of it, when it came from one.
            "registry_version": (purchase_model.artifact or {}).get("registry_version"),
            "aliases": list((purchase_model.artifact or {}).get("aliases", [])),
            "trained_at": purchase_model.metadata.get("trained_at"),
            "threshold": purchase_model.threshold,
        },
        "rows": {
            "in": new_sessions_summary["rows_in"],
            "scored": len(scored_sessions),
            "rejected": len(rejected_new_sessions),
        },
        "rejects_by_rule": count_reject_rules(rejected_new_sessions),
        "predicted_buyers": int(scored_sessions["purchase_prediction"].sum()),
        "confidence": {
            level: int((scored_sessions["prediction_confidence"] == level).sum())
            for level in CONFIDENCE_LEVELS
        },
        "probability": {
            "mean": _rounded(proba.mean()),
            **{
                f"p{int(q * 100)}": _rounded(proba.quantile(q)) for q in SCORE_QUANTILES
            },
        },
    }


def publish_outputs(  # noqa: PLR0913, PLR0917 - a node takes its catalog inputs
    ranked_predictions: pd.DataFrame,
    rejected_new_sessions: pd.DataFrame,
    inference_run_summary: dict[str, Any],
    run_id: str,
    drift_report: dict[str, Any],
    drift_page: str,
    contacts: pd.DataFrame,
    contacts_summary: dict[str, Any],
) -> tuple[
    pd.DataFrame, pd.DataFrame, dict[str, Any], str, pd.DataFrame, dict[str, Any]
]:
    """A run's predictions, rejects, drift report and page, contact list, and
    summary, each marked with the run id; the summary carries the batch's drift
    status and what the contact list holds.

    One node returns them all so that they are written together, at the end,
    in this order: a run that fails or is killed earlier writes nothing (the
    previous run's files stay, whole and consistent), and the summary, written
    last, exists only once the files it describes do.
    """
    return (
        ranked_predictions.assign(**{RUN_ID: run_id}),
        rejected_new_sessions.assign(**{RUN_ID: run_id}),
        {RUN_ID: run_id, **drift_report},
        drift_page,
        contacts.assign(**{RUN_ID: run_id}),
        {
            RUN_ID: run_id,
            **inference_run_summary,
            "drift": summary_of(drift_report),
            "contact_list": contacts_summary,
        },
    )


def _rounded(value: float) -> float | None:
    return None if pd.isna(value) else round(float(value), 4)
