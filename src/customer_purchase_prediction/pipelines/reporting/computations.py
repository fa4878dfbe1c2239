"""Computations behind the reports: predictions, metrics, intervals, money."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import brier_score_loss
from xgboost import XGBClassifier

from customer_purchase_prediction.contract import ID_COLUMN, LABEL_COLUMN
from customer_purchase_prediction.errors import ArtifactMismatchError
from customer_purchase_prediction.evaluation import THRESHOLD_GRID
from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.pipelines.reporting.params import (
    BootstrapParams,
    ReportingParams,
)

REPORTED_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "roc_auc")
METRIC_LABELS = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "roc_auc": "ROC AUC",
    "average_precision": "Average precision",
}
PER_CUSTOMERS = 1000  # business figures are also given per this many customers
N_DECILES = 10
# Mean predicted probability this far (or further) from the observed purchase
# rate is reported as probabilities that run high or low.
CALIBRATION_TOLERANCE = 0.05
# Resamples are drawn in chunks of at most this many cells, bounding memory.
_BOOTSTRAP_CELLS = 2_000_000


# ================================================================ computations
def artifact_version(model: PurchaseModel) -> str:
    """The Kedro version folder the model was loaded from, else when it was trained."""
    version = getattr(model, "version", None)  # set by ModelArtifactDataset
    if version:
        return str(version)
    return f"unversioned, trained at {model.metadata.get('trained_at', 'unknown')}"


def check_same_run(
    model: PurchaseModel,
    model_selection: Mapping[str, Any],
    test_metrics: Mapping[str, Mapping[str, float]],
) -> None:
    """Stop when the artifact and the modelling outputs come from different runs."""
    name = model_selection["selected_model"]
    threshold = model_selection["thresholds"][name]
    expected, found = test_metrics[name], model.metadata.get("test", {})
    same = (
        model.name == name
        and math.isclose(model.threshold, threshold)
        and set(expected) == set(found)
        and all(_same_number(expected[k], found[k]) for k in expected)
    )
    if not same:
        raise ArtifactMismatchError(
            f"the loaded purchase_model ({artifact_version(model)}: {model.name} at "
            f"threshold {model.threshold}) is not the model the modelling outputs "
            f"describe ({name} at threshold {threshold}, with other test metrics); "
            f"reports would mix two training runs. Load the matching version with "
            f"--load-versions=purchase_model:<version>, or retrain with 'kedro run'."
        )


def _same_number(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-12)


def prediction_frame(
    name: str,
    selected: bool,
    sessions: pd.DataFrame,
    proba: np.ndarray,
    threshold: float,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": name,
            "selected": selected,
            ID_COLUMN: sessions[ID_COLUMN].to_numpy(),
            LABEL_COLUMN: sessions[LABEL_COLUMN].to_numpy().astype("int64"),
            "probability": np.asarray(proba, dtype=np.float64),
            "threshold": float(threshold),
            "prediction": (np.asarray(proba) >= threshold).astype("int64"),
        }
    )


def selected_predictions(test_predictions: pd.DataFrame) -> pd.DataFrame:
    """The selected model's rows of the test predictions table."""
    return test_predictions[test_predictions["selected"]].reset_index(drop=True)


def confusion_counts(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, int]:
    """True/false positives and negatives of 0/1 decisions."""
    actual, decided = np.asarray(y_true) == 1, np.asarray(predicted) == 1
    return {
        "true_positives": int((decided & actual).sum()),
        "false_positives": int((decided & ~actual).sum()),
        "false_negatives": int((~decided & actual).sum()),
        "true_negatives": int((~decided & ~actual).sum()),
    }


