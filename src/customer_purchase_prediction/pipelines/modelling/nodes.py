"""Nodes of the modelling pipeline: tune, fit, select, test once, package."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from importlib import import_module
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.calibration import (
    ProbabilityCalibrator,
    fit_calibrator,
)
from customer_purchase_prediction.candidates import get_candidate, registry
from customer_purchase_prediction.columns import (
    FEATURE_COLUMNS,
    ID_COLUMN,
    LABEL_COLUMN,
)
from customer_purchase_prediction.distributed_fits import fitted_rows
from customer_purchase_prediction.evaluation import (
    choose_candidate,
    classification_metrics,
    tune_threshold,
)
from customer_purchase_prediction.features import SessionFeatures
from customer_purchase_prediction.model import PurchaseModel, pipeline_proba
from customer_purchase_prediction.params import ModellingParams
from customer_purchase_prediction.results import (
    CandidateTestMetrics,
    CandidateTuning,
    Selection,
)
from customer_purchase_prediction.scale_out import on_partitions
from customer_purchase_prediction.tuning import (
    candidate_pipeline,
    cv_sample,
    tune_blend,
    tune_candidate,
)

logger = logging.getLogger(__name__)

# Libraries whose versions the artifact records, besides each candidate's own.
LIBRARIES = {
    "kedro": "kedro",
    "scikit-learn": "sklearn",
    "pandas": "pandas",
    "numpy": "numpy",
}


def tune_candidates(
    train_sessions: pd.DataFrame,
    feature_transformer: SessionFeatures,
    params: ModellingParams,
    business: BusinessParams,
) -> tuple[CandidateTuning, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Search and cross-validate every enabled candidate, then blend them.

    Returns:
        Per candidate its chosen hyperparameters (a blend: its weights) and CV
        metrics; the CV table (mean and standard deviation of each metric);
        every search trial; and the raw out-of-fold probabilities of each
        candidate on the cross-validation sample (with its label).
    """
    results = [
        tune_candidate(name, train_sessions, feature_transformer, params, business)
        for name in params.searched_candidates()
    ]
    results += [
        tune_blend(name, results, train_sessions, params, business)
        for name in params.blended_candidates()
    ]
    cv_table = pd.DataFrame(
        [
            {"candidate": r.name, "metric": metric, **values}
            for r in results
            for metric, values in r.cv_metrics.items()
        ]
    )
    trials = pd.concat([r.trials for r in results], ignore_index=True)
    tuning = CandidateTuning({r.name: r.summary() for r in results})
    sample = cv_sample(train_sessions, params)
    out_of_fold = pd.DataFrame(
        {
            ID_COLUMN: sample[ID_COLUMN].to_numpy(),
            LABEL_COLUMN: sample[LABEL_COLUMN].to_numpy(),
            **{r.name: r.out_of_fold for r in results},
        }
    )
    return tuning, cv_table, trials, out_of_fold


@on_partitions  # a Dask frame: partitioned.fit_candidates (--env=dask)
def fit_candidates(
    train_sessions: pd.DataFrame,
    feature_transformer: SessionFeatures,
    candidate_tuning: CandidateTuning,
    params: ModellingParams,
    training_rows: Any = None,
) -> dict[str, Pipeline]:
    """Refit each candidate's chosen configuration on the whole training part.

    A blend is built from its members' refitted estimators, with its weights.
    ``training_rows`` is ``None`` but in the ``dask`` environment (every
    training row of the partitions: the selected candidate refitted on them).
    """
    y = train_sessions[LABEL_COLUMN].to_numpy()
    matrix = feature_transformer.transform(train_sessions)
    fitted: dict[str, Pipeline] = {}
    for name, tuning in candidate_tuning.items():
        candidate = get_candidate(name)
        if candidate.blends:
            weights = tuning.params["weights"]
            members = [(m, fitted[m].named_steps["model"]) for m in weights]
            blend = candidate.estimator.from_fitted(members, list(weights.values()))
            fitted[name] = Pipeline(
                [("features", feature_transformer), ("model", blend)]
            )
            continue
        pipeline = candidate_pipeline(
            name, tuning.params, feature_transformer, params, float(y.mean())
        )
        pipeline.named_steps["model"].fit(matrix, y)
        fitted[name] = pipeline
    return fitted


