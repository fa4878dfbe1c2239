"""The candidate registry: each candidate model declared once.

A ``Candidate`` says everything the project needs to know about one model: its
name and display name, the estimator class and the settings the project fixes,
its default hyperparameters and search space, how it handles class imbalance,
how it is parallelised, how it scores (batch and compiled small-batch paths),
what its own importance means and how many trees it holds. Parameters, tuning,
the artifact, reporting, plots and benchmarks ask the registry; nothing else
branches on a candidate's name or type.

Adding a candidate is one ``register(Candidate(...))`` call (see
``tests/test_candidates.py``, which registers scikit-learn's
``HistGradientBoostingClassifier`` and trains and reports with it). Parameters in
``modelling.candidates.<name>`` override its defaults and space key by key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import xgboost
from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from customer_purchase_prediction import contributions as contribution_kinds
from customer_purchase_prediction.contributions import Contributions
from customer_purchase_prediction.distributed_fits import boosted_dask_fit
from customer_purchase_prediction.estimators import (
    EarlyStoppedXGBClassifier,
    WeightedEnsemble,
)
from customer_purchase_prediction.scoring import (
    BoostedTreesScorer,
    EnsembleScorer,
    ForestScorer,
    LinearScorer,
    Scorer,
)


def balanced_class_weight(positive_share: float) -> dict[str, Any]:
    """scikit-learn's ``class_weight="balanced"``: both classes weigh the same."""
    return {"class_weight": "balanced"}


def positive_weight(positive_share: float) -> dict[str, Any]:
    """XGBoost's ``scale_pos_weight`` = negatives / positives."""
    return {"scale_pos_weight": (1 - positive_share) / positive_share}


def no_balance(positive_share: float) -> dict[str, Any]:
    """Nothing to weigh: a blend inherits its members' class handling."""
    return {}


@dataclass(frozen=True)
class Importance:
    """What a fitted estimator's own importance of each model-matrix column means.

    Attributes:
        kind: In words, e.g. ``"gain"``; quoted on the plots and the model card.
        values: The raw importance of each column of a fitted estimator.
    """

    kind: str
    values: Callable[[Any], np.ndarray]


def _coefficients(estimator: Any) -> np.ndarray:
    return np.abs(np.ravel(estimator.coef_))


def _feature_importances(estimator: Any) -> np.ndarray:
    return np.asarray(estimator.feature_importances_)


# How a candidate explains a row: (fitted estimator, model matrix, the mean
# training row) -> each column's exact contribution (contributions.py).
ContributionsOf = Callable[[Any, np.ndarray, np.ndarray], Contributions]


def linear_contributions(
    estimator: Any, matrix: np.ndarray, reference: np.ndarray
) -> Contributions:
    """A linear model: ``coef * (value - reference)``, in log-odds."""
    return contribution_kinds.linear(estimator, matrix, reference)


def forest_contributions(
    estimator: Any, matrix: np.ndarray, reference: np.ndarray
) -> Contributions:
    """A random forest: the exact tree-path decomposition, in probability."""
    return contribution_kinds.forest(estimator, matrix)


def boosted_contributions(
    estimator: Any, matrix: np.ndarray, reference: np.ndarray
) -> Contributions:
    """XGBoost: the booster's own path contributions, in log-odds."""
    return contribution_kinds.boosted_trees(estimator, matrix)


def blend_contributions(
    estimator: Any, matrix: np.ndarray, reference: np.ndarray
) -> Contributions:
    """A weighted blend (``estimators_``, ``weights_``): each member's
    contributions on the probability scale, times its weight, summed; exact
    for the blend's probability, ``sum(weights_ * member probabilities)``."""
    parts = [
        get_candidate(name)
        .contributions_of(member, matrix, reference)
        .to_probability()
        .weighted(float(weight))
        for (name, member), weight in zip(
            estimator.estimators_, estimator.weights_, strict=True
        )
    ]
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def fitted_tree_type() -> type:
    """The class of a fitted scikit-learn tree's ``tree_`` (a Cython type that
    scikit-learn exports under no public name)."""
    return type(DecisionTreeClassifier().fit([[0.0], [1.0]], [0, 1]).tree_)


def forest_trees(estimator: Any) -> int:
    """Trees in a fitted forest."""
    return len(estimator.estimators_)


