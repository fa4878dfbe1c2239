"""The project's estimators: the early-stopped XGBoost candidate (how many trees it
grows and on which rows) and the weighted ensemble with its greedy selection."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from xgboost import XGBClassifier

from customer_purchase_prediction.candidates import get_candidate
from customer_purchase_prediction.estimators import (
    EarlyStoppedXGBClassifier,
    WeightedEnsemble,
    greedy_weights,
)

SETTINGS = {
    "n_estimators": 400,
    "max_depth": 4,
    "learning_rate": 0.1,
    "random_state": 7,
    "scale_pos_weight": 2.5,
    "tree_method": "hist",
    "n_jobs": 1,
}


@pytest.fixture(scope="module")
def noisy() -> tuple[np.ndarray, np.ndarray]:
    """Few rows, weak signal: a fixed 400 trees would overfit them."""
    rng = np.random.default_rng(3)
    features = rng.random((600, 4))
    labels = (features[:, 0] + rng.normal(0, 0.4, 600) > 0.9).astype(int)
    return features, labels


def test_stops_where_the_held_out_weighted_loss_is_best(noisy) -> None:
    features, labels = noisy
    model = EarlyStoppedXGBClassifier(
        **SETTINGS, validation_fraction=0.25, n_iter_no_change=20
    ).fit(features, labels)

    grow, hold = train_test_split(
        np.arange(len(labels)), test_size=0.25, stratify=labels, random_state=7
    )
    probe = XGBClassifier(**SETTINGS, early_stopping_rounds=20).fit(
        features[grow],
        labels[grow],
        eval_set=[(features[hold], labels[hold])],
        sample_weight_eval_set=[np.where(labels[hold] == 1, 2.5, 1.0)],
        verbose=False,
    )
    assert model.best_n_estimators_ == probe.best_iteration + 1
    assert model.best_n_estimators_ < SETTINGS["n_estimators"]
    assert model.get_booster().num_boosted_rounds() == model.best_n_estimators_


def test_refits_on_every_row_with_the_stopping_count(noisy) -> None:
    features, labels = noisy
    model = EarlyStoppedXGBClassifier(**SETTINGS).fit(features, labels)
    plain = XGBClassifier(**{**SETTINGS, "n_estimators": model.best_n_estimators_}).fit(
        features, labels
    )
    np.testing.assert_array_equal(
        model.predict_proba(features), plain.predict_proba(features)
    )


def test_without_a_validation_fraction_it_is_plain_xgboost(noisy) -> None:
    features, labels = noisy
    settings = {**SETTINGS, "n_estimators": 30}
    model = EarlyStoppedXGBClassifier(**settings, validation_fraction=None)
    model.fit(features, labels)
    plain = XGBClassifier(**settings).fit(features, labels)
    assert model.get_booster().num_boosted_rounds() == 30
    np.testing.assert_array_equal(
        model.predict_proba(features), plain.predict_proba(features)
    )


def test_clones_refits_identically_and_keeps_its_keys_from_the_booster(
    noisy,
) -> None:
    features, labels = noisy
    model = EarlyStoppedXGBClassifier(**SETTINGS, n_iter_no_change=15)
    twin = clone(model)
    assert twin.get_params()["n_iter_no_change"] == 15
    assert twin.get_params()["validation_fraction"] == 0.2
    model.fit(features, labels)
    twin.fit(features, labels)
    np.testing.assert_array_equal(
        model.predict_proba(features), twin.predict_proba(features)
    )
    assert model.get_params()["n_estimators"] == SETTINGS["n_estimators"]
    # XGBoost only logs parameters it does not know; none may reach the booster.
    assert not {"validation_fraction", "n_iter_no_change"} & set(model.get_xgb_params())
    config = model.get_booster().save_config()
    assert "validation_fraction" not in config
    assert "n_iter_no_change" not in config


def test_too_few_rows_of_a_class_to_hold_out_grows_the_fixed_count() -> None:
    rng = np.random.default_rng(0)
    features = rng.random((40, 3))
    labels = np.zeros(40, dtype=int)
    labels[:1] = 1  # one purchaser: a stratified hold-out is impossible
    model = EarlyStoppedXGBClassifier(**{**SETTINGS, "n_estimators": 12})
    model.fit(features, labels)
    assert model.best_n_estimators_ == 12
    assert model.get_booster().num_boosted_rounds() == 12


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"validation_fraction": 0.0}, "validation_fraction must be between 0 and 1"),
        ({"validation_fraction": 1.0}, "validation_fraction must be between 0 and 1"),
        ({"n_iter_no_change": 0}, "n_iter_no_change must be a whole number >= 1"),
        ({"n_iter_no_change": None}, "n_iter_no_change must be a whole number >= 1"),
        ({"early_stopping_rounds": 10}, "early_stopping_rounds: set n_iter_no_change"),
    ],
)
def test_bad_early_stopping_settings_are_named(noisy, settings, message) -> None:
    features, labels = noisy
    with pytest.raises(ValueError, match=message):
        EarlyStoppedXGBClassifier(**SETTINGS, **settings).fit(features, labels)


def test_the_xgboost_candidate_is_early_stopped() -> None:
    estimator = get_candidate("xgboost").build(
        {"validation_fraction": 0.1}, seed=1, n_jobs=1, positive_share=0.2
    )
    assert isinstance(estimator, EarlyStoppedXGBClassifier)
    assert estimator.validation_fraction == 0.1
    assert estimator.scale_pos_weight == pytest.approx(4.0)


def test_greedy_selection_picks_the_better_member_more_often() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random(2000)
    y = (rng.random(2000) < truth).astype(int)
    good = np.clip(truth + rng.normal(0, 0.05, 2000), 0.01, 0.99)
    poor = np.clip(truth + rng.normal(0, 0.3, 2000), 0.01, 0.99)
    weights = greedy_weights({"good": good, "poor": poor}, y, rounds=20)
    assert sum(weights.values()) == pytest.approx(1.0)
    assert weights["good"] > weights["poor"]
    assert all(w * 20 == pytest.approx(round(w * 20)) for w in weights.values())
    alone = greedy_weights({"good": good, "poor": poor}, y, rounds=1)
    assert alone == {"good": 1.0, "poor": 0.0}


def test_the_ensemble_fits_clones_and_keeps_only_weighted_members(noisy) -> None:
    X, y = noisy
    members = [
        ("logistic_regression", LogisticRegression()),
        ("xgboost", XGBClassifier(n_estimators=20, max_depth=2)),
    ]
    ensemble = WeightedEnsemble(members, weights=[3, 1]).fit(X, y)
    assert [name for name, _ in ensemble.estimators_] == [
        "logistic_regression",
        "xgboost",
    ]
    np.testing.assert_allclose(ensemble.weights_, [0.75, 0.25])
    assert not hasattr(members[0][1], "coef_"), "fit works on clones"
    proba = ensemble.predict_proba(X)
    expected = 0.75 * ensemble.estimators_[0][1].predict_proba(X) + 0.25 * (
        ensemble.estimators_[1][1].predict_proba(X)
    )
    np.testing.assert_allclose(proba, expected)
    fitted = [(n, e) for n, e in ensemble.estimators_]
    dropped = WeightedEnsemble.from_fitted(fitted, [1.0, 0.0])
    assert [name for name, _ in dropped.estimators_] == ["logistic_regression"]
    assert dropped.get_params()["estimators"] == dropped.estimators_
    np.testing.assert_array_equal(dropped.weights_, [1.0])


def test_bad_ensemble_weights_are_named(noisy) -> None:
    X, y = noisy
    with pytest.raises(ValueError, match="2 non-negative numbers"):
        WeightedEnsemble(
            [("a", LogisticRegression()), ("b", LogisticRegression())], [1.0, -1.0]
        ).fit(X, y)
    with pytest.raises(ValueError, match="at least one estimator"):
        WeightedEnsemble().fit(X, y)
