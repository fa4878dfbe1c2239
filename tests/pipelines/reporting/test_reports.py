"""The reports' words: templates, filters, the model card and the HTML report."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pandas as pd
import pytest

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.candidates import (
    Candidate,
    get_candidate,
    register,
    unregister,
)
from customer_purchase_prediction.columns import FEATURE_COLUMNS, LABEL_COLUMN
from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.pipelines.reporting import nodes, templating
from customer_purchase_prediction.pipelines.reporting.params import ReportingParams
from customer_purchase_prediction.pipelines.reporting.summaries import BusinessImpact
from tests.pipelines.reporting.inputs import (
    PROBA,
    VERSION,
    fitted_model,
    importance_table,
    model_metrics,
    predictions,
)

PARAMS = ReportingParams(data_note="Toy data.")
BUSINESS = BusinessParams()


@pytest.fixture(scope="module")
def impact() -> BusinessImpact:
    return nodes.assess_business_impact(predictions(), BUSINESS)[0]


def card(impact: BusinessImpact, **metrics: Any) -> str:
    """The card of a fitted logistic regression, selected (a hand-made artifact)."""
    report = model_metrics(selected="logistic_regression", **metrics)
    return nodes.write_model_card(
        report, impact, importance_table(), fitted_model(), PARAMS, BUSINESS
    )


# ---------------------------------------------------------------- filters
def test_filters_format_money_shares_and_missing_numbers() -> None:
    assert templating.money(-1234.4, "€") == "-€1,234"
    assert templating.money(5, "$", 2) == "$5.00"
    assert templating.share(0.125) == "12.5%"
    assert templating.share(0.95, 0) == "95%"
    assert templating.num(float("nan")) == "n/a"
    assert templating.num(None) == "n/a"
    assert templating.num(0.12345, 2) == "0.12"
    assert templating.names(["xgboost"]) == "XGBoost"
    assert templating.names(["logistic_regression", "random_forest", "xgboost"]) == (
        "Logistic regression, Random forest and XGBoost"
    )


def test_templates_refuse_a_missing_value() -> None:
    with pytest.raises(Exception, match="mm"):
        templating.render("model_comparison.md.j2", metrics=())


# ---------------------------------------------------------------- model card
def test_card_sections_quote_the_numbers_and_the_artifact(
    impact: BusinessImpact,
) -> None:
    text = card(impact)
    assert text.startswith(
        "# Model card: purchase propensity model (Logistic regression)"
    )
    assert "| F1 | 0.750 | 0.650 - 0.850 |" in text
    assert "**Classified correctly:** 8 customers (80.0%)." in text
    assert "`basket_intensity` (0.200), `engagement_score` (0.100)" in text
    inputs = ", ".join(f"`{c}`" for c in FEATURE_COLUMNS)
    assert f"Input: validated session columns ({inputs});" in text
    assert text.endswith("(threshold 0.55).\n")


def test_card_reads_training_data_from_the_artifact_metadata(
    impact: BusinessImpact,
) -> None:
    text = card(impact)
    assert "603 in, 600 kept, 3 rejected (0.5%)" in text
    assert "`time_spent:negative` (2), `customer_id:duplicated` (1)" in text
    assert "**Training part:** 420 rows, purchase rate 30.0%" in text
    assert "Class weighting was on in training" in text
    model = fitted_model(data_quality=None)
    with pytest.raises(ValueError, match=f"purchase_model {VERSION} has no data"):
        nodes.write_model_card(
            model_metrics(), impact, importance_table(), model, PARAMS, BUSINESS
        )


def test_card_recreate_line_pins_this_version(impact: BusinessImpact) -> None:
    assert (
        "`kedro run --pipelines=reporting --load-versions=purchase_model:"
        f"{VERSION}`" in card(impact)
    )


def test_roc_auc_selection_says_the_threshold_was_tuned_for_f1(
    impact: BusinessImpact,
) -> None:
    text = card(impact, selection_metric="roc_auc")
    assert "tuned for F1 on the validation part (ROC AUC does not depend" in text
    assert "The threshold serves F1, not profit" in text
    assert "for ROC AUC" not in text
    header = next(line for line in text.splitlines() if line.startswith("| Candidate"))
    assert header.count("CV ROC AUC") == 1
    assert header == "| Candidate | CV ROC AUC (mean ± std) | Contender | Threshold |"
    f1_header = next(
        line for line in card(impact).splitlines() if line.startswith("| Candidate")
    )
    assert f1_header == (
        "| Candidate | CV F1 (mean ± std) | CV ROC AUC | Contender | Threshold |"
    )
    comparison = nodes.build_model_comparison(model_metrics(selection_metric="roc_auc"))
    assert comparison[1].count("CV ROC AUC") == 2  # header once, the summary once
    chart = nodes.plot_threshold_curves(
        predictions(), model_metrics(selection_metric="roc_auc")
    )
    assert "tuned for F1 on the validation part" in chart[0].get_suptitle()
    assert "tuned for F1 on the validation part" in chart[1].layout.title.text


def test_card_says_which_ensemble_weights_auto_chose_and_why(
    impact: BusinessImpact,
) -> None:
    def sentence(**metrics: Any) -> str:
        text = card(impact, **metrics)
        return next(s for s in text.splitlines() if s.startswith("Every candidate"))

    equal = sentence(
        ensemble_weights="equal",
        ensemble_weights_setting="auto",
        ensemble_weights_cv={"metric": "brier", "equal": 0.13161, "greedy": 0.13204},
    )
    assert (
        "the ensemble averages them with equal weights (`modelling.ensemble."
        "weights: auto` chose equal weights over greedy ones on honest "
        "cross-fitted CV Brier score (each fold's weights chosen on the other "
        "folds), 0.1316 against 0.1320: fitted weights did worse on rows they "
        "were not chosen on). Selected:" in equal
    )
    greedy = sentence(
        ensemble_weights="greedy",
        ensemble_weights_setting="auto",
        ensemble_weights_cv={"metric": "brier", "equal": 0.12841, "greedy": 0.12802},
    )
    assert (
        "the ensemble blends them with weights chosen on their out-of-fold "
        "probabilities (`modelling.ensemble.weights: auto` chose greedy weights "
        "over equal ones on honest cross-fitted CV Brier score (each fold's "
        "weights chosen on the other folds), 0.1280 against 0.1284: fitted "
        "weights did better on rows they were not chosen on)." in greedy
    )
    tie = sentence(
        ensemble_weights="equal",
        ensemble_weights_setting="auto",
        ensemble_weights_cv={"metric": "log_loss", "equal": 0.41, "greedy": 0.41},
    )
    assert "CV Log-loss (each fold's weights chosen on the other folds), " in tie
    assert "0.4100 against 0.4100: a tie goes to the simpler equal weights)." in tie
    fixed = sentence(ensemble_weights="equal", ensemble_weights_setting="equal")
    assert "(`modelling.ensemble.weights: equal`: no weights are fitted" in fixed
    assert "auto" not in fixed
    chosen = sentence(ensemble_weights="greedy", ensemble_weights_setting="greedy")
    assert "(greedy selection, `modelling.ensemble.weights: greedy`)." in chosen
    older = sentence()  # an older artifact: its weighting unknown
    assert "with weights chosen on their out-of-fold probabilities. Selected:" in older


def test_profit_selection_says_so_and_names_the_business_figures(
    impact: BusinessImpact,
) -> None:
    text = card(
        impact,
        selection_metric="profit",
        calibration_method="sigmoid",
        threshold_tuned_on="out_of_fold_and_validation",
    )
    assert "The candidate with the best mean Profit per customer over the" in text
    assert (
        "Selected by expected profit per customer: contacting a customer costs "
        "$5.00 and a purchase is worth $25.00" in text
    )
    assert (
        "tuned for Profit per customer on the out-of-fold probabilities of the "
        "training part plus the validation part" in text
    )
    assert "The threshold maximises expected profit per customer" in text
    assert "not profit" not in text
    assert "Probabilities are calibrated (sigmoid" in text
    assert "Log-loss 0.550, expected calibration error 0.040." in text
    assert "Class weighting was on in training" not in text
    f1_text = card(impact)
    assert "Selected by expected profit" not in f1_text
    assert "The threshold serves F1, not profit" in f1_text
    assert "Probabilities are not calibrated" in f1_text


def test_a_close_call_is_named_in_the_limitations(impact: BusinessImpact) -> None:
    metrics = model_metrics(selected="logistic_regression")
    lone = {
        name: entry.model_copy(update={"contender": entry.selected})
        for name, entry in metrics.models.items()
    }
    text = nodes.write_model_card(
        metrics.model_copy(
            update={"models": lone, "contenders": ["logistic_regression"]}
        ),
        impact,
        importance_table(),
        fitted_model(),
        PARAMS,
        BUSINESS,
    )
    # The candidates' CV F1 are 0.70 and 0.69, closer than the CV std of 0.02.
    assert (
        "Logistic regression beats XGBoost by 0.010 in CV F1, less than one CV "
        "standard deviation (0.020)" in text
    )


# ---------------------------------------------------------------- no own importance
@pytest.fixture
def plain_candidate() -> Iterator[str]:
    """A candidate without importance of its own (a copy of logistic regression)."""
    name = "plain_logistic"
    base = get_candidate("logistic_regression")
    register(
        Candidate(
            name=name,
            display_name="Plain logistic",
            estimator=base.estimator,
            library=base.library,
            scorer=base.scorer,
        )
    )
    yield name
    unregister(name)


def test_a_candidate_without_own_importance_gets_permutation_only(
    plain_candidate: str, trained_model: PurchaseModel, impact: BusinessImpact
) -> None:
    model = PurchaseModel(
        trained_model.pipeline,
        threshold=trained_model.threshold,
        confidence_margins=trained_model.confidence_margins,
        metadata={**trained_model.metadata, "model_name": plain_candidate},
    )
    rng = np.random.default_rng(4)
    rows = pd.concat([predictions(), predictions()], ignore_index=True)
    rows[LABEL_COLUMN] = rng.integers(0, 2, len(rows))
    table = nodes.explain_features(model, rows, PARAMS)
    assert table["model_importance"].isna().all()
    assert (table["importance_kind"] == "").all()
    assert table["permutation_mean"].is_monotonic_decreasing
    figure = nodes.plot_feature_importance(table, model_metrics(), PARAMS)
    assert len(figure.axes) == 1
    assert "permutation importance only" in figure.get_suptitle()
    text = nodes.write_model_card(
        model_metrics(), impact, table, model, PARAMS, BUSINESS
    )
    assert "Plain logistic has no importance of its own" in text


# ---------------------------------------------------------------- HTML report
class _Page(HTMLParser):
    """Headings, images and every URL-like attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.images: list[str] = []
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        found = dict(attrs)
        self.urls += [v or "" for k, v in attrs if k in {"src", "href", "action"}]
        if tag == "img":
            self.images.append(found.get("src") or "")
        if tag in {"h1", "h2"}:
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag in {"h1", "h2"} and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading.append(data)


