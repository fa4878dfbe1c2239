"""The modelling pipeline: split, selection, reproducibility and a full Kedro run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog

from customer_purchase_prediction.artifact import ModelArtifactDataset, sha256
from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.calibration import (
    ProbabilityCalibrator,
    fit_calibrator,
)
from customer_purchase_prediction.columns import LABEL_COLUMN
from customer_purchase_prediction.evaluation import tune_threshold
from customer_purchase_prediction.model import PurchaseModel, pipeline_proba
from customer_purchase_prediction.params import ThresholdParams
from customer_purchase_prediction.pipelines.feature_engineering.nodes import (
    split_sessions,
)
from customer_purchase_prediction.tuning import (
    blend_weights,
    cross_fitted_blend,
    cross_validated,
    cv_folds,
    cv_sample,
)
from tests.conftest import modelling_params, run_project, train_in_memory

METADATA_KEYS = {
    "model_name",
    "trained_at",
    "data_fingerprint",
    "threshold",
    "selection_metric",
    "cv",
    "test",
    "library_versions",
}


def test_split_is_stratified_disjoint_and_complete(
    small_sessions: pd.DataFrame,
) -> None:
    train, validation, test = split_sessions(small_sessions, modelling_params())
    assert (len(train), len(validation), len(test)) == (420, 90, 90)
    ids = [set(part["customer_id"]) for part in (train, validation, test)]
    assert set.union(*ids) == set(small_sessions["customer_id"])
    assert sum(map(len, ids)) == len(small_sessions)
    rate = small_sessions["purchase"].mean()
    for part in (train, validation, test):
        assert abs(part["purchase"].mean() - rate) < 0.02


def test_split_follows_the_seed(small_sessions: pd.DataFrame) -> None:
    first = split_sessions(small_sessions, modelling_params())[2]
    again = split_sessions(small_sessions, modelling_params())[2]
    other = split_sessions(small_sessions, modelling_params(split={"seed": 7}))[2]
    assert first["customer_id"].tolist() == again["customer_id"].tolist()
    assert first["customer_id"].tolist() != other["customer_id"].tolist()


def train(
    sessions: pd.DataFrame, **overrides: object
) -> tuple[PurchaseModel, DataCatalog]:
    """Split, feature_engineering and modelling on a memory catalog."""
    return train_in_memory(sessions, modelling_params(**overrides))


def train_kept(
    sessions: pd.DataFrame, **overrides: object
) -> tuple[PurchaseModel, DataCatalog]:
    """``train``, keeping every intermediate dataset to read after the run."""
    return train_in_memory(sessions, modelling_params(**overrides), keep=True)


@pytest.fixture(scope="module")
def kept(small_sessions: pd.DataFrame) -> tuple[PurchaseModel, DataCatalog]:
    """The test parameters' training, every intermediate kept (shared read-only)."""
    return train_kept(small_sessions)


def test_training_is_reproducible_to_the_last_digit(
    small_sessions: pd.DataFrame,
) -> None:
    first, catalog = train(small_sessions)
    second, _ = train(small_sessions)
    assert first.metadata["cv"] == second.metadata["cv"]
    assert first.metadata["test"] == second.metadata["test"]
    assert first.threshold == second.threshold
    assert first.metadata["data_fingerprint"] == second.metadata["data_fingerprint"]
    np.testing.assert_array_equal(
        first.predict_proba(small_sessions), second.predict_proba(small_sessions)
    )
    pd.testing.assert_frame_equal(
        catalog.load("cv_results"), train(small_sessions)[1].load("cv_results")
    )


def test_artifact_carries_threshold_metadata_and_scores_sessions(
    small_sessions: pd.DataFrame,
) -> None:
    model, catalog = train(small_sessions)
    assert METADATA_KEYS <= set(model.metadata)
    assert model.metadata["threshold"] == model.threshold
    assert set(model.metadata["test"]) >= {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
    }
    scored = model.score(small_sessions)
    assert list(scored.columns) == [
        "customer_id",
        "purchase_prediction",
        "purchase_probability",
        "prediction_confidence",
    ]
    assert scored["purchase_probability"].between(0, 1).all()
    assert set(scored["prediction_confidence"]) <= {"high", "medium", "low"}
    expected = (scored["purchase_probability"] >= model.threshold).astype(int)
    assert scored["purchase_prediction"].tolist() == expected.tolist()
    cv = catalog.load("cv_results")
    assert set(cv["candidate"]) == {
        "logistic_regression",
        "random_forest",
        "xgboost",
        "ensemble",
    }
    assert {"mean", "std"} <= set(cv.columns)


