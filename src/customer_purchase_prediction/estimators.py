"""The candidate estimators, built from parameters, and the check of their spaces."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from xgboost import XGBClassifier

if TYPE_CHECKING:
    from customer_purchase_prediction.params import CandidateParams

ESTIMATORS: dict[str, type[BaseEstimator]] = {
    "logistic_regression": LogisticRegression,
    "random_forest": RandomForestClassifier,
    "xgboost": XGBClassifier,
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
    if (
        name != "logistic_regression"
    ):  # lbfgs on one binary problem runs single-threaded
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
