"""Calibration: from a model's raw probability to an honest chance of purchase.

A ``ProbabilityCalibrator`` is fitted on probabilities of rows no model saw
(out-of-fold predictions of the training part and the validation part) and maps
each raw probability on its own, with elementwise numpy operations in a fixed
order, so a session gets the same bits alone or in any batch. It keeps only
numbers (a slope and an intercept, or the steps of a monotone curve), fitted
with scikit-learn's public ``LogisticRegression`` and ``IsotonicRegression``:

- ``sigmoid`` (Platt scaling on the logit): ``expit(slope * logit(p) + intercept)``.
  Two numbers, so it is steady on a few hundred rows and keeps the ranking.
- ``isotonic``: a monotone step curve, interpolated linearly between steps.
  More flexible, but needs thousands of rows and ties scores within a step.
- ``none``: the raw probability, unchanged.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.special import expit, logit
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from customer_purchase_prediction.fitted import require_fitted

CalibrationMethod = Literal["sigmoid", "isotonic", "none"]
# Raw probabilities of exactly 0 or 1 (a pure forest leaf) have an infinite logit.
_EPS = 1e-6


class ProbabilityCalibrator(BaseEstimator):
    """Maps raw purchase probabilities to calibrated ones, row by row.

    Args:
        method: ``sigmoid``, ``isotonic`` or ``none``.
    """

    def __init__(self, method: CalibrationMethod = "sigmoid") -> None:
        self.method = method

    def fit(self, proba: np.ndarray, y: np.ndarray) -> ProbabilityCalibrator:
        """Learn the mapping from raw probabilities ``proba`` to outcomes ``y``."""
        proba = np.asarray(proba, dtype=np.float64)
        y = np.asarray(y)
        if self.method not in ("sigmoid", "isotonic", "none"):
            raise ValueError(
                f"calibration method must be sigmoid, isotonic or none; got "
                f"{self.method!r}"
            )
        self.slope_, self.intercept_ = 1.0, 0.0
        self.x_ = np.array([0.0, 1.0])
        self.y_ = np.array([0.0, 1.0])
        if self.method == "sigmoid" and len(np.unique(y)) > 1:
            # Practically unpenalised: two numbers need no shrinkage.
            fitted = LogisticRegression(C=1e6).fit(_logit(proba)[:, None], y)
            self.slope_ = float(fitted.coef_[0, 0])
            self.intercept_ = float(fitted.intercept_[0])
        elif self.method == "isotonic" and len(np.unique(y)) > 1:
            fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            fitted.fit(proba, y)
            self.x_ = np.asarray(fitted.X_thresholds_, dtype=np.float64)
            self.y_ = np.asarray(fitted.y_thresholds_, dtype=np.float64)
        return self

    def transform(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, each computed from its own raw probability."""
        require_fitted(self, "slope_")
        proba = np.asarray(proba, dtype=np.float64)
        if self.method == "sigmoid":
            return expit(self.slope_ * _logit(proba) + self.intercept_)
        if self.method == "isotonic":
            return np.interp(proba, self.x_, self.y_)
        return proba

    def describe(self) -> dict[str, object]:
        """What the card and the metadata say of the mapping."""
        require_fitted(self, "slope_")
        if self.method == "sigmoid":
            return {
                "method": "sigmoid",
                "slope": self.slope_,
                "intercept": self.intercept_,
            }
        if self.method == "isotonic":
            return {"method": "isotonic", "steps": len(self.x_)}
        return {"method": "none"}


def fit_calibrator(
    method: CalibrationMethod, proba: np.ndarray, y: np.ndarray
) -> ProbabilityCalibrator:
    """A calibrator of ``method`` fitted on raw probabilities no model saw."""
    return ProbabilityCalibrator(method).fit(proba, y)


def cross_fitted(
    method: CalibrationMethod,
    proba: np.ndarray,
    y: np.ndarray,
    folds: list[np.ndarray],
) -> np.ndarray:
    """Calibrated out-of-fold probabilities, each fold's calibrator fitted on the
    other folds, so the cross-validated metrics of a calibrated model are honest."""
    calibrated = np.asarray(proba, dtype=np.float64).copy()
    every = np.arange(len(proba))
    for test in folds:
        rest = np.setdiff1d(every, test)
        calibrated[test] = fit_calibrator(method, proba[rest], y[rest]).transform(
            proba[test]
        )
    return calibrated


def _logit(proba: np.ndarray) -> np.ndarray:
    return logit(np.clip(proba, _EPS, 1 - _EPS))
