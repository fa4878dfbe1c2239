"""Estimators of the project's own: XGBoost that finds its number of trees."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split
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