def boosted_trees(estimator: Any) -> int:
    """Trees in a fitted binary XGBoost model (after early stopping)."""
    rounds = estimator.get_booster().num_boosted_rounds()
    return int(rounds * (estimator.num_parallel_tree or 1))


@dataclass(frozen=True)
class Candidate:
    """One candidate model and everything the project needs to know about it.

    Attributes:
        name: The key in parameters, reports and the artifact, e.g. ``xgboost``.
        display_name: As people say it, e.g. ``XGBoost``.
        estimator: The estimator class (its factory).
        library: The module whose version the artifact records.
        fixed: Settings the project fixes; the search never changes them.
        defaults: Default hyperparameters (parameters may override them).
        space: Default search space: a list of values, or a distribution
            ``{distribution: uniform|loguniform|randint, low, high}``.
        balance: The settings that weigh the classes equally, given the share
            of purchasers (``modelling.class_weighting``).
        threads: The estimator's thread-count parameter, if it has one.
        parallel_over_folds: Whether cross-validation runs one fold per core
            (single fits that parallelise poorly on small data) rather than
            giving each fit every core.
        scorer: How it turns a model matrix into probabilities.
        importance: What its own importance means, or None if it has none
            (the reports then show permutation importance only).
        trees: How many trees a fitted estimator holds, or None if it has none.
        artifact_types: Types a fitted estimator holds beyond its own class
            and scikit-learn's standard ones, which the artifact format
            (skops, ``artifact.py``) must be told to trust: the types, or
            their names as ``module.QualifiedName``.
        contributions: How it splits a row's score exactly over the model
            matrix's columns (the reasons behind a prediction), or None if it
            cannot be explained.
        blends: Whether it is a blend of the other tuned candidates rather than
            a model of its own: it is not searched; its weights are chosen on
            the other candidates' out-of-fold probabilities
            (``estimators.greedy_weights``) and it is built from their fitted
            estimators with ``estimator.from_fitted(members, weights)``.
    """

    name: str
    display_name: str
    estimator: type[BaseEstimator]
    library: str
    fixed: Mapping[str, Any] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    space: Mapping[str, Any] = field(default_factory=dict)
    balance: Callable[[float], dict[str, Any]] = balanced_class_weight
    threads: str | None = None
    parallel_over_folds: bool = False
    scorer: Scorer = field(default_factory=Scorer)
    importance: Importance | None = None
    trees: Callable[[Any], int] | None = None
    artifact_types: tuple[type | str, ...] = ()
    contributions: ContributionsOf | None = None
    blends: bool = False
    distributed_fit: Callable[[Any, Any, Any], Any] | None = None

    def build(
        self,
        params: Mapping[str, Any],
        *,
        seed: int,
        n_jobs: int,
        positive_share: float | None = None,
    ) -> BaseEstimator:
        """An unfitted estimator with the given hyperparameters.

        Args:
            params: Hyperparameters (defaults merged with a searched configuration).
            seed: Random state of the estimator.
            n_jobs: Threads the estimator may use.
            positive_share: Share of purchasers in the training labels. When
                given, classes are weighted so both count equally.
        """
        settings: dict[str, Any] = {**self.fixed, **params}
        settings.setdefault("random_state", seed)
        if self.threads is not None:
            settings.setdefault(self.threads, n_jobs)
        if positive_share is not None:
            for key, value in self.balance(positive_share).items():
                settings.setdefault(key, value)
        return self.estimator(**settings)

    def class_weighted(self, estimator: Any) -> bool:
        """Whether a fitted estimator was trained with the classes weighted."""
        neutral = self.estimator().get_params()
        return any(
            estimator.get_params().get(key) != neutral.get(key)
            for key in self.balance(0.5)
        )

    def importance_shares(self, estimator: Any) -> np.ndarray | None:
        """The estimator's own importance of each column, as shares of the total."""
        if self.importance is None:
            return None
        raw = np.asarray(self.importance.values(estimator), dtype=float)
        total = float(raw.sum())
        return raw / total if total > 0 else raw

    def contributions_of(
        self, estimator: Any, matrix: np.ndarray, reference: np.ndarray
    ) -> Contributions:
        """Each model-matrix column's exact contribution to each row's score.

        Raises:
            ValueError: the candidate declares no way to explain its scores.
        """
        if self.contributions is None:
            raise ValueError(
                f"candidate '{self.name}' declares no contributions, so its "
                "scores cannot be explained; give its Candidate a contributions "
                "function (candidates.py)"
            )
        return self.contributions(estimator, matrix, reference)

    def tree_count(self, estimator: Any) -> int | None:
        """Trees in a fitted estimator, or None for a model without trees."""
        return None if self.trees is None else int(self.trees(estimator))