def bootstrap_intervals(
    predictions: pd.DataFrame, settings: BootstrapParams
) -> dict[str, list[float]]:
    """Percentile bootstrap interval of each reported metric over the test rows.

    The same seed gives every candidate the same resamples (paired intervals).
    """
    y = predictions[LABEL_COLUMN].to_numpy()
    proba = predictions["probability"].to_numpy()
    threshold = float(predictions["threshold"].iloc[0])
    rng = np.random.default_rng(settings.seed)
    chunk = max(1, _BOOTSTRAP_CELLS // max(len(y), 1))
    samples: list[dict[str, np.ndarray]] = []
    for start in range(0, settings.n_resamples, chunk):
        rows = rng.integers(
            0, len(y), size=(min(chunk, settings.n_resamples - start), len(y))
        )
        samples.append(resample_metrics(y[rows], proba[rows], threshold))
    tail = (1 - settings.confidence) / 2
    return {
        metric: [
            float(q)
            for q in np.nanquantile(
                np.concatenate([s[metric] for s in samples]), [tail, 1 - tail]
            )
        ]
        for metric in REPORTED_METRICS
    }


def resample_metrics(
    y: np.ndarray, proba: np.ndarray, threshold: float
) -> dict[str, np.ndarray]:
    """The reported metrics of each row of 2-D label and probability arrays.

    ROC AUC is the Mann-Whitney statistic on average ranks (as scikit-learn's,
    ties included); it is NaN for a row holding one class only.
    """
    n = y.shape[1]
    positive, decided = y == 1, proba >= threshold
    tp = (decided & positive).sum(axis=1)
    fp = (decided & ~positive).sum(axis=1)
    fn = (~decided & positive).sum(axis=1)
    n_pos = positive.sum(axis=1)
    n_neg = n - n_pos
    rank_sum = (rankdata(proba, axis=1) * positive).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return {
        "accuracy": (n - fp - fn) / n,
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, n_pos),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "roc_auc": np.where((n_pos > 0) & (n_neg > 0), auc, np.nan),
    }


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(
        numerator,
        denominator,
        out=np.zeros(len(numerator), dtype=float),
        where=denominator > 0,
    )


def calibration_summary(predictions: pd.DataFrame, n_bins: int) -> dict[str, Any]:
    """Brier score, mean predicted vs observed rate, and equal-count reliability bins."""
    y = predictions[LABEL_COLUMN].to_numpy()
    proba = predictions["probability"].to_numpy()
    rate, mean_proba = float(y.mean()), float(proba.mean())
    brier = float(brier_score_loss(y, proba))
    reference = rate * (1 - rate)  # always predicting the observed purchase rate
    order = np.argsort(proba, kind="stable")
    bins = [
        {
            "mean_probability": float(proba[part].mean()),
            "purchase_rate": float(y[part].mean()),
            "customers": len(part),
        }
        for part in np.array_split(order, min(n_bins, len(y)))
    ]
    return {
        "brier_score": brier,
        "reference_brier_score": reference,
        "brier_skill_score": 1 - brier / reference if reference > 0 else float("nan"),
        "mean_probability": mean_proba,
        "purchase_rate": rate,
        "mean_gap": mean_proba - rate,
        "bins": bins,
    }


def threshold_table(y: np.ndarray, proba: np.ndarray) -> pd.DataFrame:
    """Precision, recall, F1 and share targeted at every threshold of the grid."""
    decided = proba[None, :] >= THRESHOLD_GRID[:, None]
    positive = np.asarray(y) == 1
    tp = (decided & positive).sum(axis=1)
    flagged = decided.sum(axis=1)
    return pd.DataFrame(
        {
            "threshold": THRESHOLD_GRID,
            "precision": _ratio(tp, flagged),
            "recall": _ratio(tp, np.full(len(tp), positive.sum())),
            "f1": _ratio(2 * tp, flagged + positive.sum()),
            "contacted_share": flagged / max(len(positive), 1),
        }
    )


def decile_table(
    y: np.ndarray, proba: np.ndarray, params: ReportingParams
) -> pd.DataFrame:
    """Customers by decile of predicted probability, highest first, with profit.

    ``cumulative_profit`` is the profit of contacting deciles 1 to this one.
    """
    order = np.argsort(-proba, kind="stable")
    groups = np.array_split(order, min(N_DECILES, len(order)))
    table = pd.DataFrame(
        {
            "decile": np.arange(1, len(groups) + 1),
            "customers": [len(g) for g in groups],
            "purchasers": [int(y[g].sum()) for g in groups],
            "min_probability": [float(proba[g].min()) for g in groups],
            "max_probability": [float(proba[g].max()) for g in groups],
        }
    )
    overall = y.mean()
    cumulative = table[["customers", "purchasers"]].cumsum()
    return table.assign(
        purchase_rate=table["purchasers"] / table["customers"],
        lift=table["purchasers"] / table["customers"] / overall,
        cumulative_customers=cumulative["customers"],
        cumulative_customers_share=cumulative["customers"] / len(y),
        cumulative_purchasers=cumulative["purchasers"],
        cumulative_gain=cumulative["purchasers"] / max(int(y.sum()), 1),
        cumulative_lift=cumulative["purchasers"] / cumulative["customers"] / overall,
        cumulative_profit=params.conversion_value * cumulative["purchasers"]
        - params.contact_cost * cumulative["customers"],
    )


