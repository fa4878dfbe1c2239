"""Reporting nodes on hand-made predictions whose numbers can be checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from pydantic import ValidationError

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.evaluation import (
    THRESHOLD_GRID,
    classification_metrics,
)
from customer_purchase_prediction.pipelines.reporting import (
    computations,
    figures,
    nodes,
    plots,
    render,
)
from customer_purchase_prediction.pipelines.reporting.params import (
    BootstrapParams,
    ReportingParams,
)
from customer_purchase_prediction.pipelines.reporting.summaries import BusinessImpact
from tests.pipelines.reporting.inputs import (
    BOUGHT,
    PROBA,
    THRESHOLD,
    as_json,
    model_metrics,
    predictions,
)

PARAMS = BusinessParams(contact_cost=2.0, conversion_value=10.0, currency="€")


@pytest.fixture
def impact() -> tuple[BusinessImpact, pd.DataFrame]:
    return nodes.assess_business_impact(predictions(), PARAMS)


def test_confusion_counts_and_shares_are_the_hand_counted_ones(
    impact: tuple[BusinessImpact, pd.DataFrame],
) -> None:
    report = as_json(impact[0])
    assert report["confusion_matrix"] == {
        "true_positives": 3,
        "false_positives": 1,
        "false_negatives": 1,
        "true_negatives": 5,
    }
    assert report["classified_correctly"] == {"customers": 8, "share": 0.8}
    assert report["missed_opportunities"] == {
        "customers": 1,
        "share_of_purchasers": 0.25,
        "forgone_profit": 8.0,  # one buyer x (10 - 2)
    }
    assert report["marketing_waste"] == {
        "customers": 1,
        "share_of_contacted": 0.25,
        "wasted_cost": 2.0,
    }


def test_profit_of_model_everyone_and_no_one(
    impact: tuple[BusinessImpact, pd.DataFrame],
) -> None:
    report = as_json(impact[0])
    strategies = report["strategies"]
    # model: 10 x 3 buyers - 2 x 4 contacted; everyone: 10 x 4 - 2 x 10
    assert strategies["model"]["profit"] == 22.0
    assert strategies["model"]["profit_per_1000_customers"] == 2200.0
    assert strategies["everyone"]["profit"] == 20.0
    assert strategies["everyone"]["profit_per_1000_customers"] == 2000.0
    assert strategies["no_one"]["profit"] == 0.0
    assert report["best_strategy"] == "model"
    versus = report["model_vs_everyone"]
    assert versus == {
        "saved_contact_costs": 10.0,
        "forgone_profit": 8.0,
        "profit_difference": 2.0,
    }
    assert versus["profit_difference"] == (
        strategies["model"]["profit"] - strategies["everyone"]["profit"]
    )


def test_decile_table_gain_lift_and_cumulative_profit(
    impact: tuple[BusinessImpact, pd.DataFrame],
) -> None:
    report, deciles = as_json(impact[0]), impact[1]
    assert deciles["customers"].tolist() == [1] * 10
    assert deciles["purchasers"].tolist() == BOUGHT.tolist()
    assert deciles["lift"].iloc[0] == pytest.approx(2.5)  # 100% vs 40%
    assert deciles["cumulative_gain"].iloc[1] == pytest.approx(0.5)
    assert deciles["cumulative_gain"].iloc[-1] == pytest.approx(1.0)
    assert deciles["cumulative_profit"].tolist() == [
        8,
        16,
        14,
        22,
        20,
        18,
        26,
        24,
        22,
        20,
    ]
    assert report["best_campaign_depth"] == {
        "deciles": 7,
        "customers_contacted": 7,
        "profit": 26.0,
        "profit_per_1000_customers": 2600.0,
        "min_probability": 0.3,
    }
    assert report["deciles"] == deciles.to_dict(orient="records")


def test_decile_table_keeps_every_customer_when_sizes_do_not_divide() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 23)
    table = computations.decile_table(y, rng.random(23), PARAMS)
    assert table["customers"].sum() == 23
    assert table["purchasers"].sum() == y.sum()
    assert set(table["customers"]) == {2, 3}
    assert (table["max_probability"].diff().dropna() <= 0).all()


def test_no_profitable_decile_advises_contacting_no_one() -> None:
    costly = BusinessParams(contact_cost=9.0, conversion_value=10.0)
    typed, _ = nodes.assess_business_impact(predictions(bought=np.zeros(10)), costly)
    report = as_json(typed)
    assert report["best_campaign_depth"]["deciles"] == 0
    assert report["best_strategy"] == "no_one"
    assert "contact no one" in nodes.summarise_business_impact(typed)


def test_business_summary_quotes_the_figures(
    impact: tuple[BusinessImpact, pd.DataFrame],
) -> None:
    text = nodes.summarise_business_impact(impact[0])
    assert "**Classified correctly:** 8 customers (80.0%)" in text
    assert "**Missed opportunities:** 1 buyers not targeted (25.0%" in text
    assert "| Target the model's picks **(best)** | 4 | 3 | €22 | €2,200 |" in text
    assert "| Contact everyone | 10 | 4 | €20 | €2,000 |" in text
    assert "contact cost / conversion value = 0.20" in text
    assert "not attributed to the campaign" in text


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 1), st.sampled_from([0.1, 0.25, 0.5, 0.5, 0.75, 0.9])),
        min_size=2,
        max_size=40,
    ),
    threshold=st.sampled_from(THRESHOLD_GRID.tolist()),
)
def test_resampled_metrics_equal_the_project_metrics(
    rows: list[tuple[int, float]], threshold: float
) -> None:
    """The vectorised bootstrap metrics are the project's, ties included."""
    y = np.array([r[0] for r in rows])
    proba = np.array([r[1] for r in rows])
    fast = computations.resample_metrics(y[None, :], proba[None, :], threshold)
    slow = classification_metrics(y, proba, threshold)
    for metric in computations.REPORTED_METRICS:
        expected, found = slow[metric], float(fast[metric][0])
        assert (math.isnan(expected) and math.isnan(found)) or found == pytest.approx(
            expected, abs=1e-12
        ), metric


