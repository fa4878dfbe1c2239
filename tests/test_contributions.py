"""Exact contributions: a batch explained by path signature, or a forest's
batch on threads, keeps every bit."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import xgboost
from scipy.special import expit
from sklearn.ensemble import RandomForestClassifier

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


@pytest.fixture(scope="module")
def forest_and_matrix() -> tuple[RandomForestClassifier, np.ndarray]:
    """A small forest (30 trees) and 400 new rows."""
    training = validated_sessions(500, seed=21)
    features = SessionFeatures().fit(training)
    forest = RandomForestClassifier(
        n_estimators=30, min_samples_leaf=3, random_state=0, n_jobs=1
    ).fit(features.transform(training), training["purchase"])
    return forest, features.transform(validated_sessions(400, seed=22))


def _tree_by_tree(forest: RandomForestClassifier, matrix: np.ndarray) -> np.ndarray:
    """The forest's path contributions of every row at once, tree after tree
    (no blocks, no threads): each row adds its trees in the forest's order."""
    paths = contributions._path_forest(forest)
    rows = np.ascontiguousarray(matrix, dtype=np.float32)
    total = np.zeros((len(rows), rows.shape[1]))
    for tree, table in zip(paths.trees, paths.tables, strict=True):
        total += table[tree.apply(rows)]
    return total / len(paths.trees)


def test_a_forest_batch_on_threads_has_the_bits_of_one_thread(
    forest_and_matrix: tuple[RandomForestClassifier, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forest, matrix = forest_and_matrix
    pools: list[int] = []

    class CountedPool(ThreadPoolExecutor):
        def __init__(self, max_workers: int) -> None:
            pools.append(max_workers)
            super().__init__(max_workers=max_workers)

    monkeypatch.setattr(contributions, "ThreadPoolExecutor", CountedPool)
    monkeypatch.setattr(contributions, "_FOREST_BLOCK_ROWS", 70)  # 6 blocks
    monkeypatch.setattr(contributions, "_batch_threads", lambda: 1)
    serial = contributions.forest(forest, matrix)
    assert pools == []
    monkeypatch.setattr(contributions, "_batch_threads", lambda: 3)
    threaded = contributions.forest(forest, matrix)
    assert pools == [3]
    direct = _tree_by_tree(forest, matrix)
    for result in (serial, threaded):
        assert np.array_equal(result.values, direct)
        assert np.array_equal(result.base, serial.base)


def test_a_few_rows_of_a_forest_stay_on_the_calling_thread(
    forest_and_matrix: tuple[RandomForestClassifier, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forest, matrix = forest_and_matrix

    def no_pool(*args: object, **kwargs: object) -> None:
        raise AssertionError("a few rows must not start a thread pool")

    monkeypatch.setattr(contributions, "ThreadPoolExecutor", no_pool)
    monkeypatch.setattr(contributions, "_batch_threads", lambda: 2)
    few = matrix[: contributions._SINGLE_THREAD_ROWS]
    assert np.array_equal(
        contributions.forest(forest, few).values, _tree_by_tree(forest, few)
    )


def test_to_probability_has_the_bits_of_rescaling_the_logistic_total() -> None:
    rng = np.random.default_rng(3)
    raw = rng.normal(size=(300, 9))
    raw[:5, :8] = 0.0  # rows whose contributions add up to nothing
    # As XGBoost's contributions come: a view without the last (base) column.
    log_odds = contributions.Contributions(raw[:, :-1], raw[:, -1], "log-odds")
    fast = log_odds.to_probability()
    plain = log_odds.rescaled(expit(log_odds.total()), expit(log_odds.base))
    assert np.array_equal(fast.values, plain.values)
    assert np.array_equal(fast.base, plain.base)
