"""Metrics and the decision threshold, one definition for modelling and reporting."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from customer_purchase_prediction.params import ThresholdParams

THRESHOLD_FREE = frozenset({"roc_auc", "average_precision"})
METRIC_NAMES: tuple[str, ...] = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "average_precision",
)
# Candidate thresholds: a fixed grid keeps tuning deterministic and stable.
THRESHOLD_GRID = np.round(np.linspace(0.01, 0.99, 99), 2)


def classification_metrics(
    y_true: np.ndarray, proba: np.ndarray, threshold: float
) -> dict[str, float]:
    """All metrics of probabilities ``proba`` at ``threshold``."""
    predicted = (proba >= threshold).astype(int)
    both_classes = len(np.unique(y_true)) == 2  # noqa: PLR2004
    return {
        "accuracy": float(accuracy_score(y_true, predicted)),
        "precision": float(precision_score(y_true, predicted, zero_division=0.0)),
        "recall": float(recall_score(y_true, predicted, zero_division=0.0)),
        "f1": float(f1_score(y_true, predicted, zero_division=0.0)),
        "roc_auc": float(roc_auc_score(y_true, proba))
        if both_classes
        else float("nan"),
        "average_precision": (
            float(average_precision_score(y_true, proba))
            if both_classes
            else float("nan")
        ),
    }


@dataclass(frozen=True)
class ThresholdRates:
    """Decision rates of probabilities at each of a series of thresholds.

    Every array has one value per threshold. Ratios with nothing to divide by
    (no customer flagged, no buyer, no non-buyer) are 0.
    """

    thresholds: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    false_positive_rate: np.ndarray
    accuracy: np.ndarray
    flagged_share: np.ndarray

    @property
    def f1(self) -> np.ndarray:
        """The harmonic mean of precision and recall (0 where both are 0)."""
        total = self.precision + self.recall
        return np.divide(
            2 * self.precision * self.recall,
            total,
            out=np.zeros(len(total)),
            where=total > 0,
        )


def threshold_rates(
    y_true: np.ndarray, proba: np.ndarray, thresholds: np.ndarray = THRESHOLD_GRID
) -> ThresholdRates:
    """Precision, recall and the other rates of deciding ``proba >= t`` for each t."""
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=float))
    predicted = np.asarray(proba)[None, :] >= thresholds[:, None]
    positives = np.asarray(y_true) == 1
    true_pos = (predicted & positives).sum(axis=1)
    flagged = predicted.sum(axis=1)
    n_pos, n = int(positives.sum()), len(positives)
    false_pos = flagged - true_pos
    return ThresholdRates(
        thresholds=thresholds,
        precision=np.divide(
            true_pos, flagged, out=np.zeros(len(flagged)), where=flagged > 0
        ),
        recall=true_pos / max(n_pos, 1),
        false_positive_rate=false_pos / max(n - n_pos, 1),
        accuracy=(n - false_pos - (n_pos - true_pos)) / max(n, 1),
        flagged_share=flagged / max(n, 1),
    )


def threshold_metric(metric: str) -> str:
    """The metric the decision threshold is tuned for when selecting by ``metric``.

    A threshold-free metric (``roc_auc``, ``average_precision``) takes the F1
    threshold.
    """
    return "f1" if metric in THRESHOLD_FREE else metric


def tune_threshold(
    y_true: np.ndarray, proba: np.ndarray, metric: str, params: ThresholdParams
) -> tuple[float, float]:
    """The threshold that serves ``metric`` best, and the metric's value there.

    ``f1`` and ``accuracy`` are maximised. ``precision`` is maximised among
    thresholds that keep recall >= ``min_recall`` (else one customer would do),
    and ``recall`` among those that keep precision >= ``min_precision``. The
    threshold-free metrics (``roc_auc``, ``average_precision``) take the F1
    threshold. A fixed ``params.value`` is used as it is.
    """
    y_true = np.asarray(y_true)
    if params.value is not None:
        return params.value, _score(y_true, proba, params.value, metric)
    target = threshold_metric(metric)
    rates = threshold_rates(y_true, proba)
    if target == "f1":
        objective = rates.f1
    elif target == "accuracy":
        objective = rates.accuracy
    elif target == "precision":
        objective = np.where(rates.recall >= params.min_recall, rates.precision, -1.0)
    else:
        objective = np.where(
            rates.precision >= params.min_precision, rates.recall, -1.0
        )
    if objective.max() < 0:  # the constraint cannot be met: fall back to F1
        threshold, _ = tune_threshold(y_true, proba, "f1", params)
        return threshold, _score(y_true, proba, threshold, metric)
    threshold = float(THRESHOLD_GRID[int(np.argmax(objective))])
    return threshold, _score(y_true, proba, threshold, metric)


def _score(
    y_true: np.ndarray, proba: np.ndarray, threshold: float, metric: str
) -> float:
    return classification_metrics(y_true, proba, threshold)[metric]


def choose_candidate(
    cv: dict[str, dict[str, dict[str, float]]],
    metric: str,
    folds: int,
    *,
    within_standard_error: bool,
) -> tuple[str, list[str]]:
    """The candidate to select from cross-validated metrics.

    The best CV mean of ``metric`` wins. With ``within_standard_error``, every
    candidate whose mean is within one standard error (fold std / sqrt(folds))
    of the best is a contender too, since CV cannot tell them apart on
    ``metric``; among contenders the best CV ROC AUC (ranking quality) wins.
    Remaining ties go to the earlier (simpler) candidate.

    Returns:
        The selected candidate and the contenders it was chosen from.
    """
    order = list(cv)
    means = {name: cv[name][metric]["mean"] for name in order}
    best = max(order, key=lambda name: (means[name], -order.index(name)))
    if not within_standard_error or metric == "roc_auc":
        return best, [best]
    margin = cv[best][metric]["std"] / math.sqrt(folds)
    contenders = [name for name in order if means[name] >= means[best] - margin]
    chosen = max(
        contenders, key=lambda name: (cv[name]["roc_auc"]["mean"], -order.index(name))
    )
    return chosen, contenders