def test_bootstrap_intervals_are_seeded_and_bracket_the_estimate() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    proba = np.clip(0.3 * y + 0.7 * rng.random(200), 0, 1)
    part = predictions(proba, y, 0.5)
    settings_ = BootstrapParams(n_resamples=300, seed=5)
    first = computations.bootstrap_intervals(part, settings_)
    assert first == computations.bootstrap_intervals(part, settings_)
    assert first != computations.bootstrap_intervals(
        part, BootstrapParams(n_resamples=300, seed=6)
    )
    point = classification_metrics(y, proba, 0.5)
    for metric, (low, high) in first.items():
        assert low <= point[metric] <= high, metric


def test_calibration_summary_by_hand() -> None:
    summary = as_json(computations.calibration_summary(predictions(), n_bins=5))
    expected_brier = float(np.mean((PROBA - BOUGHT) ** 2))
    assert summary["brier_score"] == pytest.approx(expected_brier)
    assert summary["reference_brier_score"] == pytest.approx(0.4 * 0.6)
    assert summary["mean_gap"] == pytest.approx(PROBA.mean() - 0.4)
    assert [b["customers"] for b in summary["bins"]] == [2] * 5
    # Lowest bin: probabilities 0.05 and 0.1, nobody bought.
    assert summary["bins"][0] == {
        "mean_probability": pytest.approx(0.075),
        "purchase_rate": 0.0,
        "customers": 2,
    }


def test_threshold_table_matches_the_metrics_at_each_threshold() -> None:
    table = computations.threshold_table(BOUGHT, PROBA)
    row = table[np.isclose(table["threshold"], THRESHOLD)].iloc[0]
    metrics = classification_metrics(BOUGHT, PROBA, THRESHOLD)
    for name in ("precision", "recall", "f1"):
        assert row[name] == pytest.approx(metrics[name])
    assert row["contacted_share"] == pytest.approx(0.4)


def test_model_comparison_marks_the_selected_model_and_quotes_metrics() -> None:
    table, markdown = nodes.build_model_comparison(model_metrics())
    assert table["model"].tolist() == ["logistic_regression", "xgboost"]
    assert table["selected"].tolist() == [False, True]
    assert table["contender"].tolist() == [True, True]
    assert table.loc[1, "test_f1"] == 0.74
    assert table.loc[1, "cv_f1_mean"] == pytest.approx(0.69)
    assert table.loc[1, "cv_f1_std"] == 0.02
    assert table.loc[1, "cv_roc_auc_mean"] == pytest.approx(0.85)
    assert (
        "| XGBoost **(selected)** | 0.55 | 0.800 | 0.750 | 0.750 | 0.740 | 0.900 "
        "| 0.850 | 0.180 | 0.550 | 0.040 | 1.500 | 0.690 ± 0.020 | 0.850 |" in markdown
    )


