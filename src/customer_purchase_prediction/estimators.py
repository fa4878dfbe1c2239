"""The candidate estimators, built from parameters, and the check of their spaces."""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.utils import _safe_indexing
from xgboost import XGBClassifier

if TYPE_CHECKING:
    from customer_purchase_prediction.params import CandidateParams

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
            _safe_indexing(X, grow),
            y[grow],
            sample_weight=None if weights is None else weights[grow],
            eval_set=[(_safe_indexing(X, hold), y[hold])],
            sample_weight_eval_set=[hold_weight],
            verbose=False,
        )
        return int(probe.best_iteration) + 1


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


ESTIMATORS: dict[str, type[BaseEstimator]] = {
    "logistic_regression": LogisticRegression,
    "random_forest": RandomForestClassifier,
    "xgboost": EarlyStoppedXGBClassifier,
}
# Settings the project fixes for every run; the search never changes them.
FIXED: dict[str, dict[str, Any]] = {
    "logistic_regression": {"max_iter": 5000},
    "random_forest": {},
    "xgboost": {"tree_method": "hist", "eval_metric": "logloss", "verbosity": 0},
}


def make_estimator(
    name: str,
    params: dict[str, Any],
    *,
    seed: int,
    n_jobs: int,
    positive_share: float | None = None,
) -> BaseEstimator:
    """A candidate estimator with the given hyperparameters.

    Args:
        name: One of ``ESTIMATORS``.
        params: Hyperparameters (defaults merged with a searched configuration).
        seed: Random state of the estimator.
        n_jobs: Threads the estimator may use.
        positive_share: Share of purchasers in the training labels. When given,
            classes are weighted so both count equally (class imbalance).
    """
    settings: dict[str, Any] = {**FIXED[name], **params}
    settings.setdefault("random_state", seed)
    # lbfgs on one binary problem runs single-threaded: no n_jobs for it.
    if name != "logistic_regression":
        settings.setdefault("n_jobs", n_jobs)
    if positive_share is not None:
        if name == "xgboost":
            settings.setdefault(
                "scale_pos_weight", (1 - positive_share) / positive_share
            )
        else:
            settings.setdefault("class_weight", "balanced")
    return ESTIMATORS[name](**settings)


def check_candidate_params(name: str, spec: CandidateParams) -> None:
    """Stop before training if the estimator rejects a default or a searched value.

    Raises:
        ValueError: naming ``modelling.candidates.<name>.<defaults|space>.<key>``
            and the value the estimator rejected.
    """
    known = set(ESTIMATORS[name]().get_params())
    for section, values in (("defaults", spec.defaults), ("space", spec.space)):
        for key in values:
            if key not in known:
                raise ValueError(
                    f"modelling.candidates.{name}.{section}.{key}: "
                    f"{ESTIMATORS[name].__name__} has no parameter '{key}'"
                )
    # Each default alone first, so a bad one is named itself, not a key
    # checked together with it.
    for key, value in spec.defaults.items():
        _check_value(name, "defaults", key, _freeze(value), ())
    for key, value in spec.defaults.items():
        _check_value(name, "defaults", key, _freeze(value), _freeze(spec.defaults))
    for key, options in spec.space.items():
        values = options if isinstance(options, list) else options.bounds()
        for value in values:
            _check_value(name, "space", key, _freeze(value), _freeze(spec.defaults))


@functools.lru_cache(maxsize=512)
def _check_value(name: str, section: str, key: str, value: Any, defaults: Any) -> None:
    """Fit on a tiny sample with one value changed; cached, as runs repeat it."""
    params = {**dict(defaults), key: _thaw(value)}
    trees = params.get("n_estimators")
    if isinstance(trees, int) and not isinstance(trees, bool):
        params["n_estimators"] = min(trees, 2)  # the check needs no forest
    rng = np.random.default_rng(0)
    features, labels = rng.random((12, 3)), np.array([0, 1] * 6)
    try:
        make_estimator(name, params, seed=0, n_jobs=1).fit(features, labels)
    except Exception as exc:
        reason = (
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        )
        raise ValueError(
            f"modelling.candidates.{name}.{section}.{key}: value {_thaw(value)!r} is "
            f"rejected by {ESTIMATORS[name].__name__}: {reason}"
        ) from exc


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("__list__", *(_freeze(v) for v in value))
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple) and value and value[0] == "__list__":
        return [_thaw(v) for v in value[1:]]
    return value
