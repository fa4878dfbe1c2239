"""Computations behind the reports: metrics, intervals, calibration, money.

Every function takes numbers and returns numbers (arrays, frames or the typed
summaries of ``summaries.py``); none formats text.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import brier_score_loss

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.columns import LABEL_COLUMN
from customer_purchase_prediction.evaluation import (
    PROBABILITY_METRICS,
    PROFIT,
    threshold_rates,
)
from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.pipelines.reporting.params import BootstrapParams
from customer_purchase_prediction.pipelines.reporting.summaries import (
    Assumptions,
    Calibration,
    CalibrationBin,
    CampaignDepth,
    ClassifiedCorrectly,
    ConfusionCounts,
    MarketingWaste,
    MissedOpportunities,
    ModelVsEveryone,
    Strategy,
)

REPORTED_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1", "roc_auc")
# The comparison table adds ranking and probability quality (lower is better for
# the last three), without bootstrap intervals.
COMPARED_METRICS: tuple[str, ...] = (
    *REPORTED_METRICS,
    "average_precision",
    *PROBABILITY_METRICS,
    PROFIT,
)
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


def selected_predictions(test_predictions: pd.DataFrame) -> pd.DataFrame:
    """The selected model's rows of the test predictions table."""
    return test_predictions[test_predictions["selected"]].reset_index(drop=True)


def confusion_counts(y_true: np.ndarray, predicted: np.ndarray) -> ConfusionCounts:
    """True/false positives and negatives of 0/1 decisions."""
    actual, decided = np.asarray(y_true) == 1, np.asarray(predicted) == 1
    return ConfusionCounts(
        true_positives=int((decided & actual).sum()),
        false_positives=int((decided & ~actual).sum()),
        false_negatives=int((~decided & actual).sum()),
        true_negatives=int((~decided & ~actual).sum()),
    )


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


def calibration_summary(predictions: pd.DataFrame, n_bins: int) -> Calibration:
    """Brier score, mean predicted vs observed rate, and equal-count reliability bins."""
    y = predictions[LABEL_COLUMN].to_numpy()
    proba = predictions["probability"].to_numpy()
    rate, mean_proba = float(y.mean()), float(proba.mean())
    brier = float(brier_score_loss(y, proba))
    reference = rate * (1 - rate)  # always predicting the observed purchase rate
    order = np.argsort(proba, kind="stable")
    bins = [
        CalibrationBin(
            mean_probability=float(proba[part].mean()),
            purchase_rate=float(y[part].mean()),
            customers=len(part),
        )
        for part in np.array_split(order, min(n_bins, len(y)))
    ]
    return Calibration(
        brier_score=brier,
        reference_brier_score=reference,
        brier_skill_score=1 - brier / reference if reference > 0 else float("nan"),
        mean_probability=mean_proba,
        purchase_rate=rate,
        mean_gap=mean_proba - rate,
        bins=bins,
    )


def threshold_table(y: np.ndarray, proba: np.ndarray) -> pd.DataFrame:
    """Precision, recall, F1 and share targeted at every threshold of the grid."""
    rates = threshold_rates(y, proba)
    return pd.DataFrame(
        {
            "threshold": rates.thresholds,
            "precision": rates.precision,
            "recall": rates.recall,
            "f1": rates.f1,
            "contacted_share": rates.flagged_share,
        }
    )


def decile_table(
    y: np.ndarray, proba: np.ndarray, params: BusinessParams
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


# ---------------------------------------------------------------- business figures
def assumptions(params: BusinessParams) -> Assumptions:
    return Assumptions(
        contact_cost=params.contact_cost,
        conversion_value=params.conversion_value,
        currency=params.currency,
        profit_formula="conversion_value x purchasers contacted - contact_cost x "
        "customers contacted",
        attribution="a purchase counts only if the customer was contacted; an "
        "uncontacted customer's purchase is not attributed to the campaign",
        break_even_probability=params.break_even_probability,
        per_customers=PER_CUSTOMERS,
    )


def outcomes(counts: ConfusionCounts, params: BusinessParams) -> dict[str, Any]:
    """Share classified correctly, missed buyers, waste, and model vs everyone."""
    tp, fp = counts.true_positives, counts.false_positives
    fn, tn = counts.false_negatives, counts.true_negatives
    purchasers, contacted = tp + fn, tp + fp
    forgone = fn * (params.conversion_value - params.contact_cost)
    return {
        "classified_correctly": ClassifiedCorrectly(
            customers=tp + tn, share=(tp + tn) / counts.total
        ),
        "missed_opportunities": MissedOpportunities(
            customers=fn,
            share_of_purchasers=fn / purchasers if purchasers else 0.0,
            forgone_profit=forgone,
        ),
        "marketing_waste": MarketingWaste(
            customers=fp,
            share_of_contacted=fp / contacted if contacted else 0.0,
            wasted_cost=fp * params.contact_cost,
        ),
        # Profit(model) - profit(everyone): what skipping the untargeted earns.
        "model_vs_everyone": ModelVsEveryone(
            saved_contact_costs=tn * params.contact_cost,
            forgone_profit=forgone,
            profit_difference=tn * params.contact_cost - forgone,
        ),
    }


def strategies(counts: ConfusionCounts, params: BusinessParams) -> dict[str, Strategy]:
    """Profit of targeting the model's picks, contacting everyone and no one."""
    tp, total = counts.true_positives, counts.total
    purchasers = tp + counts.false_negatives
    return {
        "model": _strategy(tp, tp + counts.false_positives, total, params),
        "everyone": _strategy(purchasers, total, total, params),
        "no_one": _strategy(0, 0, total, params),
    }


def _strategy(
    reached: int, contacted: int, total: int, params: BusinessParams
) -> Strategy:
    value = params.conversion_value * reached
    cost = params.contact_cost * contacted
    return Strategy(
        customers_contacted=contacted,
        purchasers_reached=reached,
        attributed_value=value,
        contact_costs=cost,
        profit=value - cost,
        profit_per_1000_customers=(value - cost) * PER_CUSTOMERS / total,
    )


def best_depth(deciles: pd.DataFrame, total: int) -> CampaignDepth:
    """The number of top deciles whose contact makes the most profit."""
    best = int(deciles["cumulative_profit"].to_numpy().argmax())
    row = deciles.iloc[best]
    if row["cumulative_profit"] <= 0:
        return CampaignDepth(
            deciles=0,
            customers_contacted=0,
            profit=0.0,
            profit_per_1000_customers=0.0,
            min_probability=None,
        )
    return CampaignDepth(
        deciles=int(row["decile"]),
        customers_contacted=int(row["cumulative_customers"]),
        profit=float(row["cumulative_profit"]),
        profit_per_1000_customers=float(row["cumulative_profit"])
        * PER_CUSTOMERS
        / total,
        min_probability=float(row["min_probability"]),
    )