def test_selection_follows_the_selection_metric(small_sessions: pd.DataFrame) -> None:
    # Thresholds tuned on validation alone, so the floor holds on those rows.
    model, _ = train(
        small_sessions,
        selection_metric="precision",
        threshold={"tune_on": "validation"},
    )
    scores = model.metadata["selection_scores"]
    assert model.metadata["selection_metric"] == "precision"
    assert max(scores, key=scores.get) in model.metadata["contenders"]
    assert model.name in model.metadata["contenders"]
    # Precision is maximised under the recall floor (0.5) on validation.
    assert model.metadata["validation"]["recall"] >= 0.5


def test_the_default_tie_break_takes_the_contender_with_the_lowest_cv_brier(
    kept: tuple[PurchaseModel, DataCatalog],
) -> None:
    model, catalog = kept
    selection = catalog.load("model_selection")
    tuning = catalog.load("candidate_tuning")
    assert selection.tie_break == model.metadata["tie_break"] == "brier"
    assert model.metadata["ensemble_weights"] in {"equal", "greedy"}
    assert model.metadata["ensemble_weights_setting"] == "auto"
    briers = {n: tuning[n].cv_dict()["brier"]["mean"] for n in selection.contenders}
    assert model.name == min(briers, key=briers.get)


def test_the_default_ensemble_weights_are_the_better_honest_cv_weighting(
    kept: tuple[PurchaseModel, DataCatalog],
) -> None:
    model, catalog = kept
    params = modelling_params()
    tuning = catalog.load("candidate_tuning")["ensemble"]
    weighting = tuning.params["weighting"]
    assert weighting["setting"] == params.ensemble.weights == "auto"
    assert weighting["metric"] == "brier"
    honest = weighting["honest_cv"]
    assert set(honest) == {"equal", "greedy"}
    chosen = "greedy" if honest["greedy"] < honest["equal"] else "equal"
    assert weighting["chosen"] == chosen
    # The kept weighting's honest CV is the ensemble's CV.
    assert honest[chosen] == tuning.cv_dict()["brier"]["mean"]
    # Both honest values are their weighting's own cross-fitted CV.
    oof = catalog.load("out_of_fold_predictions")
    sample = cv_sample(catalog.load("train_sessions"), params)
    searched = params.searched_candidates()
    members = {n: oof[n].to_numpy() for n in searched}
    y = oof[LABEL_COLUMN].to_numpy()
    folds = cv_folds(sample, params)
    for method in ("equal", "greedy"):
        blended, _ = cross_fitted_blend(members, y, folds, 25, method=method)
        cv = cross_validated(y, blended, folds, params, BusinessParams())[2]
        assert honest[method] == cv["brier"]["mean"]
    weights = tuning.params["weights"]
    assert weights == blend_weights(members, y, 25, method=chosen)
    # The artifact says which weights and why; its hyperparameters stay weights.
    assert model.metadata["ensemble_weights"] == chosen
    assert model.metadata["ensemble_weights_cv"] == {"metric": "brier", **honest}
    if model.name == "ensemble":
        assert model.metadata["hyperparameters"] == {"weights": weights}
    blend = catalog.load("candidate_models")["ensemble"].named_steps["model"]
    assert [name for name, _ in blend.estimators_] == [
        n for n, w in weights.items() if w
    ]


def test_equal_weights_are_the_plain_average_of_the_candidates(
    small_sessions: pd.DataFrame,
) -> None:
    model, catalog = train_kept(small_sessions, ensemble={"weights": "equal"})
    tuning = catalog.load("candidate_tuning")["ensemble"]
    assert tuning.params == {"weights": tuning.params["weights"]}  # no weighting
    weights = tuning.params["weights"]
    searched = modelling_params().searched_candidates()
    assert list(weights) == searched
    assert all(w == 1.0 / len(searched) for w in weights.values())
    blend = catalog.load("candidate_models")["ensemble"].named_steps["model"]
    assert [name for name, _ in blend.estimators_] == searched
    np.testing.assert_allclose(blend.weights_, 1.0 / len(searched), rtol=1e-15)
    assert model.metadata["ensemble_weights"] == "equal"
    assert model.metadata["ensemble_weights_setting"] == "equal"
    assert model.metadata["ensemble_weights_cv"] is None


