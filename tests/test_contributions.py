"""Exact contributions: a batch explained by path signature keeps every bit."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost

from customer_purchase_prediction import contributions
from customer_purchase_prediction.features import SessionFeatures
from tests.conftest import validated_sessions


@pytest.fixture(scope="module")
def booster_and_matrix() -> tuple[xgboost.XGBClassifier, np.ndarray]:
    """A deeper booster than the default (depth 6, 80 trees) and 400 new rows."""
    training = validated_sessions(500, seed=21)
    features = SessionFeatures().fit(training)
    model = xgboost.XGBClassifier(
        n_estimators=80, max_depth=6, learning_rate=0.1, n_jobs=1, random_state=0
    ).fit(features.transform(training), training["purchase"])
    return model, features.transform(validated_sessions(400, seed=22))


def _every_row(model: xgboost.XGBClassifier, matrix: np.ndarray) -> np.ndarray:
    booster = model.get_booster()
    raw = booster.predict(
        xgboost.DMatrix(matrix), pred_contribs=True, approx_contribs=True
    )
    return np.asarray(raw, dtype=np.float64)


def _on_thresholds(model: xgboost.XGBClassifier, matrix: np.ndarray) -> np.ndarray:
    """The rows with some values moved onto a split threshold or just below it
    (float32), where a signature off by one would send a row the wrong way."""
    splits = contributions._split_thresholds(model)
    assert splits is not None
    rows = matrix.astype(np.float32).copy()
    rng = np.random.default_rng(5)
    for column, thresholds in enumerate(splits):
        if not len(thresholds):
            continue
        picked = rng.choice(thresholds, size=len(rows))
        below = np.nextafter(picked, np.float32(-np.inf))
        where = rng.random(len(rows))
        rows[:, column] = np.where(
            where < 0.3, picked, np.where(where < 0.6, below, rows[:, column])
        )
    return rows.astype(np.float64)


def test_a_batch_grouped_by_path_signature_has_every_rows_own_bits(
    booster_and_matrix: tuple[xgboost.XGBClassifier, np.ndarray],
) -> None:
    model, matrix = booster_and_matrix
    for rows in (matrix, _on_thresholds(model, matrix)):
        grouped = contributions.boosted_trees(model, rows)
        direct = _every_row(model, rows)
        assert len(rows) > contributions._SINGLE_THREAD_ROWS  # the grouped path
        assert np.array_equal(grouped.values, direct[:, :-1])
        assert np.array_equal(grouped.base, direct[:, -1])


def test_rows_on_either_side_of_a_threshold_are_in_different_groups(
    booster_and_matrix: tuple[xgboost.XGBClassifier, np.ndarray],
) -> None:
    model, matrix = booster_and_matrix
    splits = contributions._split_thresholds(model)
    assert splits is not None
    column = next(index for index, found in enumerate(splits) if len(found))
    threshold = splits[column][0]
    rows = np.repeat(matrix[:1], 3, axis=0).astype(np.float32)
    rows[:, column] = [threshold, np.nextafter(threshold, np.float32(-np.inf)), np.nan]
    group, first = contributions._path_groups(rows.astype(np.float64), splits)
    assert len(set(group.tolist())) == 3
    assert sorted(first.tolist()) == [0, 1, 2]


def test_missing_values_take_the_default_branch_as_the_booster_does(
    booster_and_matrix: tuple[xgboost.XGBClassifier, np.ndarray],
) -> None:
    model, matrix = booster_and_matrix
    rows = matrix.copy()
    rows[::3, 0] = np.nan
    rows[1::4, 2] = np.nan
    grouped = contributions.boosted_trees(model, rows)
    direct = _every_row(model, rows)
    assert np.array_equal(grouped.values, direct[:, :-1])
    assert np.array_equal(grouped.base, direct[:, -1])
