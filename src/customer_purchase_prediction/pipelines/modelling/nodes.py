"""Nodes of the modelling pipeline: split, tune, fit, select, test once, package."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from importlib import import_module
from typing import Any

import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from xgboost import XGBClassifier

from customer_purchase_prediction.contract import LABEL_COLUMN
from customer_purchase_prediction.evaluation import (
    choose_candidate,
    classification_metrics,
    tune_threshold,
)
from customer_purchase_prediction.features import SessionFeatures
from customer_purchase_prediction.model import PurchaseModel, pipeline_proba
from customer_purchase_prediction.params import ModellingParams
from customer_purchase_prediction.tuning import candidate_pipeline, tune_candidate

logger = logging.getLogger(__name__)

LIBRARIES = {
    "kedro": "kedro",
    "scikit-learn": "sklearn",
    "xgboost": "xgboost",
    "pandas": "pandas",
    "numpy": "numpy",
}


def split_sessions(
    sessions: pd.DataFrame, params: ModellingParams
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Stratified train/validation/test split with the configured fractions."""
    split = params.split
    rest, test = train_test_split(
        sessions,
        test_size=split.test,
        stratify=sessions[LABEL_COLUMN],
        random_state=split.seed,
    )
    train, validation = train_test_split(
        rest,
        test_size=split.validation / (split.train + split.validation),
        stratify=rest[LABEL_COLUMN],
        random_state=split.seed,
    )
    logger.info(
        "Split: %d train, %d validation, %d test",
        len(train),
        len(validation),
        len(test),
    )
    return train, validation, test


def tune_candidates(
    train_sessions: pd.DataFrame,
    feature_transformer: SessionFeatures,
    params: ModellingParams,
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Search and cross-validate every enabled candidate.

    Returns:
        Per candidate its chosen hyperparameters and CV metrics; the CV table
        (mean and standard deviation of each metric); and every search trial.
    """
    results = [
        tune_candidate(name, train_sessions, feature_transformer, params)
        for name in params.enabled_candidates()
    ]
    cv_table = pd.DataFrame(
        [
            {"candidate": r.name, "metric": metric, **values}
            for r in results
            for metric, values in r.cv_metrics.items()
        ]
    )
    trials = pd.concat([r.trials for r in results], ignore_index=True)
    return {r.name: r.summary() for r in results}, cv_table, trials


def fit_candidates(
    train_sessions: pd.DataFrame,
    feature_transformer: SessionFeatures,
    candidate_tuning: dict[str, Any],
    params: ModellingParams,
) -> dict[str, Pipeline]:
    """Refit each candidate's chosen configuration on the whole training part."""
    y = train_sessions[LABEL_COLUMN].to_numpy()
    matrix = feature_transformer.transform(train_sessions)
    fitted = {}
    for name, tuning in candidate_tuning.items():
        pipeline = candidate_pipeline(
            name, tuning["params"], feature_transformer, params, float(y.mean())
        )
        pipeline.named_steps["model"].fit(matrix, y)
        fitted[name] = pipeline
    return fitted


def select_model(
    candidate_models: dict[str, Pipeline],
    validation_sessions: pd.DataFrame,
    candidate_tuning: dict[str, Any],
    params: ModellingParams,
) -> dict[str, Any]:
    """Tune each threshold on validation; select by the CV selection metric.

    Selection uses the cross-validated metrics (more rows than the validation
    part, so less noise), with ``evaluation.choose_candidate``'s rule.
    """
    y = validation_sessions[LABEL_COLUMN].to_numpy()
    thresholds, validation = {}, {}
    for name, pipeline in candidate_models.items():
        proba = pipeline_proba(pipeline, validation_sessions)
        thresholds[name], _ = tune_threshold(
            y, proba, params.selection_metric, params.threshold
        )
        validation[name] = classification_metrics(y, proba, thresholds[name])
    cv = {name: candidate_tuning[name]["cv"] for name in candidate_models}
    selected, contenders = choose_candidate(
        cv,
        params.selection_metric,
        params.cv_folds,
        within_standard_error=params.tie_break_within_standard_error,
    )
    scores = {name: cv[name][params.selection_metric]["mean"] for name in cv}
    logger.info(
        "Selected %s by CV %s %s (contenders %s)",
        selected,
        params.selection_metric,
        scores,
        contenders,
    )
    return {
        "selected_model": selected,
        "selection_metric": params.selection_metric,
        "selection_scores": scores,
        "contenders": contenders,
        "thresholds": thresholds,
        "validation": validation,
    }


def evaluate_on_test(
    candidate_models: dict[str, Pipeline],
    test_sessions: pd.DataFrame,
    model_selection: dict[str, Any],
) -> dict[str, dict[str, float]]:
    """Score every candidate once on the test part, at its own threshold."""
    y = test_sessions[LABEL_COLUMN].to_numpy()
    return {
        name: classification_metrics(
            y,
            pipeline_proba(pipeline, test_sessions),
            model_selection["thresholds"][name],
        )
        for name, pipeline in candidate_models.items()
    }


def package_model(
    candidate_models: dict[str, Pipeline],
    model_selection: dict[str, Any],
    candidate_tuning: dict[str, Any],
    test_metrics: dict[str, dict[str, float]],
    train_sessions: pd.DataFrame,
    params: ModellingParams,
) -> PurchaseModel:
    """The deliverable: the selected pipeline with threshold and metadata."""
    name = model_selection["selected_model"]
    pipeline = candidate_models[name]
    metadata = {
        "model_name": name,
        "estimator": type(pipeline.named_steps["model"]).__name__,
        "hyperparameters": candidate_tuning[name]["params"],
        "trees": fitted_trees(pipeline.named_steps["model"]),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training_rows": len(train_sessions),
        "training_positive_rate": float(train_sessions[LABEL_COLUMN].mean()),
        "data_fingerprint": fingerprint(train_sessions),
        "selection_metric": model_selection["selection_metric"],
        "selection_scores": model_selection["selection_scores"],
        "contenders": model_selection["contenders"],
        "threshold": model_selection["thresholds"][name],
        "cv": candidate_tuning[name]["cv"],
        "validation": model_selection["validation"][name],
        "test": test_metrics[name],
        "features": pipeline.named_steps["features"].get_feature_names_out().tolist(),
        "library_versions": {
            name: import_module(module).__version__
            for name, module in LIBRARIES.items()
        },
    }
    return PurchaseModel(
        pipeline,
        threshold=model_selection["thresholds"][name],
        confidence_margins=(params.confidence.high, params.confidence.medium),
        metadata=metadata,
    )


def fitted_trees(estimator: Any) -> int | None:
    """Trees in a fitted tree model (XGBoost's after early stopping); else None."""
    if isinstance(estimator, XGBClassifier):  # binary: a tree per round
        rounds = estimator.get_booster().num_boosted_rounds()
        return int(rounds * (estimator.num_parallel_tree or 1))
    trees = getattr(estimator, "estimators_", None)
    return None if trees is None else len(trees)


def fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's values, index and column names."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).to_numpy())
    digest.update("|".join(map(str, frame.columns)).encode())
    return digest.hexdigest()
