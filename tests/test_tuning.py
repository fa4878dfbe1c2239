"""Cross-validation of a candidate: single and repeated, and what it costs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import (
    RepeatedStratifiedKFold,
    StratifiedKFold,
    cross_val_predict,
)

from customer_purchase_prediction.contract import LABEL_COLUMN
from customer_purchase_prediction.evaluation import classification_metrics
from customer_purchase_prediction.features import SessionFeatures
from customer_purchase_prediction.tuning import (
    candidate_pipeline,
    cv_repeats,
    tune_candidate,
)
from tests.conftest import modelling_params

FIXED = {"value": 0.5}  # a fixed threshold: fold metrics do not depend on pooling


@pytest.mark.parametrize(
    ("rows", "expected"),
    [(687, 5), (6_870, 4), (15_000, 2), (30_000, 1), (300_000, 1), (0, 5)],
)
def test_repeats_stay_within_the_search_row_budget(rows: int, expected: int) -> None:
    assert cv_repeats(rows, 5, 30_000) == expected


def by_hand(sessions: pd.DataFrame, params, folds_of_repeats) -> list[dict]:
    """Fold metrics of logistic regression's defaults, one CV per partition."""
    y = sessions[LABEL_COLUMN].to_numpy()
    pipeline = candidate_pipeline(
        "logistic_regression",
        dict(params.candidates["logistic_regression"].defaults),
        SessionFeatures(),
        params,
        float(y.mean()),
        n_jobs=1,
    )
    metrics = []
    for partition in folds_of_repeats:
        proba = cross_val_predict(
            pipeline, sessions, y, cv=partition, method="predict_proba"
        )[:, 1]
        metrics += [
            classification_metrics(y[test], proba[test], 0.5) for _, test in partition
        ]
    return metrics


def tuned(sessions: pd.DataFrame, repeats: int):
    params = modelling_params(
        cv_repeats=repeats, threshold=FIXED, search={"n_candidates": 1}
    )
    result = tune_candidate("logistic_regression", sessions, SessionFeatures(), params)
    return params, result


def test_one_repeat_is_the_plain_stratified_cv(small_sessions: pd.DataFrame) -> None:
    params, result = tuned(small_sessions, 1)
    folds = StratifiedKFold(params.cv_folds, shuffle=True, random_state=params.seed)
    y = small_sessions[LABEL_COLUMN].to_numpy()
    expected = by_hand(small_sessions, params, [list(folds.split(small_sessions, y))])
    f1 = [fold["f1"] for fold in expected]
    assert result.cv_metrics["f1"]["mean"] == pytest.approx(np.mean(f1), abs=1e-12)
    assert result.cv_metrics["f1"]["std"] == pytest.approx(
        np.std(f1, ddof=1), abs=1e-12
    )


def test_repeats_average_every_fold_of_every_repeat(
    small_sessions: pd.DataFrame,
) -> None:
    params, result = tuned(small_sessions, 3)
    y = small_sessions[LABEL_COLUMN].to_numpy()
    splits = list(
        RepeatedStratifiedKFold(
            n_splits=params.cv_folds, n_repeats=3, random_state=params.seed
        ).split(small_sessions, y)
    )
    k = params.cv_folds
    partitions = [splits[r * k : (r + 1) * k] for r in range(3)]
    expected = by_hand(small_sessions, params, partitions)
    assert len(expected) == 3 * k
    for metric in ("f1", "roc_auc", "precision"):
        values = [fold[metric] for fold in expected]
        assert result.cv_metrics[metric]["mean"] == pytest.approx(
            np.mean(values), abs=1e-12
        )
        assert result.cv_metrics[metric]["std"] == pytest.approx(
            np.std(values, ddof=1), abs=1e-12
        )
    single = tuned(small_sessions, 1)[1]
    assert result.cv_metrics["f1"]["mean"] != single.cv_metrics["f1"]["mean"]
