"""The deployable artifact: validated session columns in, purchase probability out.

One ``PurchaseModel`` is what training produces, what ``kedro run --pipelines=
inference`` loads and what ``PurchasePredictor`` wraps: the fitted feature
transformer and estimator (as a scikit-learn ``Pipeline``), the decision
threshold, the confidence bands and the training metadata.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

import numpy as np
import pandas as pd
import treelite
import treelite.gtil
import treelite.sklearn
from scipy.special import expit, logit
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
_CONFIDENCE = np.array(CONFIDENCE_LEVELS, dtype=object)
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
        and threaded tree averaging would not guarantee that). A single record
        or a small batch of a tree model goes to the compiled trees, which give
        the same bits without the per-call cost of the estimator's own predictor.
        """
        if 0 < len(matrix) <= _SMALL_BATCH and self.compiled_trees is not None:
            return compiled_proba(self.compiled_trees, matrix)
        return row_independent_proba(self.estimator, matrix)

    @cached_property
    def compiled_trees(self) -> CompiledTrees | None:
        """The tree model compiled by treelite, or ``None`` for other estimators.

        Built on first use and never pickled: about 20 ms for the project's
        models, up to about 0.4 s for a 200-tree forest with one-row leaves
        fitted on 50,000 rows. A cache of ``pipeline``: replacing or refitting
        the pipeline in place needs a new ``PurchaseModel``.
        """
        return compile_trees(self.estimator)

    def __getstate__(self) -> dict[str, Any]:
        # The compiled trees are a cache of the estimator, rebuilt on first use.
        return {k: v for k, v in self.__dict__.items() if k != "compiled_trees"}

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


def row_independent_proba(estimator: Any, matrix: np.ndarray) -> np.ndarray:
    """Positive-class probabilities whose value for a row never depends on the batch."""
    if isinstance(estimator, XGBClassifier):
        booster = estimator.get_booster()
        # The trees' sum on its own (XGBoost adds it to the base margin it
        # starts from, which treelite would add last), then our logistic.
        tree_sums = booster.inplace_predict(
            matrix, predict_type="margin", base_margin=np.zeros(len(matrix))
        )
        return _logistic(tree_sums, xgboost_base_margin(booster))
    if isinstance(estimator, LogisticRegression) and estimator.coef_.shape[0] == 1:
        margin = (matrix * estimator.coef_[0]).sum(axis=1) + estimator.intercept_[0]
        return expit(margin)
    if isinstance(estimator, RandomForestClassifier):
        _check_width(matrix, estimator.n_features_in_)  # the trees do not check
        return _forest_proba(estimator, np.ascontiguousarray(matrix, dtype=np.float32))
    return np.asarray(estimator.predict_proba(matrix)[:, 1], dtype=np.float64)


def pipeline_proba(pipeline: Pipeline, sessions: pd.DataFrame) -> np.ndarray:
    """A fitted candidate pipeline's probabilities, as the artifact computes them."""
    return row_independent_proba(pipeline[-1], pipeline[:-1].transform(sessions))


def xgboost_base_margin(booster: Booster) -> float:
    """The margin every XGBoost prediction starts from (its base score as a logit)."""
    config = json.loads(booster.save_config())["learner"]["learner_model_param"]
    return float(logit(float(config["base_score"].strip("[]"))))


@dataclass(frozen=True)
class CompiledTrees:
    """A tree model compiled by treelite, for single records and small batches.

    Attributes:
        model: The treelite model. For XGBoost its base score is zeroed, so it
            gives the trees' sum on its own.
        base_margin: XGBoost's base margin; ``None`` for a random forest, whose
            compiled output is already the averaged class shares.
    """

    model: treelite.Model
    base_margin: float | None
    input_dtype: type[np.floating] = np.float32


def compile_trees(estimator: Any) -> CompiledTrees | None:
    """Compile an XGBoost or binary random forest classifier with treelite."""
    if isinstance(estimator, XGBClassifier):
        booster = estimator.get_booster()
        model = treelite.frontend.from_xgboost(booster)
        header = model.get_header_accessor()
        header.set_field("base_scores", np.zeros_like(header.get_field("base_scores")))
        return CompiledTrees(
            model, xgboost_base_margin(booster), np.dtype(model.input_type).type
        )
    if isinstance(estimator, RandomForestClassifier) and estimator.n_classes_ == 2:  # noqa: PLR2004
        model = treelite.sklearn.import_model(estimator)
        return CompiledTrees(model, None, np.dtype(model.input_type).type)
    return None


