"""The reports' Markdown: every figure formatted, none computed here."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.pipelines.reporting import plots
from customer_purchase_prediction.pipelines.reporting.computations import (
    CALIBRATION_TOLERANCE,
    METRIC_LABELS,
    PER_CUSTOMERS,
    REPORTED_METRICS,
    class_weighted,
)
from customer_purchase_prediction.pipelines.reporting.params import (
    ReportingParams,
)


# ================================================================ Markdown
def _money(value: float, currency: str) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}{currency}{abs(value):,.0f}"


def _share(value: float) -> str:
    return f"{value:.1%}"


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A GitHub-flavoured Markdown table (numbers right-aligned)."""
    align = ["---" if i == 0 else "---:" for i in range(len(header))]
    lines = [header, align, *rows]
    return ["| " + " | ".join(cells) + " |" for cells in lines]


def comparison_markdown(table: pd.DataFrame, model_metrics: dict[str, Any]) -> str:
    metric = model_metrics["selection_metric"]
    label = METRIC_LABELS[metric]
    tie_break = metric != "roc_auc"
    header = [
        "Model",
        "Threshold",
        *(METRIC_LABELS[m] for m in REPORTED_METRICS),
        f"CV {label} (mean ± std)",
        *(["CV ROC AUC"] if tie_break else []),
    ]
    rows = [
        [
            plots.display_name(row.model) + (" **(selected)**" if row.selected else ""),
            _num(row.threshold, 2),
            *(_num(getattr(row, f"test_{m}")) for m in REPORTED_METRICS),
            f"{_num(getattr(row, f'cv_{metric}_mean'))} ± "
            f"{_num(getattr(row, f'cv_{metric}_std'))}",
            *([_num(row.cv_roc_auc_mean)] if tie_break else []),
        ]
        for row in table.itertuples(index=False)
    ]
    return "\n".join(
        [
            "# Model comparison",
            "",
            selection_summary(model_metrics),
            "",
            f"Test columns: each candidate at its own threshold (tuned on the "
            f"validation part) on the {model_metrics['test_rows']} test customers "
            f"({model_metrics['test_purchasers']} purchasers), scored once. CV "
            "columns: mean ± standard deviation over the cross-validation folds on "
            "the training part.",
            "",
            *markdown_table(header, rows),
            "",
        ]
    )


def _names(models: list[str]) -> str:
    names = [plots.display_name(m) for m in models]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def selection_summary(metrics: Mapping[str, Any]) -> str:
    """How the selected model was chosen, in one or two sentences."""
    label = METRIC_LABELS[metrics["selection_metric"]]
    models, selected = metrics["models"], metrics["selected_model"]
    contenders = [name for name, entry in models.items() if entry["contender"]]
    text = (
        f"Selected: **{plots.display_name(selected)}**. The candidate with the best "
        f"mean {label} over the cross-validation folds wins"
    )
    if len(contenders) < 2:  # noqa: PLR2004
        return text + "."
    auc = models[selected]["cv"]["roc_auc"]["mean"]
    return (
        f"{text}, but {_names(contenders)} were "
        f"within one standard error of the best, too close for CV to tell apart "
        f"on {label}; among them the one that ranks customers best (CV ROC AUC "
        f"{auc:.3f}) is selected."
    )


def impact_headline(impact: Mapping[str, Any]) -> list[str]:
    cur = impact["assumptions"]["currency"]
    correct = impact["classified_correctly"]
    missed, waste = impact["missed_opportunities"], impact["marketing_waste"]
    model = impact["strategies"]["model"]
    return [
        f"{plots.display_name(impact['model'])} at threshold "
        f"{impact['threshold']:.2f} on {impact['test_customers']} test customers "
        f"({impact['purchasers']} of them bought, {_share(impact['purchase_rate'])}):",
        "",
        f"- **Classified correctly:** {correct['customers']} customers "
        f"({_share(correct['share'])}).",
        f"- **Targeted:** {model['customers_contacted']} customers, of whom "
        f"{model['purchasers_reached']} bought.",
        f"- **Missed opportunities:** {missed['customers']} buyers not targeted "
        f"({_share(missed['share_of_purchasers'])} of all buyers; "
        f"{_money(missed['forgone_profit'], cur)} of profit forgone).",
        f"- **Marketing waste:** {waste['customers']} targeted customers did not buy "
        f"({_share(waste['share_of_contacted'])} of those targeted; "
        f"{_money(waste['wasted_cost'], cur)} of contact costs).",
    ]


