"""The artifact's probabilities: the same bits for a row alone or in any batch."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from xgboost import XGBClassifier

from customer_purchase_prediction.calibration import ProbabilityCalibrator
from customer_purchase_prediction.candidates import get_candidate
from customer_purchase_prediction.estimators import WeightedEnsemble
from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.scoring import _FOREST_CHUNK, compiled_proba

N_FEATURES = 6


def _training_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.random((400, N_FEATURES))
    X[:, 3] = rng.integers(0, 2, 400)  # a one-hot like column
    y = (X[:, 0] + 0.5 * X[:, 1] * X[:, 3] + rng.normal(0, 0.3, 400) > 0.8).astype(int)
    return X, y


def _fit_tree_models() -> dict[str, object]:
    X, y = _training_data()
    return {
        "xgboost": XGBClassifier(
            n_estimators=60, max_depth=4, learning_rate=0.1, random_state=0
        ).fit(X, y),
        "random_forest": RandomForestClassifier(
            n_estimators=40, min_samples_leaf=3, random_state=0
        ).fit(X, y),
    }


TREE_MODELS = _fit_tree_models()


def _split_points() -> list[float]:
    """The models' split thresholds, their float32 roundings and neighbours."""
    forest = TREE_MODELS["random_forest"]
    thresholds = np.concatenate([t.tree_.threshold for t in forest.estimators_])
    booster = TREE_MODELS["xgboost"].get_booster()
    splits = booster.trees_to_dataframe()["Split"].dropna().to_numpy(dtype=float)
    points = np.unique(np.concatenate([thresholds[thresholds != -2.0], splits]))
    rounded = points.astype(np.float32)
    near = [
        rounded,
        np.nextafter(rounded, np.float32(np.inf)),
        np.nextafter(rounded, np.float32(-np.inf)),
    ]
    return sorted({float(v) for v in np.concatenate([points, *near])})


@pytest.fixture(scope="module")
def tree_models() -> dict[str, object]:
    return TREE_MODELS


# Rows on, next to, between and beyond the split points, and missing values.
rows = arrays(
    np.float64,
    st.tuples(st.integers(1, 80), st.just(N_FEATURES)),
    elements=st.one_of(
        st.floats(-0.5, 1.5, allow_nan=False),
        st.sampled_from([0.0, 1.0, np.nan]),
        st.sampled_from(_split_points()),
    ),
)


@settings(max_examples=60, deadline=None)
@given(matrix=rows)
def test_compiled_trees_give_the_estimators_bits(
    tree_models: dict[str, object], matrix: np.ndarray
) -> None:
    for name, estimator in tree_models.items():
        scorer = get_candidate(name).scorer
        compiled = scorer.compile(estimator)
        assert compiled is not None, name
        expected = scorer.batch(estimator, matrix)
        np.testing.assert_array_equal(compiled_proba(compiled, matrix), expected)


@pytest.mark.parametrize("name", ["xgboost", "random_forest"])
def test_a_row_gets_the_same_bits_alone_and_in_a_large_batch(
    tree_models: dict[str, object], name: str
) -> None:
    model = _model(name, tree_models[name])
    batch = np.random.default_rng(1).random((500, N_FEATURES))  # > the small batch
    whole = model.predict_proba_matrix(batch)
    alone = np.concatenate([model.predict_proba_matrix(row[None]) for row in batch])
    np.testing.assert_array_equal(alone, whole)
    assert model.compiled_trees is not None


def test_xgboost_probabilities_are_xgboosts_own_up_to_rounding(
    tree_models: dict[str, object],
) -> None:
    # The base margin is added in float64 after the trees' float32 sum, so the
    # bits differ from XGBoost's float32 logistic, but never by more than that.
    xgb = tree_models["xgboost"]
    X = np.random.default_rng(2).random((2_000, N_FEATURES))
    np.testing.assert_allclose(
        get_candidate("xgboost").scorer.batch(xgb, X),
        xgb.predict_proba(X)[:, 1],
        rtol=0,
        atol=1e-6,
    )


@pytest.mark.parametrize("class_weight", [None, "balanced"])
def test_forest_batches_are_scikit_learns_one_core_bits(class_weight) -> None:
    X, y = _training_data()
    forest = RandomForestClassifier(
        n_estimators=30, min_samples_leaf=2, class_weight=class_weight, random_state=1
    ).fit(X, y)
    rows = np.random.default_rng(3).random((_FOREST_CHUNK + 1_000, N_FEATURES))
    rows[::7, 2] = np.nan  # missing values take the trees' learned side
    np.testing.assert_array_equal(
        get_candidate("random_forest").scorer.batch(forest, rows),
        forest.predict_proba(rows)[:, 1],
    )