def test_selection_summary_explains_a_tie_break_between_contenders() -> None:
    text = nodes.build_model_comparison(model_metrics())[1]
    assert "Logistic regression and XGBoost were within one standard error" in text
    assert "(CV ROC AUC 0.850) is selected" in text
    metrics = model_metrics()
    alone = metrics.model_copy(
        update={
            "models": {
                **metrics.models,
                "logistic_regression": metrics.models["logistic_regression"].model_copy(
                    update={"contender": False}
                ),
            }
        }
    )
    assert (
        "\n\n"
        + (
            "Selected: **XGBoost**. The candidate with the best mean F1 over the "
            "cross-validation folds wins."
        )
        + "\n\n"
        in nodes.build_model_comparison(alone)[1]
    )


def test_selection_summary_names_a_probability_tie_break() -> None:
    text = nodes.build_model_comparison(model_metrics(tie_break="brier"))[1]
    assert "Logistic regression and XGBoost were within one standard error" in text
    assert (
        "the one with the most honest probabilities (lowest CV Brier score 0.130, "
        "`modelling.tie_break`) is selected" in text
    )
    assert "ranks customers best" not in text


def test_selection_summary_names_the_ensemble_hedge() -> None:
    text = nodes.build_model_comparison(model_metrics(tie_break="ensemble"))[1]
    assert "Logistic regression and XGBoost were within one standard error" in text
    assert (
        "the ensemble is selected whenever it is one of them, as a hedge: rather "
        "than bet on one of several candidates CV cannot tell apart, it averages "
        "them (`modelling.tie_break: ensemble`; otherwise the contender with the "
        "lowest CV Brier score is)." in text
    )


def test_wrong_business_parameter_names_the_key() -> None:
    with pytest.raises(ValidationError, match="contact_cost"):
        BusinessParams.model_validate({"contact_cost": -1})
    with pytest.raises(ValidationError, match="conversion_valeu"):
        BusinessParams.model_validate({"conversion_valeu": 3})
    # The business figures live in business:, no longer in reporting:.
    with pytest.raises(ValidationError, match="contact_cost"):
        ReportingParams.model_validate({"contact_cost": 5})


def _texts(fig: Figure) -> str:
    found = [fig.get_suptitle()]
    for ax in fig.axes:
        found += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        found += [t.get_text() for t in ax.texts]
    return "\n".join(found)


def test_plots_say_what_they_show_and_mark_the_threshold(
    impact: tuple[BusinessImpact, pd.DataFrame],
) -> None:
    report, deciles = impact
    confusion = plots.confusion_matrix_figure(
        report.confusion_matrix, model="xgboost", threshold=0.55
    )
    assert "XGBoost on 10 test customers" in _texts(confusion)
    assert "Missed opportunities\n1 (10%)" in _texts(confusion)
    chart = figures.threshold_chart(
        computations.threshold_table(BOUGHT, PROBA),
        threshold=0.55,
        tuned_for="F1",
        model="xgboost",
    )
    static, interactive = render.to_matplotlib(chart), render.to_plotly(chart)
    assert "chosen threshold 0.55" in _texts(static)
    assert static.axes[0].get_xlabel().startswith("Decision threshold")
    assert any(
        a.text == "chosen threshold 0.55" for a in interactive.layout.annotations
    )
    chart = figures.gain_lift_chart(deciles, model="xgboost")
    static, interactive = render.to_matplotlib(chart), render.to_plotly(chart)
    assert isinstance(static, Figure)
    assert isinstance(interactive, go.Figure)
    assert "Lift by decile" in _texts(static)


def test_roc_pr_figures_draw_every_candidate_with_its_quoted_score() -> None:
    both = pd.concat(
        [
            predictions(model="logistic_regression", selected=False),
            predictions(PROBA[::-1].copy(), model="xgboost"),
        ]
    )
    scores = {
        "logistic_regression": {"roc_auc": 0.875, "average_precision": 0.8},
        "xgboost": {"roc_auc": 0.125, "average_precision": 0.3},
    }
    chart = figures.roc_pr_chart(both, scores, selected="xgboost")
    static, interactive = render.to_matplotlib(chart), render.to_plotly(chart)
    labels = [t.get_text() for t in static.axes[0].get_legend().get_texts()]
    assert "Logistic regression: AUC 0.875" in labels
    assert "XGBoost (selected): AUC 0.125" in labels
    names = {trace.name for trace in interactive.data}
    assert "XGBoost (selected): AP 0.300" in names
