"""Calibration: honest probabilities, row by row, fitted on rows no model saw."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import NotFittedError

from customer_purchase_prediction.calibration import (
    ProbabilityCalibrator,
    cross_fitted,
    fit_calibrator,
)
from customer_purchase_prediction.evaluation import probability_metrics


def _overconfident(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes drawn from true chances, and scores pushed up from them (as class
    weighting pushes them)."""
    rng = np.random.default_rng(seed)
    truth = rng.beta(1.2, 3.0, n)
    y = (rng.random(n) < truth).astype(int)
    raw = truth**0.5  # ranks like the truth, reads far too high
    return raw, y


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibration_brings_the_mean_to_the_rate_and_lowers_the_brier(
    method: str,
) -> None:
    raw, y = _overconfident()
    fresh_raw, fresh_y = _overconfident(seed=1)
    calibrated = fit_calibrator(method, raw, y).transform(fresh_raw)
    assert abs(calibrated.mean() - fresh_y.mean()) < 0.02
    assert abs(fresh_raw.mean() - fresh_y.mean()) > 0.15
    before, after = (
        probability_metrics(fresh_y, fresh_raw),
        probability_metrics(fresh_y, calibrated),
    )
    assert after["brier"] < before["brier"]
    assert after["log_loss"] < before["log_loss"]
    assert after["ece"] < before["ece"]


def test_sigmoid_keeps_the_ranking_and_none_changes_nothing() -> None:
    raw, y = _overconfident()
    sigmoid = fit_calibrator("sigmoid", raw, y)
    assert sigmoid.slope_ > 0
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(sigmoid.transform(raw)[order]) >= 0)
    np.testing.assert_array_equal(fit_calibrator("none", raw, y).transform(raw), raw)
    assert fit_calibrator("none", raw, y).describe() == {"method": "none"}
    assert set(sigmoid.describe()) == {"method", "slope", "intercept"}


@settings(max_examples=50, deadline=None)
@given(
    proba=arrays(
        np.float64,
        st.integers(1, 200),
        elements=st.floats(0.0, 1.0, allow_nan=False),
    ),
    method=st.sampled_from(["sigmoid", "isotonic", "none"]),
)
def test_every_row_is_calibrated_on_its_own(proba: np.ndarray, method: str) -> None:
    raw, y = _overconfident(500)
    calibrator = fit_calibrator(method, raw, y)
    whole = calibrator.transform(proba)
    alone = np.concatenate([calibrator.transform(p[None]) for p in proba])
    np.testing.assert_array_equal(alone, whole)
    assert np.all((whole >= 0) & (whole <= 1))


def test_one_class_only_leaves_the_probabilities_as_they_are() -> None:
    raw = np.array([0.2, 0.4, 0.9])
    for method in ("sigmoid", "isotonic"):
        np.testing.assert_allclose(
            fit_calibrator(method, raw, np.zeros(3, dtype=int)).transform(raw),
            raw,
            atol=1e-9,
        )


def test_cross_fitting_calibrates_each_fold_without_its_own_labels() -> None:
    raw, y = _overconfident(900)
    folds = [np.arange(i, 900, 3) for i in range(3)]
    crossed = cross_fitted("sigmoid", raw, y, folds)
    for test in folds:
        rest = np.setdiff1d(np.arange(900), test)
        expected = fit_calibrator("sigmoid", raw[rest], y[rest]).transform(raw[test])
        np.testing.assert_array_equal(crossed[test], expected)


def test_an_unknown_method_is_named() -> None:
    with pytest.raises(ValueError, match="sigmoid, isotonic or none; got 'platt'"):
        ProbabilityCalibrator("platt").fit(np.array([0.1, 0.9]), np.array([0, 1]))  # type: ignore[arg-type]


def test_an_unfitted_calibrator_refuses_to_transform_or_describe() -> None:
    calibrator = ProbabilityCalibrator("sigmoid")
    with pytest.raises(NotFittedError, match="ProbabilityCalibrator instance is not"):
        calibrator.transform(np.array([0.2, 0.7]))
    with pytest.raises(NotFittedError):
        calibrator.describe()
