"""The ensemble's cross-validation is honest: each fold is blended with weights
chosen on the other folds' out-of-fold rows only (``tuning.cross_fitted_blend``),
while the artifact's weights are chosen on every out-of-fold row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, logit

from customer_purchase_prediction.columns import LABEL_COLUMN
from customer_purchase_prediction.estimators import greedy_weights
from customer_purchase_prediction.tuning import (
    TuningResult,
    blend_weights,
    choose_weighting,
    cross_fitted_blend,
    cross_validated,
    cv_folds,
    tune_blend,
    weighting_metric,
)
from tests.conftest import modelling_params


def _members(rng: np.random.Generator, rows: int, n: int) -> dict[str, np.ndarray]:
    return {f"m{j}": rng.uniform(0.02, 0.98, rows) for j in range(n)}


def _folds(rows: int, k: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(rows)
    return [np.sort(part) for part in np.array_split(order, k)]


@settings(max_examples=20, deadline=None)
@given(
    st.integers(40, 150),
    st.integers(2, 5),
    st.integers(2, 4),
    st.integers(1, 10),
    st.integers(0, 2**16),
)
def test_a_folds_weights_do_not_depend_on_its_own_rows(
    rows: int, k: int, n: int, rounds: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    proba = _members(rng, rows, n)
    y = (rng.random(rows) < 0.4).astype(int)
    folds = _folds(rows, k, rng)
    blended, weights = cross_fitted_blend(proba, y, folds, rounds)
    fold = int(rng.integers(k))
    test = folds[fold]
    # Other labels and other member probabilities on this fold's rows only.
    changed_y = y.copy()
    changed_y[test] = 1 - changed_y[test]
    changed = {name: p.copy() for name, p in proba.items()}
    for p in changed.values():
        p[test] = rng.uniform(0.02, 0.98, len(test))
    flipped, flipped_weights = cross_fitted_blend(proba, changed_y, folds, rounds)
    _, moved_weights = cross_fitted_blend(changed, changed_y, folds, rounds)
    assert flipped_weights[fold] == weights[fold]
    assert moved_weights[fold] == weights[fold]
    # The fold's weights are exactly greedy selection on the other rows, and
    # its blended probabilities apply them to its own members' probabilities.
    others = np.setdiff1d(np.arange(rows), test)
    expected = greedy_weights(
        {m: p[others] for m, p in proba.items()}, y[others], rounds
    )
    assert weights[fold] == expected
    mine = sum(w * proba[m][test] for m, w in expected.items())
    np.testing.assert_allclose(blended[test], mine, rtol=0, atol=1e-12)
    # Its labels do not move its own blended probabilities either.
    np.testing.assert_array_equal(flipped[test], blended[test])


def test_a_dominant_member_is_the_blend_on_every_fold() -> None:
    rng = np.random.default_rng(7)
    y = (rng.random(1500) < 0.3).astype(int)
    # One member all but knows the labels; the others know nothing, so any
    # weight on them costs log-loss on every fold.
    good = np.where(y == 1, 0.9, 0.1)
    poor = {f"poor{j}": rng.uniform(0.01, 0.99, 1500) for j in range(2)}
    folds = _folds(1500, 5, rng)
    blended, weights = cross_fitted_blend({**poor, "good": good}, y, folds, rounds=25)
    assert weights == [{"poor0": 0.0, "poor1": 0.0, "good": 1.0}] * 5
    np.testing.assert_array_equal(blended, good)


def test_folds_that_do_not_cover_every_row_once_are_refused() -> None:
    proba = {"a": np.full(10, 0.3), "b": np.full(10, 0.6)}
    y = np.array([0, 1] * 5)
    with pytest.raises(ValueError, match="covering each of the 10 rows exactly once"):
        cross_fitted_blend(proba, y, [np.arange(5), np.arange(4, 10)], 5)
    with pytest.raises(ValueError, match="at least two folds"):
        cross_fitted_blend(proba, y, [np.arange(10)], 5)


def test_tune_blend_cross_validates_honest_probabilities_but_keeps_all_row_weights():
    params = modelling_params(ensemble={"weights": "greedy"})
    rng = np.random.default_rng(3)
    rows = 300
    truth = rng.random(rows)
    train = pd.DataFrame({LABEL_COLUMN: (rng.random(rows) < truth).astype(int)})
    y = train[LABEL_COLUMN].to_numpy()
    oof = {
        "logistic_regression": np.clip(truth + rng.normal(0, 0.15, rows), 0.01, 0.99),
        "random_forest": np.clip(truth + rng.normal(0, 0.2, rows), 0.01, 0.99),
    }
    members = [
        TuningResult(name, {}, 0.5, 0.0, {}, pd.DataFrame(), proba)
        for name, proba in oof.items()
    ]
    result = tune_blend("ensemble", members, train, params)
    folds = cv_folds(train, params)
    honest, _ = cross_fitted_blend(oof, y, folds, params.ensemble.rounds)
    assert result.params == {"weights": greedy_weights(oof, y, params.ensemble.rounds)}
    np.testing.assert_array_equal(result.out_of_fold, honest)
    in_sample = sum(w * oof[m] for m, w in result.params["weights"].items())
    assert not np.allclose(result.out_of_fold, in_sample)  # the folds' weights differ


def test_equal_weights_are_the_plain_average_on_every_fold() -> None:
    rng = np.random.default_rng(3)
    proba = _members(rng, 90, 3)
    y = (rng.random(90) < 0.4).astype(int)
    folds = _folds(90, 5, rng)
    blended, weights = cross_fitted_blend(proba, y, folds, 25, method="equal")
    assert weights == [dict.fromkeys(proba, 1.0 / 3)] * 5
    assert blend_weights(proba, y, 25, method="equal") == dict.fromkeys(proba, 1.0 / 3)
    np.testing.assert_allclose(blended, sum(proba.values()) / 3, rtol=0, atol=1e-15)
    # The function's default method is still greedy selection.
    assert blend_weights(proba, y, 7) == greedy_weights(proba, y, 7)


def test_tune_blend_with_equal_weights_averages_every_fold_alike() -> None:
    params = modelling_params(ensemble={"weights": "equal"})
    rng = np.random.default_rng(5)
    train = pd.DataFrame({LABEL_COLUMN: (rng.random(200) < 0.3).astype(int)})
    oof = _members(rng, 200, 2)
    members = [
        TuningResult(name, {}, 0.5, 0.0, {}, pd.DataFrame(), proba)
        for name, proba in oof.items()
    ]
    result = tune_blend("ensemble", members, train, params)
    assert result.params == {"weights": {"m0": 0.5, "m1": 0.5}}
    np.testing.assert_array_equal(result.out_of_fold, 0.5 * oof["m0"] + 0.5 * oof["m1"])


def _blend(oof: dict[str, np.ndarray], y: np.ndarray, **overrides: object):
    train = pd.DataFrame({LABEL_COLUMN: y})
    members = [
        TuningResult(name, {}, 0.5, 0.0, {}, pd.DataFrame(), proba)
        for name, proba in oof.items()
    ]
    return tune_blend("ensemble", members, train, modelling_params(**overrides))


def _labelled(seed: int, rows: int = 300) -> tuple[np.random.Generator, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = expit(rng.normal(-1.0, 1.5, rows))
    return rng, truth


def test_auto_keeps_equal_weights_when_greedy_ones_cross_validate_worse() -> None:
    rng, truth = _labelled(1)
    y = (rng.random(len(truth)) < truth).astype(int)
    # Three members equally noisy around the truth: averaging cancels their
    # noise, while weights fitted to 200 rows chase it.
    oof = {
        f"m{j}": expit(logit(truth) + rng.normal(0.0, 1.0, len(truth)))
        for j in range(3)
    }
    result = _blend(oof, y)
    weighting = result.params["weighting"]
    honest = weighting["honest_cv"]
    assert modelling_params().ensemble.weights == "auto"  # conf/base
    assert weighting["setting"] == "auto"
    assert weighting["metric"] == "brier"
    assert weighting["chosen"] == "equal"
    assert honest["equal"] < honest["greedy"]
    assert result.params["weights"] == dict.fromkeys(oof, 1.0 / 3)
    # Each honest value is that weighting's own cross-fitted CV Brier score.
    params = modelling_params()
    folds = cv_folds(pd.DataFrame({LABEL_COLUMN: y}), params)
    for method in ("equal", "greedy"):
        blended, _ = cross_fitted_blend(oof, y, folds, 25, method=method)
        cv = cross_validated(y, blended, folds, params, None)[2]
        assert honest[method] == cv["brier"]["mean"]
    # The same blend, to the last bit, as asking for equal weights.
    equal = _blend(oof, y, ensemble={"weights": "equal"})
    assert equal.params == {"weights": result.params["weights"]}
    assert equal.cv_metrics == result.cv_metrics
    assert equal.cv_threshold == result.cv_threshold
    np.testing.assert_array_equal(equal.out_of_fold, result.out_of_fold)


def test_auto_takes_greedy_weights_when_they_cross_validate_better() -> None:
    rng, truth = _labelled(0)
    y = (rng.random(len(truth)) < truth).astype(int)
    # One member knows the truth; the others know nothing: an average drags
    # it to 0.5, greedy selection (on the other folds too) keeps it alone.
    oof = {
        "good": truth,
        **{f"noise{j}": rng.uniform(0.02, 0.98, len(truth)) for j in range(2)},
    }
    result = _blend(oof, y)
    weighting = result.params["weighting"]
    assert weighting["chosen"] == "greedy"
    assert weighting["honest_cv"]["greedy"] < weighting["honest_cv"]["equal"]
    assert result.params["weights"] == greedy_weights(oof, y, 25)
    assert result.params["weights"]["good"] > 0.9
    greedy = _blend(oof, y, ensemble={"weights": "greedy"})
    assert greedy.params == {"weights": result.params["weights"]}
    assert greedy.cv_metrics == result.cv_metrics
    np.testing.assert_array_equal(greedy.out_of_fold, result.out_of_fold)


def test_auto_compares_on_the_tie_breaks_probability_metric() -> None:
    rng, truth = _labelled(0)
    y = (rng.random(len(truth)) < truth).astype(int)
    oof = {"good": truth, "noise": rng.uniform(0.02, 0.98, len(truth))}
    result = _blend(oof, y, tie_break="log_loss")
    assert result.params["weighting"]["metric"] == "log_loss"
    assert (
        result.params["weighting"]["honest_cv"]["greedy"]
        == (result.cv_metrics["log_loss"]["mean"])
    )
    assert weighting_metric(modelling_params(tie_break="ensemble")) == "brier"
    assert weighting_metric(modelling_params(tie_break="roc_auc")) == "brier"
    assert weighting_metric(modelling_params(tie_break="brier")) == "brier"


def test_an_exact_tie_goes_to_equal_weights() -> None:
    assert choose_weighting({"equal": 0.13, "greedy": 0.13}) == "equal"
    assert choose_weighting({"greedy": 0.13, "equal": 0.13}) == "equal"
    assert choose_weighting({"equal": 0.131, "greedy": 0.13}) == "greedy"
    assert choose_weighting({"greedy": 0.2}) == "greedy"


def test_blend_weights_refuse_auto() -> None:
    proba = {"a": np.full(4, 0.3), "b": np.full(4, 0.6)}
    with pytest.raises(ValueError, match="'auto' chooses between them"):
        blend_weights(proba, np.array([0, 1, 0, 1]), 5, method="auto")  # type: ignore[arg-type]