def calibrate_candidates(
    candidate_models: dict[str, Pipeline],
    out_of_fold: pd.DataFrame,
    validation_sessions: pd.DataFrame,
    params: ModellingParams,
) -> dict[str, ProbabilityCalibrator]:
    """Fit each candidate's calibrator on rows no model saw: the training part's
    out-of-fold probabilities and the refitted model's on the validation part."""
    y = np.concatenate(
        [out_of_fold[LABEL_COLUMN].to_numpy(), validation_sessions[LABEL_COLUMN]]
    )
    return {
        name: fit_calibrator(
            params.calibration.method,
            np.concatenate(
                [
                    out_of_fold[name].to_numpy(),
                    pipeline_proba(name, pipeline, validation_sessions),
                ]
            ),
            y,
        )
        for name, pipeline in candidate_models.items()
    }


def select_model(
    candidate_models: dict[str, Pipeline],
    candidate_calibrators: dict[str, ProbabilityCalibrator],
    out_of_fold: pd.DataFrame,
    validation_sessions: pd.DataFrame,
    candidate_tuning: CandidateTuning,
    params: ModellingParams,
    business: BusinessParams,
) -> Selection:
    """Tune each threshold; select by the CV selection metric.

    Thresholds are tuned on calibrated probabilities of the rows
    ``modelling.threshold.tune_on`` names. Selection uses the cross-validated
    metrics (more rows than the validation part, so less noise), with
    ``evaluation.choose_candidate``'s rule.
    """
    y = validation_sessions[LABEL_COLUMN].to_numpy()
    thresholds, validation = {}, {}
    for name, pipeline in candidate_models.items():
        calibrator = candidate_calibrators[name]
        proba = pipeline_proba(name, pipeline, validation_sessions, calibrator)
        rows_y, rows_proba = y, proba
        if params.threshold.tune_on == "out_of_fold_and_validation":
            oof = calibrator.transform(out_of_fold[name].to_numpy())
            rows_y = np.concatenate([out_of_fold[LABEL_COLUMN].to_numpy(), y])
            rows_proba = np.concatenate([oof, proba])
        thresholds[name], _ = tune_threshold(
            rows_y, rows_proba, params.selection_metric, params.threshold, business
        )
        validation[name] = classification_metrics(y, proba, thresholds[name], business)
    cv = {name: candidate_tuning[name].cv_dict() for name in candidate_models}
    selected, contenders = choose_candidate(
        cv,
        params.selection_metric,
        params.cv_folds,
        within_standard_error=params.tie_break_within_standard_error,
        tie_break=params.tie_break,
    )
    scores = {name: cv[name][params.selection_metric]["mean"] for name in cv}
    logger.info(
        "Selected %s by CV %s %s (contenders %s, tie-break CV %s)",
        selected,
        params.selection_metric,
        scores,
        contenders,
        params.tie_break,
    )
    return Selection(
        selected_model=selected,
        selection_metric=params.selection_metric,
        selection_scores=scores,
        contenders=contenders,
        thresholds=thresholds,
        validation=validation,
        tie_break=params.tie_break,
    )


def evaluate_on_test(
    candidate_models: dict[str, Pipeline],
    candidate_calibrators: dict[str, ProbabilityCalibrator],
    test_sessions: pd.DataFrame,
    model_selection: Selection,
    business: BusinessParams,
) -> tuple[pd.DataFrame, CandidateTestMetrics]:
    """Score every candidate once on the test part, at its own threshold.

    The one place the test part is scored: the reports read these predictions
    (with each row's session columns, for permutation importance) and metrics.
    Probabilities come from the functions the artifact scores with, so the
    selected model's are the deployed model's, to the last bit; the raw
    (uncalibrated) ones are kept beside them.

    Returns:
        The test predictions, a row per candidate and customer, and each
        candidate's test metrics.
    """
    y = test_sessions[LABEL_COLUMN].to_numpy().astype("int64")
    frames, metrics = [], {}
    for name, pipeline in candidate_models.items():
        raw = pipeline_proba(name, pipeline, test_sessions)
        proba = candidate_calibrators[name].transform(raw)
        threshold = model_selection.thresholds[name]
        metrics[name] = classification_metrics(y, proba, threshold, business)
        frames.append(
            pd.DataFrame(
                {
                    "model": name,
                    "selected": name == model_selection.selected_model,
                    ID_COLUMN: test_sessions[ID_COLUMN].to_numpy(),
                    **{c: test_sessions[c].to_numpy() for c in FEATURE_COLUMNS},
                    LABEL_COLUMN: y,
                    "probability": np.asarray(proba, dtype=np.float64),
                    "raw_probability": np.asarray(raw, dtype=np.float64),
                    "threshold": float(threshold),
                    "prediction": (proba >= threshold).astype("int64"),
                }
            )
        )
    predictions = pd.concat(frames, ignore_index=True)
    return predictions, CandidateTestMetrics(metrics)