@pytest.mark.parametrize("name", ["xgboost", "random_forest"])
def test_no_rows_give_no_probabilities(
    tree_models: dict[str, object], name: str
) -> None:
    empty = np.empty((0, N_FEATURES))
    assert _model(name, tree_models[name]).predict_proba_matrix(empty).shape == (0,)


@pytest.mark.parametrize("name", ["xgboost", "random_forest"])
def test_a_matrix_of_the_wrong_width_is_refused(
    tree_models: dict[str, object], name: str
) -> None:
    model = _model(name, tree_models[name])
    for rows in (1, 100):  # the compiled trees and the batch path
        with pytest.raises(ValueError, match=r"columns|shape mismatch"):
            model.predict_proba_matrix(np.zeros((rows, N_FEATURES + 1)))


def test_a_model_pickles_after_its_compiled_trees_were_used(
    tree_models: dict[str, object],
) -> None:
    model = _model("xgboost", tree_models["xgboost"])
    row = np.full((1, N_FEATURES), 0.5)
    before = model.predict_proba_matrix(row)
    restored = pickle.loads(pickle.dumps(model))  # noqa: S301 - our own bytes
    assert "compiled_trees" not in restored.__dict__, "a cache, not part of the file"
    np.testing.assert_array_equal(restored.predict_proba_matrix(row), before)


def test_other_estimators_have_no_compiled_trees() -> None:
    X, y = _training_data()
    model = _model("logistic_regression", LogisticRegression().fit(X, y))
    assert model.compiled_trees is None
    np.testing.assert_array_equal(
        model.predict_proba_matrix(X[:3]), model.predict_proba_matrix(X)[:3]
    )


def _ensemble() -> WeightedEnsemble:
    X, y = _training_data()
    members = [
        ("logistic_regression", LogisticRegression().fit(X, y)),
        *TREE_MODELS.items(),
    ]
    return WeightedEnsemble.from_fitted(members, [0.5, 0.3, 0.2])


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
@pytest.mark.parametrize("name", ["xgboost", "random_forest", "ensemble"])
def test_calibrated_rows_get_the_same_bits_alone_and_in_a_large_batch(
    tree_models: dict[str, object], name: str, method: str
) -> None:
    X, y = _training_data()
    estimator = _ensemble() if name == "ensemble" else tree_models[name]
    raw_model = _model(name, estimator)
    calibrator = ProbabilityCalibrator(method).fit(raw_model.predict_proba_matrix(X), y)
    model = _model(name, estimator, calibrator)
    batch = np.random.default_rng(2).random((300, N_FEATURES))
    whole = model.predict_proba_matrix(batch)
    alone = np.concatenate([model.predict_proba_matrix(row[None]) for row in batch])
    np.testing.assert_array_equal(alone, whole)
    np.testing.assert_array_equal(
        model.raw_proba_matrix(batch), raw_model.predict_proba_matrix(batch)
    )
    np.testing.assert_array_equal(
        whole, calibrator.transform(model.raw_proba_matrix(batch))
    )
    assert not np.array_equal(whole, model.raw_proba_matrix(batch))
    assert model.compiled_trees is not None  # single rows took the compiled path


def test_the_ensembles_probability_is_its_weighted_members_raw_probabilities() -> None:
    ensemble = _ensemble()
    X = np.random.default_rng(3).random((50, N_FEATURES))
    expected = sum(
        weight * get_candidate(name).scorer.batch(member, X)
        for (name, member), weight in zip(
            ensemble.estimators_, ensemble.weights_, strict=True
        )
    )
    got = _model("ensemble", ensemble).predict_proba_matrix(X)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-15)
    # Each member's own predict_proba, up to the rounding of sums in another order.
    np.testing.assert_allclose(got, ensemble.predict_proba(X)[:, 1], atol=1e-6)
    assert ensemble.weights_.sum() == pytest.approx(1.0)


def test_an_artifact_saved_before_calibration_loads_uncalibrated(
    tree_models: dict[str, object],
) -> None:
    model = _model("xgboost", tree_models["xgboost"])
    del model.__dict__["calibrator"]  # as an older artifact's state holds it
    row = np.full((1, N_FEATURES), 0.5)
    np.testing.assert_array_equal(
        model.predict_proba_matrix(row), model.raw_proba_matrix(row)
    )


def _model(
    name: str, estimator: object, calibrator: ProbabilityCalibrator | None = None
) -> PurchaseModel:
    return PurchaseModel(
        Pipeline([("model", estimator)]),
        threshold=0.5,
        confidence_margins=(0.25, 0.1),
        metadata={"model_name": name},
        calibrator=calibrator,
    )
