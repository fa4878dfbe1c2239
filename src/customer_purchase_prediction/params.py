"""Typed parameters: a wrong value stops ``kedro run`` before any work, naming the key.

Kedro validates every ``params:`` node input whose type hint is one of these models
when the run starts. ``extra="forbid"`` makes a misspelt key an error, not a no-op.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from customer_purchase_prediction.candidates import Candidate, get_candidate, names

# numpy and scikit-learn take seeds from 0 to 2**32 - 1.
MAX_SEED = 2**32 - 1


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataProcessingParams(_Params):
    """Knobs of the data_processing pipeline (``data_processing:`` key)."""

    outlier_iqr_multiplier: float = Field(
        3.0,
        gt=0,
        description="Tukey fence multiplier k: outliers lie beyond Q1 - k*IQR or "
        "Q3 + k*IQR of the kept rows (3.0 flags only far-out values).",
    )
    max_outlier_examples: int = Field(
        10, ge=0, description="How many outlying customer_ids the report lists."
    )


SelectionMetric = Literal[
    "f1", "precision", "recall", "roc_auc", "average_precision", "accuracy", "profit"
]


class SplitParams(_Params):
    """Stratified train/validation/test fractions and the seed."""

    train: float = Field(0.70, gt=0, lt=1)
    validation: float = Field(0.15, gt=0, lt=1)
    test: float = Field(0.15, gt=0, lt=1)
    seed: int = Field(42, ge=0, le=MAX_SEED)

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> SplitParams:
        total = self.train + self.validation + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(
                f"modelling.split fractions must sum to 1; got train={self.train} + "
                f"validation={self.validation} + test={self.test} = {total:g}"
            )
        return self


class Distribution(_Params):
    """A continuous or integer range to sample a hyperparameter from."""

    distribution: Literal["uniform", "loguniform", "randint"]
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Distribution:
        if not self.low < self.high:
            raise ValueError(
                f"low must be < high; got low={self.low}, high={self.high}"
            )
        return self

    def bounds(self) -> list[float | int]:
        """The two ends of the range, as the estimator would receive them."""
        if self.distribution == "randint":
            return [int(self.low), int(self.high) - 1]
        return [self.low, self.high]


class CandidateParams(_Params):
    """One candidate model: whether it runs, its defaults and its search space."""

    enabled: bool = True
    defaults: dict[str, Any] = Field(default_factory=dict)
    space: dict[str, list[Any] | Distribution] = Field(default_factory=dict)


class CandidateOverrides(_Params):
    """What ``modelling.candidates.<name>`` changes of a registered candidate.

    ``defaults`` and ``space`` override the registry's key by key (as
    environments override each other); a space key set to null is left out.
    """

    enabled: bool = True
    defaults: dict[str, Any] = Field(default_factory=dict)
    space: dict[str, list[Any] | Distribution | None] = Field(default_factory=dict)

    def resolve(self, candidate: Candidate) -> CandidateParams:
        """The candidate's registered defaults and space with these overrides."""
        space = {**candidate.space, **self.space}
        return CandidateParams.model_validate(
            {
                "enabled": self.enabled,
                "defaults": {**candidate.defaults, **self.defaults},
                "space": {k: v for k, v in space.items() if v is not None},
            }
        )


class SearchParams(_Params):
    """Bounded hyperparameter search by successive halving over sampled configs."""

    scoring: Literal["roc_auc", "average_precision", "neg_log_loss"] = "roc_auc"
    n_candidates: int = Field(8, ge=1, le=200)
    max_rows: int = Field(30_000, ge=100)
    min_resources: int = Field(3_000, ge=50)
    halving_factor: int = Field(3, ge=2)


class ThresholdParams(_Params):
    """How the decision threshold is set, and on which rows."""

    value: float | None = Field(None, gt=0, lt=1)
    min_recall: float = Field(0.5, ge=0, le=1)
    min_precision: float = Field(0.5, ge=0, le=1)
    tune_on: Literal["out_of_fold_and_validation", "validation"] = Field(
        "out_of_fold_and_validation",
        description="Rows the threshold is tuned on: the training part's "
        "out-of-fold probabilities plus the validation part (steadier), or the "
        "validation part alone.",
    )


class CalibrationParams(_Params):
    """How raw probabilities become calibrated ones (``calibration.py``)."""

    method: Literal["sigmoid", "isotonic", "none"] = Field(
        "sigmoid",
        description="sigmoid (Platt scaling on the logit), isotonic, or none; "
        "fitted on the out-of-fold and validation probabilities.",
    )


class EnsembleParams(_Params):
    """How the ``ensemble`` candidate weighs its members."""

    weights: Literal["auto", "equal", "greedy"] = Field(
        "auto",
        description="auto: equal or greedy, whichever has the lower honest "
        "(cross-fitted) CV score on the tie-break's probability metric (Brier "
        "unless tie_break is log_loss; an exact tie goes to equal); equal: the "
        "plain average of the members (nothing fitted, so no noise from a few "
        "hundred out-of-fold rows); greedy: greedy ensemble selection with "
        "replacement on their out-of-fold probabilities.",
    )
    rounds: int = Field(
        25,
        ge=1,
        le=1000,
        description="Additions of greedy selection with replacement (weights: "
        "greedy, or auto); a member's weight is its additions over rounds.",
    )


