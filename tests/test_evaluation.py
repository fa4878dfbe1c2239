"""Metrics and threshold tuning, checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import brier_score_loss, log_loss

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.evaluation import (
    THRESHOLD_GRID,
    choose_candidate,
    classification_metrics,
    expected_calibration_error,
    profit_per_customer,
    tune_threshold,
)
from customer_purchase_prediction.params import ThresholdParams

Y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
P = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.1, 0.05])


def test_metrics_at_a_threshold_match_hand_counts() -> None:
    metrics = classification_metrics(Y, P, 0.5)  # TP=2, FP=1, FN=1, TN=4
    assert metrics["accuracy"] == 6 / 8
    assert metrics["precision"] == 2 / 3
    assert metrics["recall"] == 2 / 3
    assert metrics["f1"] == pytest.approx(2 / 3)
    assert metrics["roc_auc"] == pytest.approx(14 / 15)  # one discordant pair of 15


def test_f1_threshold_is_the_best_on_the_grid() -> None:
    threshold, f1 = tune_threshold(Y, P, "f1", ThresholdParams())
    # Taking 0.3 in (all three buyers and one non-buyer) gives F1 = 6/7.
    assert 0.2 < threshold <= 0.3
    assert f1 == pytest.approx(6 / 7)


def test_precision_is_maximised_under_the_recall_floor() -> None:
    threshold, precision = tune_threshold(
        Y, P, "precision", ThresholdParams(min_recall=0.6)
    )
    assert precision == 1.0  # 0.8 and 0.9 only: recall 2/3 >= 0.6
    assert 0.7 < threshold <= 0.8
    _, unconstrained = tune_threshold(
        Y, P, "precision", ThresholdParams(min_recall=1.0)
    )
    assert unconstrained == pytest.approx(3 / 4)


def test_recall_is_maximised_under_the_precision_floor() -> None:
    threshold, recall = tune_threshold(
        Y, P, "recall", ThresholdParams(min_precision=0.7)
    )
    assert recall == 1.0
    assert threshold <= 0.3


def test_threshold_free_metric_uses_the_f1_threshold_and_reports_itself() -> None:
    threshold, auc = tune_threshold(Y, P, "roc_auc", ThresholdParams())
    assert threshold == tune_threshold(Y, P, "f1", ThresholdParams())[0]
    assert auc == pytest.approx(14 / 15)


def test_a_fixed_threshold_is_used_as_it_is() -> None:
    threshold, accuracy = tune_threshold(Y, P, "accuracy", ThresholdParams(value=0.5))
    assert threshold == 0.5
    assert accuracy == 6 / 8


def cv(f1: float, f1_std: float, auc: float) -> dict[str, dict[str, float]]:
    return {"f1": {"mean": f1, "std": f1_std}, "roc_auc": {"mean": auc, "std": 0.01}}


def test_the_best_cv_score_wins_when_clearly_ahead() -> None:
    scores = {
        "logistic_regression": cv(0.60, 0.02, 0.90),
        "xgboost": cv(0.70, 0.02, 0.80),
    }
    assert choose_candidate(scores, "f1", 5, within_standard_error=True) == (
        "xgboost",
        ["xgboost"],
    )


def test_within_one_standard_error_ranking_quality_decides() -> None:
    # 0.02 / sqrt(4) = 0.01: random_forest (0.695) is within it of xgboost (0.70).
    scores = {
        "logistic_regression": cv(0.60, 0.02, 0.90),
        "random_forest": cv(0.695, 0.02, 0.86),
        "xgboost": cv(0.70, 0.02, 0.85),
    }
    assert choose_candidate(scores, "f1", 4, within_standard_error=True) == (
        "random_forest",
        ["random_forest", "xgboost"],
    )
    assert (
        choose_candidate(scores, "f1", 4, within_standard_error=False)[0] == "xgboost"
    )


def test_a_probability_tie_break_prefers_the_lowest_cv_brier_or_log_loss() -> None:
    # 0.02 / sqrt(4) = 0.01: ensemble (0.695) is within it of xgboost (0.70).
    scores = {
        "xgboost": {**cv(0.70, 0.02, 0.86), "brier": {"mean": 0.134, "std": 0.01}},
        "ensemble": {**cv(0.695, 0.02, 0.85), "brier": {"mean": 0.132, "std": 0.01}},
        "random_forest": {
            **cv(0.60, 0.02, 0.90),
            "brier": {"mean": 0.120, "std": 0.01},
        },
    }
    for value in scores.values():
        value["log_loss"] = {"mean": value["brier"]["mean"] * 3}
    for rule in ("brier", "log_loss"):
        # The forest has the best Brier but is no contender: it never wins.
        assert choose_candidate(
            scores, "f1", 4, within_standard_error=True, tie_break=rule
        ) == ("ensemble", ["xgboost", "ensemble"])
    assert choose_candidate(
        scores, "f1", 4, within_standard_error=True, tie_break="roc_auc"
    ) == ("xgboost", ["xgboost", "ensemble"])


def test_the_ensemble_tie_break_takes_the_blend_when_it_is_a_contender() -> None:
    # 0.02 / sqrt(4) = 0.01: ensemble (0.695) is within it of xgboost (0.70).
    scores = {
        "logistic_regression": {
            **cv(0.60, 0.02, 0.90),
            "brier": {"mean": 0.120, "std": 0.01},
        },
        "xgboost": {**cv(0.70, 0.02, 0.86), "brier": {"mean": 0.130, "std": 0.01}},
        "random_forest": {
            **cv(0.699, 0.02, 0.85),
            "brier": {"mean": 0.128, "std": 0.01},
        },
        "ensemble": {**cv(0.695, 0.02, 0.85), "brier": {"mean": 0.134, "std": 0.01}},
    }
    contenders = ["xgboost", "random_forest", "ensemble"]
    # Its CV Brier is the contenders' worst, yet it hedges: it is selected.
    assert choose_candidate(
        scores, "f1", 4, within_standard_error=True, tie_break="ensemble"
    ) == ("ensemble", contenders)
    # No blend among the contenders: the lowest CV Brier, as tie_break=brier.
    behind = {**scores, "ensemble": {**scores["ensemble"], **cv(0.65, 0.02, 0.85)}}
    assert choose_candidate(
        behind, "f1", 4, within_standard_error=True, tie_break="ensemble"
    ) == ("random_forest", ["xgboost", "random_forest"])
    # Without contenders the best CV metric wins, the blend or not.
    assert choose_candidate(
        scores, "f1", 4, within_standard_error=False, tie_break="ensemble"
    ) == ("xgboost", ["xgboost"])


METRIC_MEANS = st.floats(0.0, 1.0, allow_nan=False)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(METRIC_MEANS, st.floats(0.0, 0.2), METRIC_MEANS, METRIC_MEANS),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from(["roc_auc", "brier", "log_loss"]),
)
def test_the_tie_break_picks_the_best_contender_and_contenders_hold_the_best(
    rows: list[tuple[float, float, float, float]], rule: str
) -> None:
    scores = {
        f"m{i}": {
            "f1": {"mean": f1, "std": sd},
            "roc_auc": {"mean": auc},
            "brier": {"mean": brier},
            "log_loss": {"mean": brier},
        }
        for i, (f1, sd, auc, brier) in enumerate(rows)
    }
    chosen, contenders = choose_candidate(
        scores, "f1", 5, within_standard_error=True, tie_break=rule
    )
    best_f1 = max(s["f1"]["mean"] for s in scores.values())
    assert chosen in contenders
    assert any(scores[n]["f1"]["mean"] == best_f1 for n in contenders)
    values = [scores[n][rule]["mean"] for n in contenders]
    target = max(values) if rule == "roc_auc" else min(values)
    assert scores[chosen][rule]["mean"] == target


def test_exact_ties_go_to_the_simpler_candidate() -> None:
    scores = {"logistic_regression": cv(0.7, 0.0, 0.8), "xgboost": cv(0.7, 0.0, 0.8)}
    assert choose_candidate(scores, "f1", 5, within_standard_error=True)[0] == (
        "logistic_regression"
    )


def test_probability_metrics_and_profit_are_in_every_metric_set() -> None:
    business = BusinessParams(contact_cost=2.0, conversion_value=10.0)
    metrics = classification_metrics(Y, P, 0.5, business)
    assert metrics["brier"] == pytest.approx(brier_score_loss(Y, P))
    assert metrics["log_loss"] == pytest.approx(log_loss(Y, P))
    # Contacted at 0.5: 3 customers, 2 of them buyers, over 8 customers.
    assert metrics["profit"] == pytest.approx((2 * 10.0 - 3 * 2.0) / len(Y))
    assert "profit" not in classification_metrics(Y, P, 0.5)


def test_expected_calibration_error_weighs_each_bin_by_its_rows() -> None:
    proba = np.array([0.05, 0.05, 0.95, 0.95])
    assert expected_calibration_error(np.array([0, 0, 1, 1]), proba) == pytest.approx(
        0.05
    )
    # One bin of four at 0.5 against a rate of 0.25.
    assert expected_calibration_error(
        np.array([1, 0, 0, 0]), np.full(4, 0.5)
    ) == pytest.approx(0.25)


@settings(max_examples=50, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(0, 1), st.floats(0, 1, allow_nan=False)),
        min_size=1,
        max_size=60,
    ),
    cost=st.floats(0, 20),
    value=st.floats(0.5, 100),
)
def test_the_profit_threshold_is_the_best_of_the_grid(
    data: list[tuple[int, float]], cost: float, value: float
) -> None:
    y = np.array([d[0] for d in data])
    proba = np.array([d[1] for d in data])
    business = BusinessParams(contact_cost=cost, conversion_value=value)
    threshold, profit = tune_threshold(y, proba, "profit", ThresholdParams(), business)
    assert profit == pytest.approx(profit_per_customer(y, proba, threshold, business))
    best = max(profit_per_customer(y, proba, t, business) for t in THRESHOLD_GRID)
    assert profit == pytest.approx(best)


def test_profit_needs_the_business_figures() -> None:
    with pytest.raises(ValueError, match="business parameters"):
        tune_threshold(Y, P, "profit", ThresholdParams())