def model_importance(estimator: Any) -> tuple[np.ndarray, str]:
    """The estimator's own importance of each model-matrix column, as shares."""
    if hasattr(estimator, "coef_"):
        raw, kind = np.abs(np.ravel(estimator.coef_)), "coefficient magnitude"
    elif isinstance(estimator, XGBClassifier):
        raw, kind = np.asarray(estimator.feature_importances_), "gain"
    else:
        raw, kind = np.asarray(estimator.feature_importances_), "impurity decrease"
    total = float(raw.sum())
    return (raw / total if total > 0 else raw).astype(float), kind


def class_weighted(estimator: Any) -> bool:
    """Whether the estimator was trained with class weights (imbalance handling)."""
    weight = getattr(estimator, "class_weight", None)
    scale = getattr(estimator, "scale_pos_weight", None)
    return weight is not None or (scale is not None and scale != 1)


# ---------------------------------------------------------------- business figures
def assumptions(params: ReportingParams) -> dict[str, Any]:
    return {
        "contact_cost": params.contact_cost,
        "conversion_value": params.conversion_value,
        "currency": params.currency,
        "profit_formula": "conversion_value x purchasers contacted - contact_cost x "
        "customers contacted",
        "attribution": "a purchase counts only if the customer was contacted; an "
        "uncontacted customer's purchase is not attributed to the campaign",
        "break_even_probability": params.break_even_probability,
        "per_customers": PER_CUSTOMERS,
    }


def outcomes(counts: Mapping[str, int], params: ReportingParams) -> dict[str, Any]:
    tp, fp = counts["true_positives"], counts["false_positives"]
    fn, tn = counts["false_negatives"], counts["true_negatives"]
    total, purchasers, contacted = tp + fp + fn + tn, tp + fn, tp + fp
    return {
        "classified_correctly": {"customers": tp + tn, "share": (tp + tn) / total},
        "missed_opportunities": {
            "customers": fn,
            "share_of_purchasers": fn / purchasers if purchasers else 0.0,
            "forgone_profit": fn * (params.conversion_value - params.contact_cost),
        },
        "marketing_waste": {
            "customers": fp,
            "share_of_contacted": fp / contacted if contacted else 0.0,
            "wasted_cost": fp * params.contact_cost,
        },
        # Profit(model) - profit(everyone): what skipping the untargeted earns.
        "model_vs_everyone": {
            "saved_contact_costs": tn * params.contact_cost,
            "forgone_profit": fn * (params.conversion_value - params.contact_cost),
            "profit_difference": tn * params.contact_cost
            - fn * (params.conversion_value - params.contact_cost),
        },
    }


def strategies(
    counts: Mapping[str, int], params: ReportingParams
) -> dict[str, dict[str, Any]]:
    tp, fp = counts["true_positives"], counts["false_positives"]
    total = sum(counts.values())
    purchasers = tp + counts["false_negatives"]
    return {
        "model": _strategy(tp, tp + fp, total, params),
        "everyone": _strategy(purchasers, total, total, params),
        "no_one": _strategy(0, 0, total, params),
    }


def _strategy(
    reached: int, contacted: int, total: int, params: ReportingParams
) -> dict[str, Any]:
    value = params.conversion_value * reached
    cost = params.contact_cost * contacted
    return {
        "customers_contacted": contacted,
        "purchasers_reached": reached,
        "attributed_value": value,
        "contact_costs": cost,
        "profit": value - cost,
        "profit_per_1000_customers": (value - cost) * PER_CUSTOMERS / total,
    }


def best_depth(deciles: pd.DataFrame, total: int) -> dict[str, Any]:
    best = int(deciles["cumulative_profit"].to_numpy().argmax())
    row = deciles.iloc[best]
    if row["cumulative_profit"] <= 0:
        return {
            "deciles": 0,
            "customers_contacted": 0,
            "profit": 0.0,
            "profit_per_1000_customers": 0.0,
            "min_probability": None,
        }
    return {
        "deciles": int(row["decile"]),
        "customers_contacted": int(row["cumulative_customers"]),
        "profit": float(row["cumulative_profit"]),
        "profit_per_1000_customers": float(row["cumulative_profit"])
        * PER_CUSTOMERS
        / total,
        "min_probability": float(row["min_probability"]),
    }