STRATEGY_LABELS = {
    "model": "Target the model's picks",
    "everyone": "Contact everyone",
    "no_one": "Contact no one",
}


def strategy_section(impact: Mapping[str, Any]) -> list[str]:
    cur = impact["assumptions"]["currency"]
    rows = [
        [
            STRATEGY_LABELS[name]
            + (" **(best)**" if name == impact["best_strategy"] else ""),
            str(s["customers_contacted"]),
            str(s["purchasers_reached"]),
            _money(s["profit"], cur),
            _money(s["profit_per_1000_customers"], cur),
        ]
        for name, s in impact["strategies"].items()
    ]
    depth = impact["best_campaign_depth"]
    advice = (
        f"The most profitable campaign on these customers contacts the top "
        f"{depth['deciles']} decile(s) (purchase probability >= "
        f"{depth['min_probability']:.2f}): {_money(depth['profit'], cur)}, "
        f"{_money(depth['profit_per_1000_customers'], cur)} per "
        f"{PER_CUSTOMERS:,} customers."
        if depth["deciles"]
        else "No decile is profitable at these costs: contact no one."
    )
    versus = impact["model_vs_everyone"]
    counts = impact["confusion_matrix"]
    comparison = (
        f"Against contacting everyone, the model skips {counts['true_negatives']} "
        f"non-buyers (saving {_money(versus['saved_contact_costs'], cur)}) and "
        f"{counts['false_negatives']} buyers (forgoing "
        f"{_money(versus['forgone_profit'], cur)}): "
        f"{_money(versus['profit_difference'], cur)} in the model's favour."
    )
    return [
        "## Expected profit by strategy",
        "",
        *markdown_table(
            [
                "Strategy",
                "Contacted",
                "Buyers reached",
                "Profit",
                f"Profit per {PER_CUSTOMERS:,} customers",
            ],
            rows,
        ),
        "",
        comparison,
        "",
        advice,
    ]


def decile_section(impact: Mapping[str, Any]) -> list[str]:
    cur = impact["assumptions"]["currency"]
    rows = [
        [
            str(d["decile"]),
            f"{d['min_probability']:.2f}-{d['max_probability']:.2f}",
            str(d["customers"]),
            str(d["purchasers"]),
            _share(d["purchase_rate"]),
            f"{d['lift']:.2f}",
            _share(d["cumulative_gain"]),
            _money(d["cumulative_profit"], cur),
        ]
        for d in impact["deciles"]
    ]
    return [
        "## Customers by decile of predicted purchase probability",
        "",
        "Decile 1 holds the 10% of customers the model finds most likely to buy. "
        "Lift is the decile's purchase rate over the average rate; cumulative "
        "profit is that of contacting deciles 1 to this one.",
        "",
        *markdown_table(
            [
                "Decile",
                "Probability",
                "Customers",
                "Buyers",
                "Purchase rate",
                "Lift",
                "Buyers reached (cumulative)",
                "Cumulative profit",
            ],
            rows,
        ),
    ]


def assumption_section(impact: Mapping[str, Any]) -> list[str]:
    a = impact["assumptions"]
    cur = a["currency"]
    return [
        "## Assumptions",
        "",
        f"- Profit = conversion value x buyers contacted - contact cost x customers "
        f"contacted, with a conversion value of {_money(a['conversion_value'], cur)} "
        f"and a contact cost of {cur}{a['contact_cost']:,.2f} "
        "(`reporting.conversion_value`, `reporting.contact_cost`).",
        f"- {a['attribution'].capitalize()}.",
        f"- Contacting a customer pays off when their purchase probability exceeds "
        f"contact cost / conversion value = {a['break_even_probability']:.2f}.",
        f"- Figures are for the test customers and scaled per {PER_CUSTOMERS:,} "
        "customers; the test part is small, so treat them as estimates.",
        "",
    ]