def test_contenders_are_told_apart_by_their_cv_brier_score(
    small_sessions: pd.DataFrame,
) -> None:
    model, catalog = train_kept(small_sessions, tie_break="brier")
    selection = catalog.load("model_selection")
    tuning = catalog.load("candidate_tuning")
    assert selection.tie_break == model.metadata["tie_break"] == "brier"
    briers = {n: tuning[n].cv_dict()["brier"]["mean"] for n in selection.contenders}
    assert model.name == min(briers, key=briers.get)


def test_the_tie_break_is_a_typed_parameter() -> None:
    assert modelling_params(tie_break="log_loss").tie_break == "log_loss"
    assert modelling_params(ensemble={"weights": "greedy"}).ensemble.weights == (
        "greedy"
    )
    with pytest.raises(ValueError, match="weights"):
        modelling_params(ensemble={"weights": "stacked"})
    with pytest.raises(ValueError, match="tie_break"):
        modelling_params(tie_break="f1")


def test_only_enabled_candidates_are_trained(small_sessions: pd.DataFrame) -> None:
    model, catalog = train(
        small_sessions,
        candidates={"random_forest": {"enabled": False}, "xgboost": {"enabled": False}},
    )
    assert model.name == "logistic_regression"
    assert set(catalog.load("cv_results")["candidate"]) == {"logistic_regression"}


@pytest.mark.slow
def test_kedro_run_trains_selects_and_writes_the_artifact(project_dir: Path) -> None:
    run_project(project_dir)
    versions = sorted(Path("data/06_models/purchase_model.skops").iterdir())
    assert len(versions) == 1
    dataset = ModelArtifactDataset(filepath="data/06_models/purchase_model.skops")
    assert dataset.current_version() == versions[0].name  # recorded, not guessed
    model = dataset.load()
    assert isinstance(model, PurchaseModel)
    assert model.artifact["sha256"] == sha256(
        (versions[0] / "purchase_model.skops").read_bytes()
    )
    assert METADATA_KEYS <= set(model.metadata)
    (tuning_file,) = Path("data/06_models/candidate_tuning.json").glob("*/*.json")
    tuning = json.loads(tuning_file.read_text())
    # Every enabled candidate, the ensemble of the others included.
    assert set(tuning) == {
        "logistic_regression",
        "random_forest",
        "xgboost",
        "ensemble",
    }
    best = max(tuning, key=lambda name: tuning[name]["selection_score"])
    assert best in model.metadata["contenders"]
    auc = {
        name: tuning[name]["cv"]["roc_auc"]["mean"]
        for name in model.metadata["contenders"]
    }
    assert model.name == max(auc, key=auc.get)
    assert Path("data/08_reporting/cv_results.csv").exists()
    features = pd.read_parquet("data/04_feature/session_features.parquet")
    assert set(features["split"]) == {"train", "validation", "test"}
    assert {"engagement_score", "basket_intensity", "behavioral_segment"} <= set(
        features.columns
    )


def test_artifact_records_the_trees_early_stopping_kept(
    small_sessions: pd.DataFrame,
) -> None:
    model, _ = train(
        small_sessions,
        candidates={
            "logistic_regression": {"enabled": False},
            "random_forest": {"enabled": False},
            "xgboost": {"defaults": {"n_estimators": 400, "learning_rate": 0.3}},
        },
    )
    booster = model.estimator.get_booster()
    assert model.metadata["trees"] == booster.num_boosted_rounds()
    assert model.metadata["trees"] == model.estimator.best_n_estimators_
    assert model.metadata["trees"] < model.metadata["hyperparameters"]["n_estimators"]


def test_the_artifact_is_calibrated_and_scores_as_the_test_predictions(
    small_sessions: pd.DataFrame, kept: tuple[PurchaseModel, DataCatalog]
) -> None:
    model, catalog = kept
    assert isinstance(model.calibrator, ProbabilityCalibrator)
    assert model.metadata["calibration"]["method"] == "sigmoid"
    assert model.metadata["threshold_tuned_on"] == "out_of_fold_and_validation"
    test = catalog.load("test_sessions")
    rows = catalog.load("test_predictions").query("selected")
    np.testing.assert_array_equal(
        rows["probability"].to_numpy(), model.predict_proba(test)
    )
    np.testing.assert_array_equal(
        rows["raw_probability"].to_numpy(),
        model.raw_proba_matrix(model.features.transform(test)),
    )
    for name, metrics in catalog.load("test_metrics").items():
        assert {"brier", "log_loss", "ece", "profit"} <= set(metrics), name
    uncalibrated, _ = train(small_sessions, calibration={"method": "none"})
    assert uncalibrated.metadata["calibration"] == {"method": "none"}


