"""The candidate registry: one declaration per candidate, asked by every step."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from customer_purchase_prediction.candidates import (
    Candidate,
    display_name,
    get_candidate,
    names,
    register,
    unregister,
)
from customer_purchase_prediction.columns import SESSION_COLUMNS
from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.predictor import PurchasePredictor
from tests.conftest import modelling_params, run_project

EXTRA = "hist_gradient_boosting"
OTHERS = ("logistic_regression", "random_forest", "xgboost")


@pytest.fixture
def extra_candidate() -> Iterator[Candidate]:
    """scikit-learn's HistGradientBoostingClassifier, registered and nothing else."""
    candidate = register(
        Candidate(
            name=EXTRA,
            display_name="Histogram gradient boosting",
            estimator=HistGradientBoostingClassifier,
            library="sklearn",
            defaults={"max_iter": 40, "learning_rate": 0.1},
            space={"max_leaf_nodes": [7, 15]},
            artifact_types=(
                "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
            ),
        )
    )
    yield candidate
    unregister(EXTRA)


def test_the_registry_declares_each_built_in_candidate() -> None:
    assert names()[:3] == OTHERS
    assert display_name("xgboost") == "XGBoost"
    assert get_candidate("random_forest").importance.kind == "impurity decrease"
    with pytest.raises(KeyError, match="no candidate model 'lightgbm'"):
        get_candidate("lightgbm")


def test_balance_and_threads_come_from_the_declaration() -> None:
    forest = get_candidate("random_forest").build(
        {}, seed=3, n_jobs=2, positive_share=0.25
    )
    assert forest.class_weight == "balanced"
    assert forest.n_jobs == 2
    assert forest.random_state == 3
    xgb = get_candidate("xgboost")
    booster = xgb.build({}, seed=0, n_jobs=1, positive_share=0.25)
    assert booster.scale_pos_weight == pytest.approx(3.0)
    assert xgb.class_weighted(booster)
    assert not xgb.class_weighted(xgb.build({}, seed=0, n_jobs=1))


def test_parameters_know_a_registered_candidate_and_refuse_others(
    extra_candidate: Candidate,
) -> None:
    params = modelling_params()
    assert EXTRA in params.enabled_candidates()
    assert params.candidate_params(EXTRA).defaults["max_iter"] == 40
    overridden = modelling_params(candidates={EXTRA: {"defaults": {"max_iter": 5}}})
    assert overridden.candidate_params(EXTRA).defaults == {
        "max_iter": 5,
        "learning_rate": 0.1,
    }
    with pytest.raises(ValueError, match=r"modelling.candidates.lightgbm: no such"):
        modelling_params(candidates={"lightgbm": {"enabled": True}})
    with pytest.raises(ValueError, match=rf"{EXTRA}.defaults.max_iter: value -1"):
        modelling_params(candidates={EXTRA: {"defaults": {"max_iter": -1}}})


def test_a_space_key_set_to_null_leaves_the_search() -> None:
    params = modelling_params(
        candidates={"random_forest": {"space": {"max_depth": None}}}
    )
    assert "max_depth" not in params.candidate_params("random_forest").space
    assert "max_features" in params.candidate_params("random_forest").space


@pytest.mark.slow
def test_a_candidate_registered_alone_is_trained_reported_and_scored(
    project_dir: Path, extra_candidate: Candidate
) -> None:
    disabled = {name: {"enabled": False} for name in OTHERS}
    run_project(project_dir, params={"modelling": {"candidates": disabled}})

    model = PurchasePredictor(project_path=project_dir).model  # the recorded current
    assert isinstance(model, PurchaseModel)
    cv = pd.read_csv("data/08_reporting/cv_results.csv")
    assert set(cv["candidate"]) == {EXTRA}
    metrics = json.loads(Path("data/08_reporting/model_metrics.json").read_text())
    assert model.name == metrics["selected_model"] == EXTRA
    comparison = Path("data/08_reporting/model_comparison.md").read_text()
    assert "Histogram gradient boosting" in comparison
    assert "Hist gradient boosting" not in comparison  # no made-up label

    # Scoring: the generic path, the same bits alone and in a batch.
    sessions = pd.read_parquet(next(Path("data/07_model_output").glob("test_pre*")))
    assert model.metadata["trees"] is None
    assert model.compiled_trees is None
    importance = pd.read_csv("data/08_reporting/feature_importance.csv")
    kinds = set(importance["importance_kind"].astype(str))
    assert kinds.isdisjoint({"gain", "impurity decrease", "coefficient magnitude"})
    assert importance["permutation_mean"].notna().all()
    card = Path("data/08_reporting/model_card.md").read_text()
    assert "Histogram gradient boosting" in card
    rows = sessions.loc[sessions["model"] == model.name, list(SESSION_COLUMNS)]
    predictor = PurchasePredictor(model)
    batch, _ = predictor.predict(rows, return_probabilities=True)
    alone = [
        predictor.predict(record, return_probabilities=True)["purchase_probability"]
        for record in rows.head(5).to_dict(orient="records")
    ]
    np.testing.assert_array_equal(alone, batch["purchase_probability"].head(5))