# ---------------------------------------------------------------- model card
def card_header(metrics: Mapping[str, Any], model: PurchaseModel) -> list[str]:
    meta = model.metadata
    return [
        f"# Model card: purchase propensity model ({plots.display_name(model.name)})",
        "",
        f"- **Artifact version:** `{metrics['artifact_version']}` "
        "(`data/06_models/purchase_model.pkl/<version>/`)",
        f"- **Trained at:** {meta.get('trained_at', 'unknown')}",
        f"- **Estimator:** {meta.get('estimator', type(model.estimator).__name__)} "
        f"with hyperparameters `{meta.get('hyperparameters', {})}`"
        + (f"; {meta['trees']} trees fitted" if meta.get("trees") else ""),
        f"- **Decision threshold:** {model.threshold:.2f}",
        f"- **Training data fingerprint (SHA-256):** "
        f"`{str(meta.get('data_fingerprint', 'unknown'))[:16]}...`",
    ]


def card_intended_use() -> list[str]:
    return [
        "## Intended use",
        "",
        "Scores e-commerce browsing sessions with the probability that the customer "
        "buys, so a marketing team can decide whom to contact first and how many "
        "customers a campaign should reach. Input: validated session columns "
        "(`time_spent`, `pages_viewed`, `basket_value`, `device_type`, "
        "`customer_type`); output: a probability, a 0/1 decision at the threshold "
        "and a confidence band.",
        "",
        "Not intended for decisions with legal or financial effects on a person, for "
        "pricing, or for customers and channels unlike the training sessions.",
    ]


def card_training_data(
    quality: Mapping[str, Any], model: PurchaseModel, params: ReportingParams
) -> list[str]:
    rows = quality["rows"]
    reasons = sorted(quality.get("rejects_by_rule", {}).items(), key=lambda kv: -kv[1])
    missing = {
        column: values["share"]
        for column, values in quality.get("missing_values", {}).items()
        if values["count"]
    }
    lines = [
        "## Training data",
        "",
        *([params.data_note, ""] if params.data_note else []),
        f"- **Source:** `{quality.get('source', 'unknown')}`",
        f"- **Rows:** {rows['in']} in, {rows['kept']} kept, {rows['rejected']} "
        f"rejected ({_share(rows['rejected'] / max(rows['in'], 1))}).",
        "- **Main reject reasons:** "
        + (", ".join(f"`{rule}` ({n})" for rule, n in reasons[:3]) or "none"),
        "- **Missing values (imputed from training rows):** "
        + (", ".join(f"{c} {_share(s)}" for c, s in missing.items()) or "none"),
        f"- **Purchase rate:** {_share(quality['purchase_rate'])} of kept rows",
    ]
    meta = model.metadata
    if "training_rows" in meta:
        lines.append(
            f"- **Training part:** {meta['training_rows']} rows, purchase rate "
            f"{_share(meta.get('training_positive_rate', float('nan')))}"
        )
    return lines


def card_selection(metrics: Mapping[str, Any]) -> list[str]:
    metric = metrics["selection_metric"]
    label = METRIC_LABELS[metric]
    rows = [
        [
            plots.display_name(name) + (" **(selected)**" if entry["selected"] else ""),
            f"{_num(entry['cv'][metric]['mean'])} ± {_num(entry['cv'][metric]['std'])}",
            _num(entry["cv"]["roc_auc"]["mean"]),
            "yes" if entry["contender"] else "no",
            _num(entry["threshold"], 2),
        ]
        for name, entry in metrics["models"].items()
    ]
    return [
        "## Candidates and selection",
        "",
        "Every candidate was tuned and cross-validated on the training part. "
        f"{selection_summary(metrics)} Contenders are the candidates within one "
        f"standard error of the best CV {label} "
        "(`modelling.tie_break_within_standard_error`); exact ties go to the "
        "simpler model. Each candidate's threshold is tuned on the validation part "
        f"for {label}.",
        "",
        *markdown_table(
            [
                "Candidate",
                f"CV {label} (mean ± std)",
                "CV ROC AUC",
                "Contender",
                "Threshold",
            ],
            rows,
        ),
        "",
        "Full comparison on the test part: `model_comparison.md`.",
    ]


