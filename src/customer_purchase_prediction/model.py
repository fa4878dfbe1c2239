"""The deployable artifact: validated session columns in, purchase probability out.

One ``PurchaseModel`` is what training produces, what ``kedro run --pipelines=
inference`` loads and what ``PurchasePredictor`` wraps: the fitted feature
transformer and estimator (as a scikit-learn ``Pipeline``), the decision
threshold, the confidence bands and the training metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from customer_purchase_prediction.calibration import ProbabilityCalibrator
from customer_purchase_prediction.candidates import registry
from customer_purchase_prediction.columns import ID_COLUMN
from customer_purchase_prediction.features import SessionFeatures
from customer_purchase_prediction.scoring import (
    CompiledBlend,
    CompiledTrees,
    Scorer,
    compiled_proba,
)

CONFIDENCE_LEVELS: tuple[str, ...] = ("high", "medium", "low")
_CONFIDENCE = np.array(CONFIDENCE_LEVELS, dtype=object)
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
        calibrator: Maps the estimator's raw probability to a calibrated one,
            row by row (``calibration.py``); ``None``: uncalibrated.
        reference_profile: The training data's profile for drift monitoring
            (``drift.build_profile``); ``None``: not monitored.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        threshold: float,
        confidence_margins: tuple[float, float],
        metadata: dict[str, Any],
        calibrator: ProbabilityCalibrator | None = None,
        reference_profile: dict[str, Any] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.threshold = threshold
        self.confidence_margins = confidence_margins
        self.metadata = metadata
        self.calibrator = calibrator
        self.reference_profile = reference_profile

    # Artifacts saved before calibration existed load without the attribute.
    calibrator: ProbabilityCalibrator | None = None
    # What drift monitoring compares batches with (drift.build_profile): plain
    # dicts, lists and floats. Older artifacts load without it (None).
    reference_profile: dict[str, Any] | None = None

    # Set on load (artifact.py), never saved: the Kedro version of the artifact
    # and what the manifest records of its file (path, SHA-256, format).
    version: str | None = None
    artifact: Mapping[str, Any] | None = None

    @property
    def features(self) -> SessionFeatures:
        """The fitted feature transformer."""
        return self._step("features")

    @property
    def estimator(self) -> Any:
        """The fitted classifier."""
        return self._step("model")

    def _step(self, name: str) -> Any:
        # The pipeline's step by name; named_steps builds a Bunch of all steps
        # on every call, a cost a single record pays several times.
        for step, estimator in self.pipeline.steps:
            if step == name:
                return estimator
        raise KeyError(f"the model's pipeline has no step {name!r}")

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
        """Calibrated purchase probability from the transformer's model matrix.

        The raw probability (``raw_proba_matrix``) mapped row by row by the
        calibrator, so every row stays independent of its batch.
        """
        raw = self.raw_proba_matrix(matrix)
        return raw if self.calibrator is None else self.calibrator.transform(raw)

    def raw_proba_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """The estimator's own (uncalibrated) probability from the model matrix.

        Each row's probability is computed on its own, in a fixed order of
        operations, so a session gets the same bits alone or in any batch (BLAS
        and threaded tree averaging would not guarantee that). A single record
        or a small batch of a tree model goes to the compiled trees, which give
        the same bits without the per-call cost of the estimator's own predictor.
        """
        if 0 < len(matrix) <= _SMALL_BATCH and self.compiled_trees is not None:
            return compiled_proba(self.compiled_trees, matrix)
        return self.scorer.batch(self.estimator, matrix)

    @cached_property
    def scorer(self) -> Scorer:
        """How this model's candidate scores (``candidates.py``)."""
        return scorer_of(self.name)

    @cached_property
    def compiled_trees(self) -> CompiledTrees | CompiledBlend | None:
        """The tree model compiled by treelite, or ``None`` for other estimators.

        Built on first use and never pickled: about 20 ms for the project's
        models, up to about 0.4 s for a 200-tree forest with one-row leaves
        fitted on 50,000 rows. A cache of ``pipeline``: replacing or refitting
        the pipeline in place needs a new ``PurchaseModel``.
        """
        return self.scorer.compile(self.estimator)

    def __getstate__(self) -> dict[str, Any]:
        # The scorer and compiled trees are caches, rebuilt on first use; the
        # version and artifact record where it was loaded from, not what it is.
        return {
            k: v
            for k, v in self.__dict__.items()
            if k not in ("compiled_trees", "scorer", "version", "artifact")
        }

    def label(self, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """0/1 predictions and confidence levels for probabilities."""
        margin = np.abs(proba - self.threshold)
        high, medium = self.confidence_margins
        # 0 (high) when at least `high` away, 1 (medium) when at least `medium`,
        # else 2 (low).
        # (NaN, which validated input never gives, would count as low.)
        level = 2 - (margin >= medium).astype(np.int8) - (margin >= high)
        return (proba >= self.threshold).astype(np.int64), _CONFIDENCE[level]

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


def scorer_of(name: str) -> Scorer:
    """How candidate ``name`` scores (the generic scorer for an unregistered one)."""
    candidate = registry().get(name)
    return candidate.scorer if candidate is not None else Scorer()


def pipeline_proba(
    name: str,
    pipeline: Pipeline,
    sessions: pd.DataFrame,
    calibrator: ProbabilityCalibrator | None = None,
) -> np.ndarray:
    """A fitted candidate pipeline's probabilities, as the artifact computes them
    (raw, or calibrated by ``calibrator``)."""
    raw = scorer_of(name).batch(pipeline[-1], pipeline[:-1].transform(sessions))
    return raw if calibrator is None else calibrator.transform(raw)
