"""Realised performance: joining outcomes to predictions, rejects, metrics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.monitoring import (
    join_outcomes,
    realised_report,
    tracking_metrics,
)
from customer_purchase_prediction.synthetic import generate_sessions

RUN_1, RUN_2 = "2026-12-01T10.00.00.000Z", "2026-12-02T10.00.00.000Z"
BUSINESS = BusinessParams()


def _predictions(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    proba = np.random.default_rng(seed).random(rows)
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, rows + 1),
            "purchase_prediction": (proba >= 0.5).astype(int),
            "purchase_probability": proba,
            "prediction_confidence": "high",
            "run_id": RUN_1,
        }
    )


def _report(predictions: pd.DataFrame, outcomes: pd.DataFrame) -> dict[str, Any]:
    joined, rejects = join_outcomes(predictions, outcomes)
    return realised_report(predictions, joined, rejects, BUSINESS, calibration_bins=10)


def test_outcomes_that_cannot_be_joined_are_rejects_with_reasons() -> None:
    predictions = _predictions(10)
    outcomes = pd.DataFrame(
        {
            "customer_id": ["1", "2", "2", "3", "4", "abc", "", "999"],
            "purchase": ["1", "0", "1", "2", "yes", "1", "0", "1"],
        }
    )
    joined, rejects = join_outcomes(predictions, outcomes)
    assert list(joined["customer_id"]) == [1]
    assert len(joined) + len(rejects) == len(outcomes)
    rules = dict(zip(rejects["source_row"], rejects["reject_rule"], strict=True))
    assert rules == {
        2: "customer_id:duplicated",
        3: "customer_id:duplicated",
        4: "purchase:not_binary",
        5: "purchase:not_binary",
        6: "customer_id:not_an_id",
        7: "customer_id:not_an_id",
        8: "customer_id:unknown",
    }
    reasons = dict(zip(rejects["source_row"], rejects["reject_reason"], strict=True))
    assert reasons[4] == "purchase must be 0 or 1; got '2'"
    assert "'999'" in reasons[8]
    assert list(rejects["customer_id"]) == ["2", "2", "3", "4", "abc", "", "999"]


@settings(max_examples=30, deadline=None)
@given(
    ids=st.lists(st.one_of(st.integers(-3, 40), st.just("x"), st.none()), max_size=60),
    labels=st.lists(st.sampled_from([0, 1, 2, "1", "no", None]), min_size=60),
)
def test_rows_in_equal_rows_joined_plus_rows_rejected(
    ids: list[Any], labels: list[Any]
) -> None:
    outcomes = pd.DataFrame({"customer_id": ids, "purchase": labels[: len(ids)]})
    joined, rejects = join_outcomes(_predictions(30), outcomes.astype("object"))
    assert len(joined) + len(rejects) == len(outcomes)
    assert rejects["reject_reason"].str.len().gt(0).all()
    assert joined["purchase"].isin([0, 1]).all()


def test_realised_metrics_are_scikit_learn_s_on_the_same_rows() -> None:
    predictions = _predictions(400, seed=1)
    rng = np.random.default_rng(2)
    y = (rng.random(400) < predictions["purchase_probability"]).astype(int)
    outcomes = pd.DataFrame({"customer_id": predictions["customer_id"], "purchase": y})
    overall = _report(predictions, outcomes.iloc[:300])["overall"]
    p, d, t = (
        predictions["purchase_probability"][:300],
        predictions["purchase_prediction"][:300],
        y[:300],
    )
    assert overall["roc_auc"] == pytest.approx(roc_auc_score(t, p))
    assert overall["precision"] == pytest.approx(precision_score(t, d))
    assert overall["recall"] == pytest.approx(recall_score(t, d))
    assert overall["f1"] == pytest.approx(f1_score(t, d))
    assert overall["brier"] == pytest.approx(brier_score_loss(t, p))
    assert overall["share_matched"] == pytest.approx(0.75)
    contacted = d.to_numpy() == 1
    profit = overall["profit"]
    assert profit["realised"] == pytest.approx(
        t[contacted].sum() * BUSINESS.conversion_value
        - contacted.sum() * BUSINESS.contact_cost
    )
    assert profit["expected"] == pytest.approx(
        (p[contacted] * BUSINESS.conversion_value - BUSINESS.contact_cost).sum()
    )
    groups = overall["calibration"]
    assert sum(g["rows"] for g in groups) == 300
    assert [g["predicted"] for g in groups] == sorted(g["predicted"] for g in groups)


def test_each_scoring_run_is_reported_oldest_first() -> None:
    first = _predictions(100)
    second = _predictions(100, seed=5).assign(run_id=RUN_2)
    predictions = pd.concat([second, first], ignore_index=True)
    outcomes = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 1],
            "purchase": [1, 0, 1, 0],
            "run_id": [RUN_1, RUN_1, RUN_1, RUN_2],
        }
    )
    joined, _ = join_outcomes(predictions, outcomes)
    # Customer 1 scored in both runs: each outcome answers the run it names.
    assert sorted(zip(joined["run_id"], joined["purchase"], strict=True)) == [
        (RUN_1, 0),
        (RUN_1, 1),
        (RUN_1, 1),
        (RUN_2, 0),
    ]
    report = realised_report(
        predictions, joined, outcomes.iloc[:0], BUSINESS, calibration_bins=5
    )
    assert [run["run_id"] for run in report["runs"]] == [RUN_1, RUN_2]
    assert [run["matched"] for run in report["runs"]] == [3, 1]


def test_without_a_run_id_an_outcome_answers_the_latest_run() -> None:
    predictions = pd.concat(
        [_predictions(5), _predictions(5, seed=3).assign(run_id=RUN_2)]
    )
    joined, _ = join_outcomes(
        predictions, pd.DataFrame({"customer_id": [2], "purchase": [1]})
    )
    assert list(joined["run_id"]) == [RUN_2]


def test_a_changed_purchase_rule_shows_in_realised_performance(
    trained_model: Any,
) -> None:
    from customer_purchase_prediction.contract import validate_sessions

    def realised(shift: str | None) -> dict[str, Any]:
        raw, _ = generate_sessions(3000, 21, messy_fraction=0, shift=shift)
        valid = validate_sessions(raw, labelled=True).valid
        scored = trained_model.score(valid).assign(run_id=RUN_1)
        outcomes = valid[["customer_id", "purchase"]]
        return _report(scored, outcomes)["overall"]

    before, after = realised(None), realised("purchase_rule")
    assert after["roc_auc"] < before["roc_auc"] - 0.05
    assert after["brier"] > before["brier"]


def test_tracking_metrics_are_flat_numbers() -> None:
    predictions = _predictions(50)
    outcomes = pd.DataFrame(
        {"customer_id": predictions["customer_id"], "purchase": [0, 1] * 25}
    )
    flat = tracking_metrics(_report(predictions, outcomes))
    assert flat["realised_share_matched"] == 1.0
    assert {"realised_roc_auc", "realised_f1", "realised_profit_realised"} <= set(flat)
    assert all(isinstance(value, float) for value in flat.values())
