"""Estimators of the project's own: XGBoost that finds its number of trees, and
the weighted ensemble of the tuned candidates."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted
from xgboost import XGBClassifier

_EARLY_STOPPING_KEYS = ("validation_fraction", "n_iter_no_change")


class EarlyStoppedXGBClassifier(XGBClassifier):
    """XGBoost whose number of trees is found by early stopping.

    ``fit`` holds out a stratified ``validation_fraction`` of the rows it is given,
    grows at most ``n_estimators`` trees on the rest until the held-out loss
    (``eval_metric``, log-loss in this project, with classes weighted as
    ``scale_pos_weight`` weighs them in training) has not improved for
    ``n_iter_no_change`` rounds, then refits on every row with the best number
    of trees (``best_n_estimators_``). The held-out rows come from the rows given
    to ``fit``, so cross-validation folds never see their test rows. With
    ``validation_fraction=None``, or rows too few to hold out every class, it is
    plain XGBoost with ``n_estimators`` trees.

    Small data stops after few trees instead of overfitting a fixed count, and
    large data gets as many trees as it can use: the cost follows the data.
    """

    def __init__(
        self,
        *,
        validation_fraction: float | None = 0.2,
        n_iter_no_change: int = 50,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change

    def fit(  # type: ignore[override]
        self, X: Any, y: Any, *, sample_weight: Any = None, **kwargs: Any
    ) -> EarlyStoppedXGBClassifier:
        """Find the number of trees on held-out rows, then fit on every row."""
        self._check_early_stopping()
        y = np.asarray(y)
        self.best_n_estimators_ = self.n_estimators
        if self.validation_fraction is not None and _can_hold_out(
            y, self.validation_fraction
        ):
            self.best_n_estimators_ = self._stopping_round(X, y, sample_weight)
        return super().fit(X, y, sample_weight=sample_weight, **kwargs)

    def get_num_boosting_rounds(self) -> int:
        """The trees ``fit`` grows: the early-stopping count once it is known."""
        return (
            getattr(self, "best_n_estimators_", None)
            or super().get_num_boosting_rounds()
        )

    def get_xgb_params(self) -> dict[str, Any]:
        """The booster's parameters: XGBoost's own, without this class's two."""
        return _xgboost_only(super().get_xgb_params())

    def _check_early_stopping(self) -> None:
        fraction, rounds = self.validation_fraction, self.n_iter_no_change
        if fraction is not None and not 0 < fraction < 1:
            raise ValueError(
                f"validation_fraction must be between 0 and 1 (or null), got {fraction!r}"
            )
        if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
            raise ValueError(
                f"n_iter_no_change must be a whole number >= 1, got {rounds!r}"
            )
        if self.early_stopping_rounds is not None and fraction is not None:
            raise ValueError(
                "early_stopping_rounds: set n_iter_no_change instead; this "
                "estimator holds out its own rows to stop early"
            )

    def _stopping_round(self, X: Any, y: np.ndarray, sample_weight: Any) -> int:
        grow, hold = train_test_split(
            np.arange(len(y)),
            test_size=self.validation_fraction,
            stratify=y,
            random_state=self.random_state,
        )
        probe = XGBClassifier(
            **{
                **_xgboost_only(self.get_params()),
                "early_stopping_rounds": self.n_iter_no_change,
            }
        )
        # The held-out loss weighs classes as training does (scale_pos_weight).
        hold_weight = np.where(y[hold] == 1, self.scale_pos_weight or 1.0, 1.0)
        weights = None if sample_weight is None else np.asarray(sample_weight)
        if weights is not None:
            hold_weight = hold_weight * weights[hold]
        probe.fit(
            _rows(X, grow),
            y[grow],
            sample_weight=None if weights is None else weights[grow],
            eval_set=[(_rows(X, hold), y[hold])],
            sample_weight_eval_set=[hold_weight],
            verbose=False,
        )
        return int(probe.best_iteration) + 1


def _rows(X: Any, indices: np.ndarray) -> Any:
    """Rows of a matrix or a DataFrame by position."""
    return X.iloc[indices] if hasattr(X, "iloc") else X[indices]


