"""The deployable artifact: validated session columns in, purchase probability out.

One ``PurchaseModel`` is what training produces, what ``kedro run --pipelines=
inference`` loads and what ``PurchasePredictor`` wraps: the fitted feature
transformer and estimator (as a scikit-learn ``Pipeline``), the decision
threshold, the confidence bands and the training metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from xgboost import XGBClassifier

from customer_purchase_prediction.contract import ID_COLUMN
from customer_purchase_prediction.features import SessionFeatures

PREDICTION_COLUMNS: tuple[str, ...] = (
    ID_COLUMN,
    "purchase_prediction",
    "purchase_probability",
    "prediction_confidence",
)
CONFIDENCE_LEVELS: tuple[str, ...] = ("high", "medium", "low")


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
        """Purchase probability from the transformer's model matrix."""
        estimator = self.estimator
        if isinstance(estimator, XGBClassifier):
            # What XGBClassifier.predict_proba calls, without its wrapper overhead.
            proba = estimator.get_booster().inplace_predict(matrix)
        else:
            proba = estimator.predict_proba(matrix)[:, 1]
        return np.asarray(proba, dtype=np.float64)

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
