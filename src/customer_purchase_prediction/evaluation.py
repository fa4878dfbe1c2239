"""Metrics and the decision threshold, one definition for modelling and reporting."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.params import ThresholdParams

THRESHOLD_FREE = frozenset({"roc_auc", "average_precision"})
# Probability quality: lower is better, and no threshold is involved.
PROBABILITY_METRICS: tuple[str, ...] = ("brier", "log_loss", "ece")
METRIC_NAMES: tuple[str, ...] = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "average_precision",
    *PROBABILITY_METRICS,
)
PROFIT = "profit"
ECE_BINS = 10
# Candidate thresholds: a fixed grid keeps tuning deterministic and stable.
THRESHOLD_GRID = np.round(np.linspace(0.01, 0.99, 99), 2)


def classification_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    threshold: float,
    business: BusinessParams | None = None,
) -> dict[str, float]:
    """All metrics of probabilities ``proba`` at ``threshold``.

    With ``business``, also ``profit``: the expected profit per customer of
    contacting those at or above the threshold (``profit_per_customer``).
    """
    predicted = (proba >= threshold).astype(int)
    both_classes = len(np.unique(y_true)) == 2  # noqa: PLR2004
    extra = (
        {}
        if business is None
        else {PROFIT: profit_per_customer(y_true, proba, threshold, business)}
    )
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
        **probability_metrics(y_true, proba),
        **extra,
    }


def probability_metrics(y_true: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Brier score, log-loss and expected calibration error (lower is better)."""
    proba = np.asarray(proba, dtype=np.float64)
    return {
        "brier": float(brier_score_loss(y_true, proba, pos_label=1)),
        "log_loss": float(log_loss(y_true, proba, labels=[0, 1])),
        "ece": expected_calibration_error(y_true, proba),
    }


def expected_calibration_error(
    y_true: np.ndarray, proba: np.ndarray, bins: int = ECE_BINS
) -> float:
    """Mean |predicted - observed purchase rate| over ``bins`` equal-width bins
    of probability, each weighted by its share of the rows."""
    proba = np.asarray(proba, dtype=np.float64)
    y_true = np.asarray(y_true, dtype=np.float64)
    if len(proba) == 0:
        return float("nan")
    which = np.minimum((proba * bins).astype(int), bins - 1)
    predicted = np.bincount(which, weights=proba, minlength=bins)
    observed = np.bincount(which, weights=y_true, minlength=bins)
    return float(np.abs(predicted - observed).sum() / len(proba))


def profit_per_customer(
    y_true: np.ndarray, proba: np.ndarray, threshold: float, business: BusinessParams
) -> float:
    """Mean over customers of contacted x (bought x conversion_value - contact_cost),
    contacting those whose probability is at or above ``threshold``."""
    y_true = np.asarray(y_true)
    if len(y_true) == 0:
        return float("nan")
    contacted = np.asarray(proba) >= threshold
    return business.realised_profit(contacted, y_true) / len(y_true)


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


def profit_rates(
    y_true: np.ndarray,
    proba: np.ndarray,
    business: BusinessParams,
    thresholds: np.ndarray = THRESHOLD_GRID,
) -> np.ndarray:
    """Profit per customer of contacting ``proba >= t``, for each threshold t."""
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=float))
    contacted = np.asarray(proba)[None, :] >= thresholds[:, None]
    bought = np.asarray(y_true) == 1
    buyers = (contacted & bought).sum(axis=1)
    value = buyers * business.conversion_value - contacted.sum(axis=1) * (
        business.contact_cost
    )
    return value / max(len(bought), 1)


def threshold_metric(metric: str) -> str:
    """The metric the decision threshold is tuned for when selecting by ``metric``.

    A threshold-free metric (``roc_auc``, ``average_precision``) takes the F1
    threshold.
    """
    return "f1" if metric in THRESHOLD_FREE else metric


def tune_threshold(
    y_true: np.ndarray,
    proba: np.ndarray,
    metric: str,
    params: ThresholdParams,
    business: BusinessParams | None = None,
) -> tuple[float, float]:
    """The threshold that serves ``metric`` best, and the metric's value there.

    ``f1``, ``accuracy`` and ``profit`` (per customer, from ``business``) are
    maximised. ``precision`` is maximised among
    thresholds that keep recall >= ``min_recall`` (else one customer would do),
    and ``recall`` among those that keep precision >= ``min_precision``. The
    threshold-free metrics (``roc_auc``, ``average_precision``) take the F1
    threshold. A fixed ``params.value`` is used as it is.
    """
    y_true = np.asarray(y_true)
    if params.value is not None:
        return params.value, _score(y_true, proba, params.value, metric, business)
    target = threshold_metric(metric)
    rates = threshold_rates(y_true, proba)
    if target == PROFIT:
        if business is None:
            raise ValueError("selection_metric profit needs the business parameters")
        objective = profit_rates(y_true, proba, business)
    elif target == "f1":
        objective = rates.f1
    elif target == "accuracy":
        objective = rates.accuracy
    elif target == "precision":
        objective = np.where(rates.recall >= params.min_recall, rates.precision, -1.0)
    else:
        objective = np.where(
            rates.precision >= params.min_precision, rates.recall, -1.0
        )
    if target != PROFIT and objective.max() < 0:
        # The constraint cannot be met: fall back to F1.
        threshold, _ = tune_threshold(y_true, proba, "f1", params)
        return threshold, _score(y_true, proba, threshold, metric, business)
    threshold = float(THRESHOLD_GRID[int(np.argmax(objective))])
    return threshold, _score(y_true, proba, threshold, metric, business)


def _score(
    y_true: np.ndarray,
    proba: np.ndarray,
    threshold: float,
    metric: str,
    business: BusinessParams | None,
) -> float:
    return classification_metrics(y_true, proba, threshold, business)[metric]


def choose_candidate(
    cv: dict[str, dict[str, dict[str, float]]],
    metric: str,
    folds: int,
    *,
    within_standard_error: bool,
    tie_break: str = "roc_auc",
) -> tuple[str, list[str]]:
    """The candidate to select from cross-validated metrics.

    The best CV mean of ``metric`` wins. With ``within_standard_error``, every
    candidate whose mean is within one standard error (fold std / sqrt(folds))
    of the best is a contender too, since CV cannot tell them apart on
    ``metric``; among contenders the best CV ``tie_break`` wins (the highest
    ROC AUC: ranking quality; the lowest Brier score or log-loss: probability
    quality). ``tie_break="ensemble"`` takes the blend (a registry entry that
    blends) whenever it is a contender, a hedge where CV cannot tell the
    contenders apart, and the lowest CV Brier otherwise. Remaining ties go to
    the earlier (simpler) candidate.

    Returns:
        The selected candidate and the contenders it was chosen from.
    """
    order = list(cv)
    means = {name: cv[name][metric]["mean"] for name in order}
    best = max(order, key=lambda name: (means[name], -order.index(name)))
    if not within_standard_error or metric == tie_break:
        return best, [best]
    margin = cv[best][metric]["std"] / math.sqrt(folds)
    contenders = [name for name in order if means[name] >= means[best] - margin]
    if tie_break == "ensemble":
        from customer_purchase_prediction.candidates import (  # noqa: PLC0415
            registry,
        )

        known = registry()
        blends = [n for n in contenders if n in known and known[n].blends]
        if blends:
            return blends[0], contenders
        tie_break = "brier"
    sign = -1.0 if tie_break in PROBABILITY_METRICS else 1.0
    chosen = max(
        contenders,
        key=lambda name: (sign * cv[name][tie_break]["mean"], -order.index(name)),
    )
    return chosen, contenders
