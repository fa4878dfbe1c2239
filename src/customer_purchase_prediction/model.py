"""The deployable artifact: validated session columns in, purchase probability out.

One ``PurchaseModel`` is what training produces, what ``kedro run --pipelines=
inference`` loads and what ``PurchasePredictor`` wraps: the fitted feature
transformer and estimator (as a scikit-learn ``Pipeline``), the decision
threshold, the confidence bands and the training metadata.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from xgboost import Booster, XGBClassifier

from customer_purchase_prediction.contract import ID_COLUMN
from customer_purchase_prediction.features import SessionFeatures

PREDICTION_COLUMNS: tuple[str, ...] = (
    ID_COLUMN,
    "purchase_prediction",
    "purchase_probability",
    "prediction_confidence",
)
CONFIDENCE_LEVELS: tuple[str, ...] = ("high", "medium", "low")
_FOREST_CHUNK = 50_000
_SMALL_BATCH = 64


class PurchaseModel:
    """A fitted feature transformer and classifier with threshold and metadata.

    Args:
        pipeline: ``Pipeline([("features", SessionFeatures), ("model", clf)])``.
        threshold: Probability at or above which a session is predicted to buy.
        confidence_margins: ``(high, medium)`` distances of the probability from
            the threshold: at least ``high`` is high confidence, at least
            ``medium`` medium, anything closer low.
        metadata: Model name, training time, data fingerprint, metrics, versions.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        threshold: float,
        confidence_margins: tuple[float, float],
        metadata: dict[str, Any],
    ) -> None:
        self.pipeline = pipeline
        self.threshold = threshold
        self.confidence_margins = confidence_margins
        self.metadata = metadata
        # Set by ModelArtifactDataset on load: the Kedro version of the artifact.
        self.version: str | None = None

    @property
    def features(self) -> SessionFeatures:
        """The fitted feature transformer."""
        return self.pipeline.named_steps["features"]

    @property
    def estimator(self) -> Any:
        """The fitted classifier."""
        return self.pipeline.named_steps["model"]

    @property
    def name(self) -> str:
        """The candidate this model was built from, e.g. ``xgboost``."""
        return str(self.metadata.get("model_name", type(self.estimator).__name__))

    def predict_proba(self, sessions: pd.DataFrame) -> np.ndarray:
        """Purchase probability of each validated session."""
        return self.predict_proba_matrix(self.features.transform(sessions))

    def predict_proba_columns(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Purchase probability from validated column arrays (no DataFrame)."""
        return self.predict_proba_matrix(self.features.transform_columns(columns))

    def predict_proba_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """Purchase probability from the transformer's model matrix.

        Each row's probability is computed on its own, in a fixed order of
        operations, so a session gets the same bits alone or in any batch (BLAS
        and threaded tree averaging would not guarantee that).
        """
        if len(matrix) <= _SMALL_BATCH and isinstance(self.estimator, XGBClassifier):
            # Threads only cost time on a few rows; the per-row sums are the same.
            return _booster_proba(self._single_thread_booster(), matrix)
        return row_independent_proba(self.estimator, matrix)

    def _single_thread_booster(self) -> Booster:
        booster = self.__dict__.get("_small_booster")
        if booster is None:
            booster = self.estimator.get_booster().copy()
            booster.set_param({"nthread": 1})
            self.__dict__["_small_booster"] = booster
        return booster

    def __getstate__(self) -> dict[str, Any]:
        # The single-thread booster is a cache, rebuilt on first use.
        return {k: v for k, v in self.__dict__.items() if k != "_small_booster"}

    def label(self, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """0/1 predictions and confidence levels for probabilities."""
        margin = np.abs(proba - self.threshold)
        high, medium = self.confidence_margins
        confidence = np.select(
            [margin >= high, margin >= medium],
            CONFIDENCE_LEVELS[:2],
            CONFIDENCE_LEVELS[2],
        )
        return (proba >= self.threshold).astype(np.int64), confidence.astype(object)

    def score(self, sessions: pd.DataFrame) -> pd.DataFrame:
        """Predictions for validated sessions, in their order."""
        proba = self.predict_proba(sessions)
        prediction, confidence = self.label(proba)
        return pd.DataFrame(
            {
                ID_COLUMN: sessions[ID_COLUMN].to_numpy(),
                "purchase_prediction": prediction,
                "purchase_probability": proba,
                "prediction_confidence": pd.array(confidence, dtype="str"),
            }
        )

    def __repr__(self) -> str:
        return (
            f"PurchaseModel(model={self.name!r}, threshold={self.threshold}, "
            f"trained_at={self.metadata.get('trained_at')!r})"
        )


def row_independent_proba(estimator: Any, matrix: np.ndarray) -> np.ndarray:
    """Positive-class probabilities whose value for a row never depends on the batch."""
    if isinstance(estimator, XGBClassifier):
        # What XGBClassifier.predict_proba calls, without its wrapper overhead.
        return np.asarray(
            estimator.get_booster().inplace_predict(matrix), dtype=np.float64
        )
    if isinstance(estimator, LogisticRegression) and estimator.coef_.shape[0] == 1:
        margin = (matrix * estimator.coef_[0]).sum(axis=1) + estimator.intercept_[0]
        return expit(margin)
    if isinstance(estimator, RandomForestClassifier):
        return _forest_proba(estimator, np.ascontiguousarray(matrix, dtype=np.float32))
    return np.asarray(estimator.predict_proba(matrix)[:, 1], dtype=np.float64)


def _booster_proba(booster: Booster, matrix: np.ndarray) -> np.ndarray:
    """What ``XGBClassifier.predict_proba`` computes, without its wrapper overhead."""
    return np.asarray(booster.inplace_predict(matrix), dtype=np.float64)


def _forest_proba(forest: RandomForestClassifier, matrix: np.ndarray) -> np.ndarray:
    """The forest's averaged class shares, accumulated tree by tree in order.

    Bit for bit what ``predict_proba`` gives with ``n_jobs=1``; large batches
    are split into row chunks scored on all cores (each row still sums its
    trees in the same order).
    """
    if len(matrix) > _FOREST_CHUNK:
        chunks = np.array_split(matrix, -(-len(matrix) // _FOREST_CHUNK))
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            return np.concatenate(
                list(pool.map(partial(_forest_proba, forest), chunks))
            )
    total = np.zeros((len(matrix), forest.n_classes_))
    for tree in forest.estimators_:
        shares = tree.tree_.predict(matrix)[:, : forest.n_classes_]
        normaliser = shares.sum(axis=1)[:, np.newaxis]
        normaliser[normaliser == 0.0] = 1.0
        total += shares / normaliser
    return (total / len(forest.estimators_))[:, 1]