def package_model(  # noqa: PLR0913, PLR0917 - a node takes its catalog inputs
    candidate_models: dict[str, Pipeline],
    candidate_calibrators: dict[str, ProbabilityCalibrator],
    model_selection: Selection,
    candidate_tuning: CandidateTuning,
    test_metrics: CandidateTestMetrics,
    train_sessions: pd.DataFrame,
    data_quality_report: dict[str, Any],
    params: ModellingParams,
    reference_profile: dict[str, Any] | None = None,
) -> PurchaseModel:
    """The deliverable: the selected pipeline with threshold and metadata.

    The metadata carries what the reports need of the training data (the
    data-quality report), so an artifact's reports can be recreated later.
    """
    name = model_selection.selected_model
    pipeline = candidate_models[name]
    estimator = pipeline.named_steps["model"]
    threshold = model_selection.thresholds[name]
    calibrator = candidate_calibrators[name]
    weighting = ensemble_weighting(candidate_tuning, params)
    metadata = {
        "model_name": name,
        "estimator": type(estimator).__name__,
        "hyperparameters": {
            k: v for k, v in candidate_tuning[name].params.items() if k != "weighting"
        },
        "trees": get_candidate(name).tree_count(estimator),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training_rows": len(train_sessions),
        "training_positive_rate": float(train_sessions[LABEL_COLUMN].mean()),
        "data_fingerprint": fingerprint(train_sessions),
        "data_quality": data_quality_report,
        "selection_metric": model_selection.selection_metric,
        "selection_scores": model_selection.selection_scores,
        "contenders": model_selection.contenders,
        "tie_break": model_selection.tie_break,
        "ensemble_weights": weighting["chosen"],
        "ensemble_weights_setting": weighting["setting"],
        "ensemble_weights_cv": (
            {"metric": weighting["metric"], **weighting["honest_cv"]}
            if "honest_cv" in weighting
            else None
        ),
        "threshold": threshold,
        "threshold_tuned_on": params.threshold.tune_on,
        "calibration": calibrator.describe(),
        "cv": candidate_tuning[name].cv_dict(),
        "validation": model_selection.validation[name],
        "test": test_metrics[name],
        "features": pipeline.named_steps["features"].get_feature_names_out().tolist(),
        "library_versions": library_versions(),
        **fitted_on(pipeline, len(train_sessions)),
    }
    return PurchaseModel(
        pipeline,
        threshold=threshold,
        confidence_margins=(params.confidence.high, params.confidence.medium),
        metadata=metadata,
        calibrator=calibrator,
        reference_profile=reference_profile,
    )


def ensemble_weighting(
    candidate_tuning: CandidateTuning, params: ModellingParams
) -> dict[str, Any]:
    """Which weights the ensemble uses (``chosen``: equal or greedy) under which
    ``modelling.ensemble.weights`` (``setting``) and, when auto chose, why: the
    probability metric and both weightings' honest CV values (``honest_cv``)."""
    for name, tuning in candidate_tuning.items():
        if get_candidate(name).blends and "weighting" in tuning.params:
            return dict(tuning.params["weighting"])
    setting = params.ensemble.weights
    return {"setting": setting, "chosen": setting}


def fitted_on(pipeline: Pipeline, sample_rows: int) -> dict[str, Any]:
    """Which rows the transformer and the model learned from, when the
    ``dask`` environment learned either on more than the training part
    (``features_from_statistics``, ``distributed_fits``); nothing otherwise."""
    statistics_rows = getattr(
        pipeline.named_steps["features"], "statistics_rows_", None
    )
    if statistics_rows is None:
        return {}
    return {
        "fitted_on": {
            "statistics_rows": int(statistics_rows),
            "model_rows": fitted_rows(pipeline.named_steps["model"]) or sample_rows,
            "model_refit": fitted_rows(pipeline.named_steps["model"]) is not None,
            "sample_rows": sample_rows,
        }
    }


def library_versions() -> dict[str, str]:
    """Versions of the libraries training used, each candidate's included."""
    modules = dict(LIBRARIES)
    for candidate in registry().values():
        if candidate.library not in modules.values():
            modules[candidate.library] = candidate.library
    return {label: import_module(m).__version__ for label, m in modules.items()}


def fingerprint(frame: pd.DataFrame) -> str:
    """SHA-256 of a frame's values, index and column names."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).to_numpy())
    digest.update("|".join(map(str, frame.columns)).encode())
    return digest.hexdigest()
