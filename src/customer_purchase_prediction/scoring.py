"""How each kind of fitted estimator turns a model matrix into probabilities.

Every scorer gives a row the same bits alone or in any batch: each row's
probability is computed on its own, in a fixed order of operations (BLAS and
threaded tree averaging would not guarantee that). Tree models also compile
their trees with treelite for single records and small batches, with the same
bits (``tests/test_model.py``). The candidate registry (``candidates.py``) names
the scorer of each candidate; nothing else asks what an estimator is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import treelite
import treelite.sklearn
from scipy.special import expit, logit

from customer_purchase_prediction import treelite_adapter

_FOREST_CHUNK = 50_000


@dataclass(frozen=True)
class CompiledTrees:
    """A tree model compiled by treelite, for single records and small batches.

    Attributes:
        model: The treelite model. For boosted trees its base score is zeroed,
            so it gives the trees' sum on its own.
        base_margin: The boosted trees' base margin; ``None`` for a random
            forest, whose compiled output is already the averaged class shares.
    """

    model: treelite.Model
    base_margin: float | None
    input_dtype: type[np.floating] = np.float32


@dataclass(frozen=True)
class CompiledBlend:
    """A weighted ensemble for single records and small batches.

    Attributes:
        members: Per member, in the ensemble's order: its weight, its
            candidate's scorer, the fitted member, and its compiled trees
            (``None``: the scorer's batch path, e.g. a linear model's).
    """

    members: tuple[tuple[float, Scorer, Any, CompiledTrees | None], ...]


class Scorer:
    """The generic scorer: the estimator's own ``predict_proba``, no compiled path."""

    def batch(self, estimator: Any, matrix: np.ndarray) -> np.ndarray:
        """Positive-class probabilities of the rows of ``matrix``."""
        return np.asarray(estimator.predict_proba(matrix)[:, 1], dtype=np.float64)

    def compile(self, estimator: Any) -> CompiledTrees | CompiledBlend | None:
        """The estimator's trees compiled by treelite, or None."""
        return None

    def bare(self, estimator: Any) -> Callable[[np.ndarray], Any]:
        """The estimator's own fastest predict (what benchmarks compare with)."""
        return estimator.predict_proba


class LinearScorer(Scorer):
    """A binary linear model: each row's margin summed on its own, then the logit."""

    def batch(self, estimator: Any, matrix: np.ndarray) -> np.ndarray:
        """Positive-class probabilities without BLAS (whose sums depend on the batch)."""
        margin = (matrix * estimator.coef_[0]).sum(axis=1) + estimator.intercept_[0]
        return expit(margin)


