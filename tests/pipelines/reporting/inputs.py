"""Hand-made inputs of the reporting nodes, in the types modelling gives them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from customer_purchase_prediction.columns import (
    FEATURE_COLUMNS,
    ID_COLUMN,
    LABEL_COLUMN,
    example_record,
)
from customer_purchase_prediction.pipelines.reporting.summaries import ModelMetrics

# Ten customers, already in order of probability. At threshold 0.55 the model
# targets the first four: three buyers (rows 0, 1, 3) and one non-buyer (row 2);
# it misses the buyer in row 6 and rightly skips five non-buyers.
PROBA = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
BOUGHT = np.array([1, 1, 0, 1, 0, 0, 1, 0, 0, 0])
THRESHOLD = 0.55
VERSION = "2026-01-01T00.00.00.000Z"
QUALITY_REPORT = {
    "source": "memory",
    "rows": {"in": 603, "kept": 600, "rejected": 3},
    "rejects_by_rule": {"time_spent:negative": 2, "customer_id:duplicated": 1},
    "rejects_by_column": {"time_spent": 2, "customer_id": 1},
    "missing_values": {"time_spent": {"count": 12, "share": 0.02}},
    "purchase_rate": 0.3,
}


def predictions(
    proba: np.ndarray = PROBA,
    bought: np.ndarray = BOUGHT,
    threshold: float = THRESHOLD,
    model: str = "logistic_regression",
    *,
    selected: bool = True,
) -> pd.DataFrame:
    """A test_predictions table for one model, session columns included."""
    record = example_record()
    return pd.DataFrame(
        {
            "model": model,
            "selected": selected,
            ID_COLUMN: np.arange(1, len(proba) + 1),
            **{column: record[column] for column in FEATURE_COLUMNS},
            LABEL_COLUMN: bought,
            "probability": proba,
            "threshold": threshold,
            "prediction": (proba >= threshold).astype(int),
        }
    )


def model_metrics(
    selection_metric: str = "f1", selected: str = "xgboost", **changes: Any
) -> ModelMetrics:
    """A small model_metrics report for two candidates, both contenders."""

    def entry(f1: float, auc: float, *, is_selected: bool) -> dict[str, Any]:
        test = {
            "accuracy": 0.8,
            "precision": 0.75,
            "recall": 0.75,
            "f1": f1,
            "roc_auc": auc,
            "average_precision": 0.85,
            "brier": 0.18,
            "log_loss": 0.55,
            "ece": 0.04,
            "profit": 1.5,
        }
        return {
            "selected": is_selected,
            "contender": True,
            "threshold": 0.55,
            "selection_score": f1 - 0.05,
            "cv": {m: {"mean": v - 0.05, "std": 0.02} for m, v in test.items()},
            "validation": test,
            "test": test,
            "test_interval": {m: [v - 0.1, min(v + 0.1, 1.0)] for m, v in test.items()},
        }

    report = {
        "selected_model": selected,
        "selection_metric": selection_metric,
        "contenders": ["logistic_regression", "xgboost"],
        "threshold": 0.55,
        "artifact_version": VERSION,
        "trained_at": "2026-01-01T00:00:00+00:00",
        "test_rows": 10,
        "test_purchasers": 4,
        "bootstrap": {
            "method": "percentile",
            "n_resamples": 1000,
            "confidence": 0.95,
            "seed": 42,
        },
        "calibration": {
            "brier_score": 0.2,
            "reference_brier_score": 0.24,
            "brier_skill_score": 1 / 6,
            "mean_probability": 0.455,
            "purchase_rate": 0.4,
            "mean_gap": 0.055,
            "bins": [
                {"mean_probability": 0.2, "purchase_rate": 0.2, "customers": 5},
                {"mean_probability": 0.7, "purchase_rate": 0.6, "customers": 5},
            ],
        },
        "models": {
            "logistic_regression": entry(
                0.75, 0.85, is_selected=selected == "logistic_regression"
            ),
            "xgboost": entry(0.74, 0.9, is_selected=selected == "xgboost"),
        },
    }
    return ModelMetrics.model_validate(report | changes)


def fitted_model(
    name: str = "logistic_regression", *, version: str | None = VERSION, **metadata: Any
) -> Any:
    """What the card reads of a loaded artifact: a fitted estimator and metadata."""
    rng = np.random.default_rng(0)
    matrix = rng.random((60, 3))
    estimator = LogisticRegression(class_weight="balanced").fit(
        matrix, (matrix[:, 0] > 0.5).astype(int)
    )
    return SimpleNamespace(
        name=name,
        estimator=estimator,
        threshold=THRESHOLD,
        version=version,
        metadata={
            "model_name": name,
            "estimator": "LogisticRegression",
            "hyperparameters": {"C": 1.0},
            "trained_at": "2026-01-01T00:00:00+00:00",
            "data_fingerprint": "ab" * 32,
            "training_rows": 420,
            "training_positive_rate": 0.3,
            "data_quality": QUALITY_REPORT,
            "library_versions": {"scikit-learn": "1.9.1", "kedro": "1.7.0"},
        }
        | metadata,
    )


def importance_table() -> pd.DataFrame:
    """A feature_importance table, highest permutation importance first."""
    return pd.DataFrame(
        {
            "feature": ["basket_intensity", "engagement_score", "time_spent"],
            "model_importance": [0.5, 0.3, 0.2],
            "importance_kind": "coefficient magnitude",
            "permutation_mean": [0.2, 0.1, 0.05],
            "permutation_std": [0.01, 0.01, 0.01],
        }
    )


def as_json(summary: Any) -> Any:
    """A typed summary as the JSON file holds it."""
    return summary.model_dump(mode="json")