def test_the_calibrator_is_fitted_on_out_of_fold_and_validation_rows(
    small_sessions: pd.DataFrame, kept: tuple[PurchaseModel, DataCatalog]
) -> None:
    model, catalog = kept
    oof = catalog.load("out_of_fold_predictions")
    validation = catalog.load("validation_sessions")
    name = model.name
    raw = np.concatenate(
        [
            oof[name].to_numpy(),
            pipeline_proba(name, catalog.load("candidate_models")[name], validation),
        ]
    )
    y = np.concatenate([oof[LABEL_COLUMN], validation[LABEL_COLUMN]])
    expected = fit_calibrator("sigmoid", raw, y)
    assert model.calibrator.slope_ == expected.slope_
    assert model.calibrator.intercept_ == expected.intercept_
    # The threshold is the F1 threshold of those rows, calibrated.
    threshold, _ = tune_threshold(y, expected.transform(raw), "f1", ThresholdParams())
    assert model.threshold == threshold
    alone, catalog = train_kept(small_sessions, threshold={"tune_on": "validation"})
    calibrator = catalog.load("candidate_calibrators")[alone.name]
    proba = pipeline_proba(
        alone.name, catalog.load("candidate_models")[alone.name], validation
    )
    assert (
        alone.threshold
        == tune_threshold(
            validation[LABEL_COLUMN].to_numpy(),
            calibrator.transform(proba),
            "f1",
            ThresholdParams(),
        )[0]
    )


def test_the_ensemble_blends_the_other_fitted_candidates(
    kept: tuple[PurchaseModel, DataCatalog],
) -> None:
    _, catalog = kept
    weights = catalog.load("candidate_tuning")["ensemble"].params["weights"]
    assert set(weights) == {"logistic_regression", "random_forest", "xgboost"}
    assert sum(weights.values()) == pytest.approx(1.0)
    models = catalog.load("candidate_models")
    ensemble = models["ensemble"].named_steps["model"]
    assert [n for n, _ in ensemble.estimators_] == [n for n, w in weights.items() if w]
    oof = catalog.load("out_of_fold_predictions")
    # Its out-of-fold probabilities are cross-fitted: each fold blended with
    # weights chosen on the other folds (the artifact's on every row).
    params = modelling_params()
    sample = cv_sample(catalog.load("train_sessions"), params)
    members = {n: oof[n].to_numpy() for n in weights}
    y = oof[LABEL_COLUMN].to_numpy()
    rounds = params.ensemble.rounds
    method = catalog.load("candidate_tuning")["ensemble"].params["weighting"]["chosen"]
    assert weights == blend_weights(members, y, rounds, method=method)
    blended, _ = cross_fitted_blend(
        members, y, cv_folds(sample, params), rounds, method=method
    )
    np.testing.assert_allclose(oof["ensemble"].to_numpy(), blended, atol=1e-12)
    test = catalog.load("test_sessions")
    expected = sum(
        w * pipeline_proba(n, models[n], test) for n, w in weights.items() if w
    )
    np.testing.assert_allclose(
        pipeline_proba("ensemble", models["ensemble"], test), expected, atol=1e-12
    )
    # It competes in selection under the same rule as the others.
    selection = catalog.load("model_selection")
    assert "ensemble" in selection.selection_scores
    assert "ensemble" in selection.thresholds


def test_profit_selects_the_model_and_threshold_by_expected_profit(
    small_sessions: pd.DataFrame,
) -> None:
    model, catalog = train_kept(small_sessions, selection_metric="profit")
    selection = catalog.load("model_selection")
    assert model.metadata["selection_metric"] == "profit"
    tuning = catalog.load("candidate_tuning")
    scores = {n: tuning[n].cv["profit"].mean for n in tuning}
    assert selection.selection_scores == scores
    assert model.name in selection.contenders
    oof = catalog.load("out_of_fold_predictions")
    validation = catalog.load("validation_sessions")
    raw = np.concatenate(
        [
            oof[model.name].to_numpy(),
            pipeline_proba(
                model.name, catalog.load("candidate_models")[model.name], validation
            ),
        ]
    )
    y = np.concatenate([oof[LABEL_COLUMN], validation[LABEL_COLUMN]])
    business = BusinessParams()
    threshold, _ = tune_threshold(
        y, model.calibrator.transform(raw), "profit", ThresholdParams(), business
    )
    assert model.threshold == threshold
    # Calibrated, the profit threshold sits near break-even (5 / 25).
    assert abs(model.threshold - business.break_even_probability) <= 0.15