def compiled_proba(compiled: CompiledTrees, matrix: np.ndarray) -> np.ndarray:
    """Positive-class probabilities from compiled trees, on one thread.

    Bit for bit what ``row_independent_proba`` gives (``tests/test_model.py``):
    the features are rounded to float32 first, as XGBoost and scikit-learn's
    trees compare them, and each row sums its trees in the same order.
    """
    _check_width(matrix, compiled.model.num_feature)  # treelite would pad or drop
    features = np.asarray(matrix, dtype=np.float32)
    if compiled.input_dtype is not np.float32:
        features = features.astype(compiled.input_dtype)
    if compiled.base_margin is None:
        shares = _gtil_predict(compiled.model, features, margin=False)
        return shares.reshape(len(features), -1)[:, -1].astype(np.float64)
    tree_sums = _gtil_predict(compiled.model, features, margin=True)
    return _logistic(tree_sums.reshape(len(features)), compiled.base_margin)


@cache
def _gtil_config(predict_type: str) -> Any:
    """treelite's prediction settings, parsed once (one thread)."""
    return treelite.gtil.gtil.GTILConfig(nthread=1, predict_type=predict_type)


def _gtil_predict(model: treelite.Model, features: np.ndarray, *, margin: bool) -> Any:
    """``treelite.gtil.predict(model, features, nthread=1, pred_margin=margin)``.

    The public function builds and parses its settings from JSON on every call,
    a third of its cost on one row; this passes settings parsed once to the
    function it wraps (treelite is pinned, and ``tests/test_model.py`` checks
    the bits against the estimators).
    """
    config = _gtil_config("raw" if margin else "default")
    return treelite.gtil.gtil._predict_impl(model, features, config=config)


def _check_width(matrix: np.ndarray, expected: int) -> None:
    """Refuse a model matrix with other than ``expected`` columns."""
    if matrix.shape[1] != expected:
        raise ValueError(
            f"the model matrix has {matrix.shape[1]} columns; the model expects "
            f"{expected}"
        )


def _logistic(tree_sums: np.ndarray, base_margin: float) -> np.ndarray:
    """XGBoost's probability from the trees' float32 sums and its base margin."""
    return expit(np.asarray(tree_sums, dtype=np.float64) + base_margin)


def _forest_proba(forest: RandomForestClassifier, matrix: np.ndarray) -> np.ndarray:
    """The forest's averaged positive-class shares, accumulated tree by tree in order.

    Bit for bit what ``predict_proba`` gives with ``n_jobs=1``
    (``tests/test_model.py``): a leaf's share is its stored positive value over
    the sum of its values, as a tree's ``predict_proba`` normalises them
    (scikit-learn stores class fractions, which this leaves as they are),
    computed once per leaf instead of once per row; each row sums its trees in
    the same order. Large batches are split into row chunks scored on all cores.
    """
    shares = [
        _leaf_shares(tree.tree_, forest.n_classes_) for tree in forest.estimators_
    ]
    trees = [tree.tree_ for tree in forest.estimators_]

    def chunk_proba(rows: np.ndarray) -> np.ndarray:
        total = np.zeros(len(rows))
        for tree, share in zip(trees, shares, strict=True):
            total += share[tree.apply(rows)]
        return total / len(trees)

    if len(matrix) <= _FOREST_CHUNK:
        return chunk_proba(matrix)
    chunks = np.array_split(matrix, -(-len(matrix) // _FOREST_CHUNK))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return np.concatenate(list(pool.map(chunk_proba, chunks)))


def _leaf_shares(tree: Any, n_classes: int) -> np.ndarray:
    """Per node, the positive class's share of the node's class values."""
    values = tree.value[:, 0, :n_classes]
    normaliser = values.sum(axis=1)
    normaliser[normaliser == 0.0] = 1.0
    return values[:, 1] / normaliser