class ForestScorer(Scorer):
    """A binary scikit-learn random forest: leaf shares averaged tree by tree."""

    def batch(self, estimator: Any, matrix: np.ndarray) -> np.ndarray:
        """The forest's averaged positive-class shares, bit for bit one-core.

        Bit for bit what ``predict_proba`` gives with ``n_jobs=1``
        (``tests/test_model.py``): a leaf's share is its stored positive value
        over the sum of its values, as a tree's ``predict_proba`` normalises
        them, computed once per leaf instead of once per row; each row sums its
        trees in the same order. Large batches are split into row chunks scored
        on all cores.
        """
        check_width(matrix, estimator.n_features_in_)  # the trees do not check
        rows = np.ascontiguousarray(matrix, dtype=np.float32)
        trees = [tree.tree_ for tree in estimator.estimators_]
        shares = [_leaf_shares(tree, estimator.n_classes_) for tree in trees]

        def chunk_proba(chunk: np.ndarray) -> np.ndarray:
            total = np.zeros(len(chunk))
            for tree, share in zip(trees, shares, strict=True):
                total += share[tree.apply(chunk)]
            return total / len(trees)

        if len(rows) <= _FOREST_CHUNK:
            return chunk_proba(rows)
        chunks = np.array_split(rows, -(-len(rows) // _FOREST_CHUNK))
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            return np.concatenate(list(pool.map(chunk_proba, chunks)))

    def compile(self, estimator: Any) -> CompiledTrees | None:
        """The forest compiled by treelite (binary forests only)."""
        if estimator.n_classes_ != 2:  # noqa: PLR2004
            return None
        model = treelite.sklearn.import_model(estimator)
        return CompiledTrees(model, None, np.dtype(model.input_type).type)


class BoostedTreesScorer(Scorer):
    """XGBoost: the trees' float32 sum on its own, plus the base margin, logistic.

    XGBoost starts its sum from the base margin, which treelite would add last;
    both paths therefore take the trees' sum with a zero base margin and add
    the base margin in one float64 logistic function.
    """

    def batch(self, estimator: Any, matrix: np.ndarray) -> np.ndarray:
        """Positive-class probabilities from the booster's ``inplace_predict``."""
        booster = estimator.get_booster()
        tree_sums = booster.inplace_predict(
            matrix, predict_type="margin", base_margin=np.zeros(len(matrix))
        )
        return _logistic(tree_sums, base_margin(booster))

    def compile(self, estimator: Any) -> CompiledTrees | None:
        """The booster compiled by treelite, its base score zeroed."""
        booster = estimator.get_booster()
        model = treelite.frontend.from_xgboost(booster)
        header = model.get_header_accessor()
        header.set_field("base_scores", np.zeros_like(header.get_field("base_scores")))
        return CompiledTrees(
            model, base_margin(booster), np.dtype(model.input_type).type
        )

    def bare(self, estimator: Any) -> Callable[[np.ndarray], Any]:
        """The bare booster's ``inplace_predict``."""
        return estimator.get_booster().inplace_predict


class EnsembleScorer(Scorer):
    """A weighted ensemble: each member scored by its own candidate's scorer.

    The members' probabilities are added one after the other, in the ensemble's
    order, each times its weight: row-independent because every member's is.

    Args:
        scorer_of: The scorer of a candidate, by name (the registry's lookup).
    """

    def __init__(self, scorer_of: Callable[[str], Scorer]) -> None:
        self.scorer_of = scorer_of

    def batch(self, estimator: Any, matrix: np.ndarray) -> np.ndarray:
        """``sum(weights_ * member probabilities)``, member by member."""
        total = np.zeros(len(matrix))
        for (name, member), weight in zip(
            estimator.estimators_, estimator.weights_, strict=True
        ):
            total += float(weight) * self.scorer_of(name).batch(member, matrix)
        return total

    def compile(self, estimator: Any) -> CompiledBlend:
        """Each member's compiled trees (where it has them), for small batches."""
        members = []
        for (name, member), weight in zip(
            estimator.estimators_, estimator.weights_, strict=True
        ):
            scorer = self.scorer_of(name)
            members.append((float(weight), scorer, member, scorer.compile(member)))
        return CompiledBlend(tuple(members))


def base_margin(booster: Any) -> float:
    """The margin every XGBoost prediction starts from (its base score as a logit)."""
    config = json.loads(booster.save_config())["learner"]["learner_model_param"]
    return float(logit(float(config["base_score"].strip("[]"))))


def compiled_proba(
    compiled: CompiledTrees | CompiledBlend, matrix: np.ndarray
) -> np.ndarray:
    """Positive-class probabilities from compiled trees, on one thread.

    Bit for bit what the scorer's ``batch`` gives (``tests/test_model.py``): the
    features are rounded to float32 first, as XGBoost and scikit-learn's trees
    compare them, and each row sums its trees in the same order. A blend adds
    its members' probabilities in the order and with the weights its batch
    path uses.
    """
    if isinstance(compiled, CompiledBlend):
        total = np.zeros(len(matrix))
        for weight, scorer, member, trees in compiled.members:
            part = (
                scorer.batch(member, matrix)
                if trees is None
                else compiled_proba(trees, matrix)
            )
            total += weight * part
        return total
    # treelite would pad or drop columns; the adapter refuses a wrong width.
    features = np.asarray(matrix, dtype=np.float32)
    if compiled.input_dtype is not np.float32:
        features = features.astype(compiled.input_dtype)
    if compiled.base_margin is None:
        shares = treelite_adapter.predict(compiled.model, features, margin=False)
        return shares.reshape(len(features), -1)[:, -1].astype(np.float64)
    tree_sums = treelite_adapter.predict(compiled.model, features, margin=True)
    return _logistic(tree_sums.reshape(len(features)), compiled.base_margin)


def check_width(matrix: np.ndarray, expected: int) -> None:
    """Refuse a model matrix with other than ``expected`` columns."""
    if matrix.shape[1] != expected:
        raise ValueError(
            f"the model matrix has {matrix.shape[1]} columns; the model expects "
            f"{expected}"
        )


def _logistic(tree_sums: np.ndarray, margin: float) -> np.ndarray:
    """XGBoost's probability from the trees' float32 sums and its base margin."""
    return expit(np.asarray(tree_sums, dtype=np.float64) + margin)


def _leaf_shares(tree: Any, n_classes: int) -> np.ndarray:
    """Per node, the positive class's share of the node's class values."""
    values = tree.value[:, 0, :n_classes]
    normaliser = values.sum(axis=1)
    normaliser[normaliser == 0.0] = 1.0
    return values[:, 1] / normaliser