class ConfidenceParams(_Params):
    """Bands of ``prediction_confidence``: distance of the probability from the
    threshold of at least ``high`` is high, at least ``medium`` medium, else low."""

    high: float = Field(0.25, gt=0, lt=1)
    medium: float = Field(0.10, gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> ConfidenceParams:
        if not self.medium < self.high:
            raise ValueError(
                f"modelling.confidence.medium must be < high; got medium="
                f"{self.medium}, high={self.high}"
            )
        return self


class ModellingParams(_Params):
    """Knobs of the modelling pipeline (``modelling:`` key)."""

    split: SplitParams = Field(default_factory=SplitParams)
    selection_metric: SelectionMetric = "f1"
    threshold: ThresholdParams = Field(default_factory=ThresholdParams)
    calibration: CalibrationParams = Field(default_factory=CalibrationParams)
    ensemble: EnsembleParams = Field(default_factory=EnsembleParams)
    class_weighting: bool = True
    tie_break_within_standard_error: bool = True
    # What chooses among the contenders (evaluation.choose_candidate): a CV
    # metric, or ensemble (the blend when it is a contender, else CV Brier).
    tie_break: Literal["ensemble", "brier", "log_loss", "roc_auc"] = "brier"
    cv_folds: int = Field(5, ge=2, le=20)
    min_training_rows: int = Field(
        100,
        ge=1,
        description="A floor on the valid rows a model is trained on; the split "
        "and cv_folds need a few rows of each class whatever this says.",
    )
    seed: int = Field(42, ge=0, le=MAX_SEED)
    n_jobs: int = Field(2, ge=1)
    search: SearchParams = Field(default_factory=SearchParams)
    confidence: ConfidenceParams = Field(default_factory=ConfidenceParams)
    candidates: dict[str, CandidateOverrides] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _usable_candidates(self) -> ModellingParams:
        unknown = [name for name in self.candidates if name not in names()]
        if unknown:
            raise ValueError(
                f"modelling.candidates.{unknown[0]}: no such candidate; registered "
                f"candidates (candidates.py): {', '.join(names())}"
            )
        enabled = self.enabled_candidates()
        if not self.searched_candidates():
            raise ValueError(
                "no candidate is enabled: set modelling.candidates.<name>.enabled "
                f"to true for at least one of {', '.join(names())}"
            )
        for name, spec in enabled.items():
            check_candidate_params(get_candidate(name), spec)
        return self

    def candidate_params(self, name: str) -> CandidateParams:
        """A registered candidate's defaults and space, with this run's overrides."""
        overrides = self.candidates.get(name, CandidateOverrides())
        return overrides.resolve(get_candidate(name))

    def enabled_candidates(self) -> dict[str, CandidateParams]:
        """The candidates that take part, in registration order."""
        resolved = {name: self.candidate_params(name) for name in names()}
        return {name: spec for name, spec in resolved.items() if spec.enabled}

    def searched_candidates(self) -> list[str]:
        """The enabled candidates that are models of their own (not blends)."""
        return [n for n in self.enabled_candidates() if not get_candidate(n).blends]

    def blended_candidates(self) -> list[str]:
        """The enabled blends of the others; none without two models to blend."""
        if len(self.searched_candidates()) < 2:  # noqa: PLR2004
            return []
        return [n for n in self.enabled_candidates() if get_candidate(n).blends]


class FeatureParams(_Params):
    """Knobs of the feature_engineering pipeline (``feature_engineering:`` key)."""

    cap_quantile: float = Field(
        0.99,
        gt=0.5,
        le=1.0,
        description="Quantile of training time and pages used to normalise "
        "engagement_score.",
    )


def check_candidate_params(candidate: Candidate, spec: CandidateParams) -> None:
    """Stop before training if the estimator rejects a default or a searched value.

    Raises:
        ValueError: naming ``modelling.candidates.<name>.<defaults|space>.<key>``
            and the value the estimator rejected.
    """
    name, estimator = candidate.name, candidate.estimator
    known = set(estimator().get_params())
    for section, values in (("defaults", spec.defaults), ("space", spec.space)):
        for key in values:
            if key not in known:
                raise ValueError(
                    f"modelling.candidates.{name}.{section}.{key}: "
                    f"{estimator.__name__} has no parameter '{key}'"
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
    candidate = get_candidate(name)
    params = {**dict(defaults), key: _thaw(value)}
    trees = params.get("n_estimators")
    if isinstance(trees, int) and not isinstance(trees, bool):
        params["n_estimators"] = min(trees, 2)  # the check needs no forest
    rng = np.random.default_rng(0)
    features, labels = rng.random((12, 3)), np.array([0, 1] * 6)
    try:
        candidate.build(params, seed=0, n_jobs=1).fit(features, labels)
    except Exception as exc:
        reason = (
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        )
        raise ValueError(
            f"modelling.candidates.{name}.{section}.{key}: value "
            f"{_thaw(value)!r} is rejected by {candidate.estimator.__name__}: {reason}"
        ) from exc


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("__list__", *(_freeze(v) for v in value))
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple) and value and value[0] == "__list__":
        return [_thaw(v) for v in value[1:]]
    return value