_REGISTRY: dict[str, Candidate] = {}


def register(candidate: Candidate) -> Candidate:
    """Add a candidate (or replace one of the same name); returns it."""
    _REGISTRY[candidate.name] = candidate
    return candidate


def unregister(name: str) -> None:
    """Remove a candidate (tests that register their own use this to clean up)."""
    _REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
    """The registered candidates, in registration order (simplest first)."""
    return tuple(_REGISTRY)


def registry() -> Mapping[str, Candidate]:
    """A read-only view of the registry, by name."""
    return MappingProxyType(_REGISTRY)


def get_candidate(name: str) -> Candidate:
    """The candidate called ``name``.

    Raises:
        KeyError: no such candidate, naming the registered ones.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"no candidate model '{name}'; registered: {', '.join(_REGISTRY)}"
        ) from None


def display_name(name: str) -> str:
    """A candidate's name as people say it (the name itself, if unknown)."""
    candidate = _REGISTRY.get(name)
    return candidate.display_name if candidate else name.replace("_", " ").capitalize()


register(
    Candidate(
        name="logistic_regression",
        display_name="Logistic regression",
        estimator=LogisticRegression,
        library="sklearn",
        fixed={"max_iter": 5000},
        defaults={"C": 1.0},
        space={"C": {"distribution": "loguniform", "low": 0.01, "high": 100}},
        # lbfgs on one binary problem runs single-threaded: no thread count.
        parallel_over_folds=True,
        scorer=LinearScorer(),
        contributions=linear_contributions,
        importance=Importance("coefficient magnitude", _coefficients),
    )
)
register(
    Candidate(
        name="random_forest",
        display_name="Random forest",
        estimator=RandomForestClassifier,
        library="sklearn",
        defaults={"n_estimators": 200, "min_samples_leaf": 10, "max_features": "sqrt"},
        space={
            "min_samples_leaf": [1, 3, 5, 10, 20, 40],
            "max_features": ["sqrt", 0.5, 0.8],
            "max_depth": [None, 6, 10, 16],
        },
        threads="n_jobs",
        parallel_over_folds=True,
        scorer=ForestScorer(),
        contributions=forest_contributions,
        importance=Importance("impurity decrease", _feature_importances),
        trees=forest_trees,
        artifact_types=(fitted_tree_type(),),
    )
)
register(
    Candidate(
        name="xgboost",
        display_name="XGBoost",
        estimator=EarlyStoppedXGBClassifier,
        library="xgboost",
        fixed={"tree_method": "hist", "eval_metric": "logloss", "verbosity": 0},
        # Early stopping: n_estimators is the most trees; fit holds out
        # validation_fraction of its rows and stops when their class-weighted
        # log-loss has not improved for n_iter_no_change trees, then refits on
        # every row with that many. validation_fraction None: a fixed count.
        defaults={
            "n_estimators": 600,
            "max_depth": 3,
            "learning_rate": 0.05,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "validation_fraction": 0.2,
            "n_iter_no_change": 50,
        },
        space={
            "max_depth": [2, 3, 4, 6],
            "learning_rate": {"distribution": "loguniform", "low": 0.01, "high": 0.2},
            "min_child_weight": [1, 3, 10],
            "subsample": [0.7, 0.8, 1.0],
        },
        balance=positive_weight,
        threads="n_jobs",
        scorer=BoostedTreesScorer(),
        contributions=boosted_contributions,
        importance=Importance("gain", _feature_importances),
        trees=boosted_trees,
        artifact_types=(xgboost.Booster,),
        distributed_fit=boosted_dask_fit,
    )
)
register(
    Candidate(
        name="ensemble",
        display_name="Ensemble",
        estimator=WeightedEnsemble,
        library="sklearn",
        balance=no_balance,
        scorer=EnsembleScorer(lambda name: get_candidate(name).scorer),
        contributions=blend_contributions,
        blends=True,
    )
)