def card_performance(metrics: Mapping[str, Any]) -> list[str]:
    entry = metrics["models"][metrics["selected_model"]]
    boot = metrics["bootstrap"]
    rows = [
        [
            METRIC_LABELS[m],
            _num(entry["test"][m]),
            f"{_num(entry['test_interval'][m][0])} - {_num(entry['test_interval'][m][1])}",
        ]
        for m in REPORTED_METRICS
    ]
    return [
        "## Test metrics",
        "",
        f"On the {metrics['test_rows']} test customers ({metrics['test_purchasers']} "
        f"purchasers), never used for training or selection, at threshold "
        f"{metrics['threshold']:.2f}. Intervals: {boot['confidence']:.0%} percentile "
        f"bootstrap over the test rows ({boot['n_resamples']} resamples, seed "
        f"{boot['seed']}).",
        "",
        *markdown_table(
            ["Metric", "Test value", f"{boot['confidence']:.0%} interval"], rows
        ),
    ]


def card_calibration(metrics: Mapping[str, Any]) -> list[str]:
    cal = metrics["calibration"]
    return [
        "## Calibration",
        "",
        f"Brier score {_num(cal['brier_score'])} on the test part (always "
        f"predicting the purchase rate would score "
        f"{_num(cal['reference_brier_score'])}; lower is better; skill "
        f"{_num(cal['brier_skill_score'], 2)}). {_calibration_sentence(cal)} "
        "See `calibration.png`.",
    ]


def _calibration_sentence(cal: Mapping[str, Any]) -> str:
    said = (
        f"The average predicted probability is {_share(cal['mean_probability'])} "
        f"against an observed purchase rate of {_share(cal['purchase_rate'])}"
    )
    if abs(cal["mean_gap"]) < CALIBRATION_TOLERANCE:
        return f"{said}: on average the probabilities are about right."
    direction = "overstate" if cal["mean_gap"] > 0 else "understate"
    return (
        f"{said}: the probabilities {direction} the chance of a purchase, so use "
        "them to rank customers rather than as exact chances (see Limitations)."
    )


def card_business(impact: Mapping[str, Any]) -> list[str]:
    cur = impact["assumptions"]["currency"]
    strategies = impact["strategies"]
    per = f"per {PER_CUSTOMERS:,} customers"
    return [
        "## Business impact",
        "",
        *impact_headline(impact),
        f"- **Expected profit {per}:** model "
        f"{_money(strategies['model']['profit_per_1000_customers'], cur)}, contacting "
        f"everyone {_money(strategies['everyone']['profit_per_1000_customers'], cur)}, "
        f"contacting no one {_money(0.0, cur)}. Assumptions and the decile table: "
        "`business_impact.md`.",
    ]


def card_features(importance: pd.DataFrame) -> list[str]:
    top = importance.head(5)
    return [
        "## What drives the predictions",
        "",
        "Largest drops in test ROC AUC when a model-matrix column is shuffled "
        "(permutation importance): "
        + ", ".join(
            f"`{r.feature}` ({r.permutation_mean:.3f})" for r in top.itertuples()
        )
        + ". See `feature_importance.png` and `feature_importance.csv`.",
    ]