FIGURES = (
    "confusion_matrix",
    "roc_pr_curves",
    "threshold_curves",
    "calibration",
    "gain_lift",
    "feature_importance",
)


def html_report(trained_model: PurchaseModel) -> str:
    rows = pd.concat(
        [
            predictions(model="logistic_regression", selected=False),
            predictions(PROBA[::-1].copy(), model="xgboost"),
        ],
        ignore_index=True,
    )
    impact = nodes.assess_business_impact(rows, BUSINESS)[0]
    importance = nodes.explain_features(trained_model, rows, PARAMS)
    return nodes.write_html_report(
        model_metrics(), impact, importance, rows, trained_model, PARAMS, BUSINESS
    )


def test_html_report_holds_every_section_and_figure_offline(
    trained_model: PurchaseModel,
) -> None:
    page = _Page()
    page.feed(html_report(trained_model))
    assert page.headings[0].startswith("Model card: purchase propensity model (")
    for heading in (
        "Intended use",
        "Test metrics",
        "Limitations",
        "Model comparison",
        "Business impact of the purchase model",
        "Expected profit by strategy",
        "Customers by decile of predicted purchase probability",
    ):
        assert heading in page.headings
    assert len(page.images) == len(FIGURES)
    assert all(src.startswith("data:image/png;base64,") for src in page.images)
    assert [u for u in page.urls if not u.startswith(("#", "data:"))] == []
    assert page.tags.isdisjoint({"script", "link", "iframe"})


def test_html_report_places_each_figure_once(trained_model: PurchaseModel) -> None:
    text = html_report(trained_model)
    for name in FIGURES:
        assert text.count(f'id="figure-{name}"') == 1
    assert "<table>" in text  # the Markdown tables became HTML tables
    assert "http://" not in text
    assert "https://" not in text


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("brier", "for its lowest CV Brier score"),
        ("log_loss", "for its lowest CV Log-loss"),
        ("roc_auc", "for its ranking quality"),
        ("ensemble", "as the hedge of averaging them"),
    ],
)
def test_card_says_which_tie_break_chose_among_the_contenders(
    impact: BusinessImpact, rule: str, reason: str
) -> None:
    text = card(impact, tie_break=rule)
    line = next(s for s in text.splitlines() if "Cross-validation cannot tell" in s)
    assert f"was chosen {reason} (`modelling.tie_break: {rule}`)" in line
