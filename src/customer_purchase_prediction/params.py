"""Typed parameters: a wrong value stops ``kedro run`` before any work, naming the key.

Kedro validates every ``params:`` node input whose type hint is one of these models
when the run starts. ``extra="forbid"`` makes a misspelt key an error, not a no-op.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from customer_purchase_prediction.estimators import check_candidate_params


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
    "f1", "precision", "recall", "roc_auc", "average_precision", "accuracy"
]
CandidateName = Literal["logistic_regression", "random_forest", "xgboost"]


class SplitParams(_Params):
    """Stratified train/validation/test fractions and the seed."""

    train: float = Field(0.70, gt=0, lt=1)
    validation: float = Field(0.15, gt=0, lt=1)
    test: float = Field(0.15, gt=0, lt=1)
    seed: int = 42

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


class SearchParams(_Params):
    """Bounded hyperparameter search by successive halving over sampled configs."""

    scoring: Literal["roc_auc", "average_precision", "neg_log_loss"] = "roc_auc"
    n_candidates: int = Field(8, ge=1, le=200)
    max_rows: int = Field(30_000, ge=100)
    min_resources: int = Field(3_000, ge=50)
    halving_factor: int = Field(3, ge=2)


class ThresholdParams(_Params):
    """How the decision threshold is set on the validation part."""

    value: float | None = Field(None, gt=0, lt=1)
    min_recall: float = Field(0.5, ge=0, le=1)
    min_precision: float = Field(0.5, ge=0, le=1)


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
    class_weighting: bool = True
    tie_break_within_standard_error: bool = True
    cv_folds: int = Field(5, ge=2, le=20)
    seed: int = 42
    n_jobs: int = Field(2, ge=1)
    search: SearchParams = Field(default_factory=SearchParams)
    confidence: ConfidenceParams = Field(default_factory=ConfidenceParams)
    candidates: dict[CandidateName, CandidateParams]

    @model_validator(mode="after")
    def _usable_candidates(self) -> ModellingParams:
        enabled = [name for name, spec in self.candidates.items() if spec.enabled]
        if not enabled:
            raise ValueError(
                "no candidate is enabled: set modelling.candidates.<name>.enabled "
                f"to true for at least one of {', '.join(self.candidates) or 'none'}"
            )
        for name in enabled:
            check_candidate_params(name, self.candidates[name])
        return self

    def enabled_candidates(self) -> dict[str, CandidateParams]:
        """The candidates that take part, in a fixed order."""
        return {n: s for n, s in self.candidates.items() if s.enabled}


class FeatureParams(_Params):
    """Knobs of the feature_engineering pipeline (``feature_engineering:`` key)."""

    cap_quantile: float = Field(
        0.99,
        gt=0.5,
        le=1.0,
        description="Quantile of training time and pages used to normalise "
        "engagement_score.",
    )