def card_limitations(
    metrics: Mapping[str, Any],
    quality: Mapping[str, Any],
    model: PurchaseModel,
    params: ReportingParams,
) -> list[str]:
    selected = metrics["models"][metrics["selected_model"]]
    f1_low, f1_high = selected["test_interval"]["f1"]
    items = [
        *([params.data_note] if params.data_note else []),
        f"Small test set: {metrics['test_rows']} customers, "
        f"{metrics['test_purchasers']} purchasers. The {metrics['bootstrap']['confidence']:.0%} "
        f"interval of test F1 runs from {_num(f1_low)} to {_num(f1_high)}; "
        "differences between candidates smaller than that are noise.",
        *_selection_note(metrics),
        *_weighting_note(metrics, model),
        *_data_notes(quality),
        f"The threshold serves {METRIC_LABELS[metrics['selection_metric']]}, not "
        f"profit: contacting pays off above a probability of "
        f"{params.break_even_probability:.2f} (contact cost / conversion value).",
        "Permutation importance shuffles each model-matrix column on its own: "
        "one-hot columns and related measures (time, pages, engagement) share "
        "their importance, so read it as a ranking, not as causes.",
        "Values outside the training ranges are clipped to them; sessions unlike "
        "the training data get less reliable scores.",
    ]
    return ["## Limitations", "", *(f"- {item}" for item in items)]


def _selection_note(metrics: Mapping[str, Any]) -> list[str]:
    metric, selected = metrics["selection_metric"], metrics["selected_model"]
    models, label = metrics["models"], METRIC_LABELS[metrics["selection_metric"]]
    contenders = [name for name, entry in models.items() if entry["contender"]]
    if len(contenders) > 1:
        return [
            f"Cross-validation cannot tell {_names(contenders)} apart on {label}; "
            f"{plots.display_name(selected)} was chosen for its ranking quality, "
            "and on other data another contender could be."
        ]
    others = [name for name in models if name != selected]
    if not others:
        return []
    runner_up = max(others, key=lambda n: models[n]["cv"][metric]["mean"])
    margin = (
        models[selected]["cv"][metric]["mean"] - models[runner_up]["cv"][metric]["mean"]
    )
    spread = models[selected]["cv"][metric]["std"]
    if margin >= spread:
        return []
    return [
        f"{plots.display_name(selected)} beats {plots.display_name(runner_up)} by "
        f"{margin:.3f} in CV {label}, less than one CV standard deviation "
        f"({spread:.3f}): on other data the choice could go the other way."
    ]


def _weighting_note(metrics: Mapping[str, Any], model: PurchaseModel) -> list[str]:
    if not class_weighted(model.estimator):
        return []
    cal = metrics["calibration"]
    return [
        "Class weighting was on in training: both classes weigh the same, which "
        "shifts probabilities upwards (here the average predicted probability is "
        f"{_share(cal['mean_probability'])} against a purchase rate of "
        f"{_share(cal['purchase_rate'])}). Set `modelling.class_weighting: false` "
        "when calibrated probabilities matter."
    ]


def _data_notes(quality: Mapping[str, Any]) -> list[str]:
    rows = quality["rows"]
    missing = [v["share"] for v in quality.get("missing_values", {}).values()]
    notes = []
    if rows["rejected"]:
        notes.append(
            f"{rows['rejected']} of {rows['in']} training rows broke the data "
            "contract and were left out; the model never saw rows like them."
        )
    if missing and max(missing) > 0:
        notes.append(
            f"Up to {_share(max(missing))} of a column's values were missing and "
            "imputed from training statistics, which flattens their effect."
        )
    return notes


def card_versions(metrics: Mapping[str, Any], model: PurchaseModel) -> list[str]:
    versions = model.metadata.get("library_versions", {})
    return [
        "## Versions and reproduction",
        "",
        *markdown_table(
            ["Library", "Version"], [[name, str(v)] for name, v in versions.items()]
        ),
        "",
        "Recreate every report from this artifact without retraining: "
        f"`kedro run --pipelines=reporting` (the latest model) or "
        f"`kedro run --pipelines=reporting --load-versions=purchase_model:"
        f"{getattr(model, 'version', None) or '<version>'}`.",
        "",
        f"Regenerated on every run; the test metrics, comparison table "
        f"(`model_comparison.md`), `model_metrics.json` and `business_impact.json` "
        f"quote the same numbers (threshold {metrics['threshold']:.2f}).",
    ]
