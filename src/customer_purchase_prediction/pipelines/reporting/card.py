"""The model card's facts: the artifact, its training data and this run's verdicts.

Everything here is read from the loaded artifact (its metadata carries the
data-quality report of its training file) and from the reports' numbers, so
``--load-versions=purchase_model:<v>`` recreates version <v>'s card.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.candidates import get_candidate
from customer_purchase_prediction.columns import FEATURE_COLUMNS
from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.pipelines.reporting.computations import (
    CALIBRATION_TOLERANCE,
)
from customer_purchase_prediction.pipelines.reporting.params import ReportingParams
from customer_purchase_prediction.pipelines.reporting.summaries import (
    Calibration,
    CardFacts,
    CloseCall,
    FeatureDriver,
    ModelMetrics,
    TrainingData,
)

TOP_DRIVERS = 5


def card_facts(
    model: PurchaseModel,
    metrics: ModelMetrics,
    importance: pd.DataFrame,
    params: ReportingParams,
    business: BusinessParams,
) -> CardFacts:
    """What the model card says about ``model``, besides the reports' numbers."""
    meta = model.metadata
    candidate = get_candidate(model.name)
    return CardFacts(
        model=model.name,
        version=getattr(model, "version", None),
        trained_at=str(meta.get("trained_at", "unknown")),
        estimator=str(meta.get("estimator", type(model.estimator).__name__)),
        hyperparameters=dict(meta.get("hyperparameters", {})),
        trees=candidate.tree_count(model.estimator),
        threshold=model.threshold,
        fingerprint=str(meta.get("data_fingerprint", "unknown")),
        class_weighted=candidate.class_weighted(model.estimator),
        calibration_direction=calibration_direction(metrics.calibration),
        close_call=close_call(metrics),
        importance_kind=candidate.importance.kind if candidate.importance else None,
        drivers=[
            FeatureDriver(feature=r.feature, permutation_mean=r.permutation_mean)
            for r in importance.head(TOP_DRIVERS).itertuples()
        ],
        data=training_data(_data_quality(model), meta),
        data_note=params.data_note,
        break_even_probability=business.break_even_probability,
        library_versions={
            name: str(v) for name, v in meta.get("library_versions", {}).items()
        },
        input_columns=list(FEATURE_COLUMNS),
    )


def _data_quality(model: PurchaseModel) -> Mapping[str, Any]:
    quality = model.metadata.get("data_quality")
    if not isinstance(quality, Mapping):
        raise ValueError(
            f"purchase_model {getattr(model, 'version', None) or '(unversioned)'} "
            "has no data-quality report in its metadata ('data_quality'), so its "
            "model card cannot describe the training data; retrain with 'kedro run'"
        )
    return quality


def training_data(quality: Mapping[str, Any], meta: Mapping[str, Any]) -> TrainingData:
    """The data-quality report's rows, reject reasons and missing values."""
    rows = quality["rows"]
    missing = quality.get("missing_values", {})
    reasons = sorted(quality.get("rejects_by_rule", {}).items(), key=lambda kv: -kv[1])
    return TrainingData(
        source=str(quality.get("source", "unknown")),
        rows_in=rows["in"],
        rows_kept=rows["kept"],
        rows_rejected=rows["rejected"],
        rejected_share=rows["rejected"] / max(rows["in"], 1),
        reject_reasons=reasons,
        missing_shares={c: v["share"] for c, v in missing.items() if v["count"]},
        max_missing_share=max((v["share"] for v in missing.values()), default=0.0),
        purchase_rate=quality["purchase_rate"],
        training_rows=meta.get("training_rows"),
        training_positive_rate=meta.get("training_positive_rate"),
        fitted_on=meta.get("fitted_on"),
    )


def calibration_direction(calibration: Calibration) -> str | None:
    """Whether the probabilities ``overstate`` or ``understate`` purchases, or None."""
    if abs(calibration.mean_gap) < CALIBRATION_TOLERANCE:
        return None
    return "overstate" if calibration.mean_gap > 0 else "understate"


def close_call(metrics: ModelMetrics) -> CloseCall | None:
    """The runner-up, when it is within one CV std of the selected model."""
    metric, selected = metrics.selection_metric, metrics.selected_model
    others = [name for name in metrics.models if name != selected]
    if not others:
        return None

    def mean(name: str) -> float:
        return metrics.models[name].cv[metric].mean

    runner_up = max(others, key=mean)
    margin = mean(selected) - mean(runner_up)
    spread = metrics.selected.cv[metric].std
    if margin >= spread:
        return None
    return CloseCall(runner_up=runner_up, margin=margin, spread=spread)