def _xgboost_only(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` without the early-stopping keys XGBoost itself does not know."""
    return {k: v for k, v in params.items() if k not in _EARLY_STOPPING_KEYS}


def _can_hold_out(y: np.ndarray, fraction: float) -> bool:
    """Whether a stratified split of ``y`` leaves every class on both sides.

    scikit-learn needs two rows of each class to stratify, and at least one row
    per class in each part.
    """
    counts = np.unique(y, return_counts=True)[1]
    held = math.ceil(fraction * len(y))
    return (
        len(counts) > 1
        and counts.min() >= 2  # noqa: PLR2004
        and len(counts) <= held <= len(y) - len(counts)
    )


class WeightedEnsemble(ClassifierMixin, BaseEstimator):
    """A weighted average of fitted candidates' probabilities on one model matrix.

    Args:
        estimators: ``(candidate name, estimator)`` pairs; ``fit`` fits a clone
            of each on the rows it is given.
        weights: One weight per estimator (normalised to sum to 1); ``None``
            weighs them equally.
        random_state: Accepted so the registry can build it like any candidate;
            the members carry their own seeds.

    After fitting, ``estimators_`` holds the fitted ``(name, estimator)`` pairs
    with a positive weight and ``weights_`` their weights (summing to 1). Its
    probability is ``sum(weights_ * member probabilities)``; the project scores
    it member by member with each candidate's own row-independent scorer
    (``scoring.EnsembleScorer``).
    """

    def __init__(
        self,
        estimators: list[tuple[str, Any]] | None = None,
        weights: list[float] | None = None,
        random_state: int | None = None,
    ) -> None:
        self.estimators = estimators
        self.weights = weights
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> WeightedEnsemble:
        """Fit a clone of every member with a positive weight on ``X``, ``y``."""
        members = list(self.estimators or [])
        if not members:
            raise ValueError("WeightedEnsemble needs at least one estimator to blend")
        weights = _normalised(self.weights, len(members))
        fitted = [
            (name, clone(estimator).fit(X, y))
            for (name, estimator), weight in zip(members, weights, strict=True)
            if weight > 0
        ]
        return self._set_fitted(fitted, weights[weights > 0], np.unique(y))

    @classmethod
    def from_fitted(
        cls, members: list[tuple[str, Any]], weights: list[float]
    ) -> WeightedEnsemble:
        """An ensemble of already fitted members (no refit), e.g. after tuning."""
        normalised = _normalised(weights, len(members))
        kept = [m for m, w in zip(members, normalised, strict=True) if w > 0]
        positive = normalised[normalised > 0]
        # Only the members that count are kept, in the parameters too, so the
        # artifact does not carry a model with no weight.
        ensemble = cls(estimators=kept, weights=[float(w) for w in positive])
        return ensemble._set_fitted(kept, positive, kept[0][1].classes_)

    def predict_proba(self, X: Any) -> np.ndarray:
        """The weighted average of the members' class probabilities."""
        check_is_fitted(self, "weights_")
        total = sum(
            weight * estimator.predict_proba(X)
            for (_, estimator), weight in zip(
                self.estimators_, self.weights_, strict=True
            )
        )
        return np.asarray(total)

    def predict(self, X: Any) -> np.ndarray:
        """The class with the larger averaged probability."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _set_fitted(
        self, members: list[tuple[str, Any]], weights: np.ndarray, classes: Any
    ) -> WeightedEnsemble:
        self.estimators_ = members
        self.weights_ = np.asarray(weights, dtype=np.float64) / float(np.sum(weights))
        self.classes_ = np.asarray(classes)
        self.n_features_in_ = members[0][1].n_features_in_
        return self


def greedy_weights(
    probabilities: dict[str, np.ndarray], y: np.ndarray, rounds: int
) -> dict[str, float]:
    """Greedy ensemble selection with replacement (Caruana et al., 2004).

    Starting from nothing, each round adds the member (again, if it is already
    in) whose addition gives the averaged probabilities the lowest log-loss on
    ``y``; a member's weight is how often it was added over ``rounds``. Ties go
    to the earlier member. AutoGluon's weighted ensemble works the same way.

    Args:
        probabilities: Out-of-fold probabilities of each member, same rows.
        y: The labels of those rows.
        rounds: How many additions (the weights' resolution, 1/rounds).
    """
    names = list(probabilities)
    matrix = np.column_stack([probabilities[name] for name in names])
    total = np.zeros(len(y))
    counts = np.zeros(len(names))
    for step in range(1, rounds + 1):
        blends = (total[:, None] + matrix) / step
        losses = [log_loss(y, blends[:, j], labels=[0, 1]) for j in range(len(names))]
        best = int(np.argmin(losses))
        counts[best] += 1
        total += matrix[:, best]
    return {name: float(c / rounds) for name, c in zip(names, counts, strict=True)}


def _normalised(weights: Any, n: int) -> np.ndarray:
    values = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if values.shape != (n,) or (values < 0).any() or values.sum() <= 0:
        raise ValueError(
            f"WeightedEnsemble weights must be {n} non-negative numbers with a "
            f"positive sum; got {weights!r}"
        )
    return values / values.sum()
