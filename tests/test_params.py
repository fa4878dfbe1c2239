"""Typed parameters: a wrong value fails before any work, naming key and value."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from customer_purchase_prediction.params import DataProcessingParams
from tests.conftest import modelling_params


def test_base_and_test_parameters_are_valid() -> None:
    params = modelling_params()
    assert params.selection_metric == "f1"
    assert list(params.enabled_candidates()) == [
        "logistic_regression",
        "random_forest",
        "xgboost",
        "ensemble",
    ]
    assert params.searched_candidates() == [
        "logistic_regression",
        "random_forest",
        "xgboost",
    ]
    assert params.blended_candidates() == ["ensemble"]
    assert params.calibration.method == "sigmoid"
    assert params.threshold.tune_on == "out_of_fold_and_validation"


def test_a_blend_needs_two_models_to_blend() -> None:
    params = modelling_params(
        candidates={"random_forest": {"enabled": False}, "xgboost": {"enabled": False}}
    )
    assert params.blended_candidates() == []
    with pytest.raises(ValidationError, match="no candidate is enabled"):
        modelling_params(
            candidates={
                "logistic_regression": {"enabled": False},
                "random_forest": {"enabled": False},
                "xgboost": {"enabled": False},
            }
        )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"selection_metric": "speed"}, r"selection_metric\n.*input_value='speed'"),
        (
            {"split": {"train": 0.8}},
            r"modelling.split fractions must sum to 1; got train=0.8 \+ "
            r"validation=0.15 \+ test=0.15 = 1.1",
        ),
        (
            {
                "candidates": {
                    n: {"enabled": False}
                    for n in ("logistic_regression", "random_forest", "xgboost")
                }
            },
            "no candidate is enabled",
        ),
        (
            {"candidates": {"xgboost": {"space": {"max_depth": [3, -1]}}}},
            r"modelling.candidates.xgboost.space.max_depth: value -1 is rejected by EarlyStoppedXGBClassifier",
        ),
        (
            {"candidates": {"xgboost": {"defaults": {"validation_fraction": 1.5}}}},
            r"modelling.candidates.xgboost.defaults.validation_fraction: value 1.5 "
            r"is rejected by EarlyStoppedXGBClassifier: validation_fraction must be "
            r"between 0 and 1",
        ),
        (
            {"candidates": {"xgboost": {"defaults": {"n_iter_no_change": 0}}}},
            r"modelling.candidates.xgboost.defaults.n_iter_no_change: value 0 "
            r"is rejected by EarlyStoppedXGBClassifier: n_iter_no_change must be",
        ),
        (
            {"candidates": {"random_forest": {"space": {"max_features": ["sqroot"]}}}},
            r"modelling.candidates.random_forest.space.max_features: value 'sqroot' is "
            r"rejected by RandomForestClassifier",
        ),
        (
            {
                "candidates": {
                    "logistic_regression": {
                        "space": {
                            "C": {"distribution": "loguniform", "low": -1, "high": 1}
                        }
                    }
                }
            },
            r"modelling.candidates.logistic_regression.space.C: value -1.0 is rejected",
        ),
        (
            {"candidates": {"random_forest": {"defaults": {"n_trees": 10}}}},
            r"modelling.candidates.random_forest.defaults.n_trees: "
            r"RandomForestClassifier has no parameter 'n_trees'",
        ),
        ({"cv_folds": 1}, r"cv_folds\n.*greater than or equal to 2"),
        ({"unknown_knob": 1}, r"unknown_knob\n.*Extra inputs are not permitted"),
    ],
)
def test_bad_modelling_parameters_name_the_key_and_the_value(
    override: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        modelling_params(**override)


def test_bad_data_processing_parameter_names_the_key() -> None:
    with pytest.raises(ValidationError, match="outlier_iqr_multiplier"):
        DataProcessingParams(outlier_iqr_multiplier=-1)
