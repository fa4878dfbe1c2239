"""Realised performance: outcomes that arrived later, joined to their predictions.

An outcomes file has ``customer_id`` and ``purchase`` (0/1), and may have the
``run_id`` of the scoring run it answers. Each outcome is joined to the
prediction of its customer in that run, or, without a ``run_id``, in the latest
run that scored the customer. Outcomes that cannot be joined are rejects with a
reason, as everywhere else: a missing or non-integer id, a label outside 0/1,
an id given twice (for one run), an id no scoring run scored. Rows in = rows
joined + rows rejected.

The metrics are scikit-learn's on the joined rows, per scoring run and over all
of them: ROC AUC, precision, recall and F1 of ``purchase_prediction`` (the
decision at the threshold the run used), the Brier score, the realised profit
of the customers predicted to buy against the profit the model expected of
them (``business.BusinessParams``), and the calibration (groups of equal size
by probability: predicted against realised purchase rate).

Predictions may come from many files (``prediction_history.py``): a
customer's prediction in one run found twice is counted once, the copy set
aside with its reason (``predictions:copy``); two different predictions of
one customer in one run are both set aside (``predictions:conflicting``), as
is a row that is not a prediction (``predictions:not_a_prediction``). Rows of
predictions in = counted + set aside.

``tracking_metrics`` flattens a report (or one model's part of it) into
``name -> float`` for the tracker to log on the model's registry version
(``monitoring_tracking.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.columns import ID_COLUMN, LABEL_COLUMN

RUN_ID = "run_id"  # as pipelines/inference/nodes.py marks every output
PREDICTION = "purchase_prediction"
PROBABILITY = "purchase_probability"
UNKNOWN_RUN = "unknown"
REJECT_RULE = "reject_rule"
REJECT_REASON = "reject_reason"
SOURCE_FILE = "source_file"  # prediction_history.py: where a prediction was read
SOURCE_ROW = "source_row"
MODEL_VERSION = "model_version"  # the Kedro version of the model that scored it
REGISTRY_VERSION = "registry_version"
MODEL_COLUMNS = (MODEL_VERSION, REGISTRY_VERSION)


def join_outcomes(
    predictions: pd.DataFrame, outcomes: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outcomes joined to their predictions, and the outcomes rejected with reasons.

    Returns:
        The joined rows (``run_id``, the id, probability, prediction, purchase)
        and the rejected outcome rows as given, with ``source_row`` (from 1),
        ``reject_rule`` and ``reject_reason``.
    """
    scored = _predictions(predictions)
    given = outcomes.reset_index(drop=True)
    ids = pd.to_numeric(given.get(ID_COLUMN), errors="coerce")
    labels = pd.to_numeric(given.get(LABEL_COLUMN), errors="coerce")
    runs = (
        given[RUN_ID].astype("str").str.strip()
        if RUN_ID in given
        else pd.Series(None, index=given.index, dtype="object")
    )
    rules = pd.Series("", index=given.index, dtype="object")
    reasons = pd.Series("", index=given.index, dtype="object")

    def reject(mask: pd.Series, rule: str, reason: pd.Series | str) -> None:
        fresh = mask & (rules == "")
        rules[fresh] = rule
        reasons[fresh] = reason if isinstance(reason, str) else reason[fresh]

    raw_id = given.get(ID_COLUMN, pd.Series(None, index=given.index)).astype("object")
    whole = ids.notna() & (ids == np.floor(ids.fillna(0)))
    reject(
        ~whole,
        f"{ID_COLUMN}:not_an_id",
        f"{ID_COLUMN} must be a whole number; got " + raw_id.map(repr),
    )
    raw_label = given.get(LABEL_COLUMN, pd.Series(None, index=given.index))
    reject(
        ~labels.isin([0, 1]),
        f"{LABEL_COLUMN}:not_binary",
        f"{LABEL_COLUMN} must be 0 or 1; got " + raw_label.astype("object").map(repr),
    )
    key = pd.DataFrame({"id": ids, "run": runs.fillna("")})
    duplicated = key.duplicated(keep=False) & whole
    reject(
        duplicated,
        f"{ID_COLUMN}:duplicated",
        f"{ID_COLUMN} appears more than once in the outcomes (for one run); got "
        + raw_id.map(repr)
        + ": keep one outcome per customer and run",
    )
    run_of = _matching_run(scored, ids, runs)
    reject(
        run_of.isna(),
        f"{ID_COLUMN}:unknown",
        "no scoring run scored " + f"{ID_COLUMN} " + raw_id.map(repr),
    )
    kept = rules == ""
    joined = pd.DataFrame(
        {
            RUN_ID: run_of[kept].to_numpy(),
            ID_COLUMN: ids[kept].astype("int64").to_numpy(),
            LABEL_COLUMN: labels[kept].astype("int64").to_numpy(),
        }
    ).merge(scored, on=[RUN_ID, ID_COLUMN], how="left", validate="one_to_one")
    rejects = given[~kept].assign(
        source_row=np.flatnonzero(~kept) + 1,
        **{REJECT_RULE: rules[~kept], REJECT_REASON: reasons[~kept]},
    )
    return joined, rejects.reset_index(drop=True)


def collect_predictions(
    predictions: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One prediction per customer and run; the rows set aside, with reasons.

    Returns:
        The counted predictions (run id, the id, probability, prediction, and
        the model columns and ``source_file`` when given) and the rows set
        aside as given, with ``reject_rule`` and ``reject_reason``.
    """
    given = predictions.reset_index(drop=True)
    n = len(given)
    files = (
        given[SOURCE_FILE].astype("str")
        if SOURCE_FILE in given
        else pd.Series("the predictions", index=given.index, dtype="str")
    )
    rows = (
        pd.to_numeric(given[SOURCE_ROW], errors="coerce")
        if SOURCE_ROW in given
        else pd.Series(np.arange(1, n + 1), index=given.index)
    )
    frame = pd.DataFrame(
        {
            RUN_ID: (
                given[RUN_ID].astype("str").str.strip().to_numpy()
                if RUN_ID in given
                else np.full(n, UNKNOWN_RUN, dtype=object)
            ),
            ID_COLUMN: pd.to_numeric(given[ID_COLUMN], errors="coerce"),
            PROBABILITY: pd.to_numeric(given[PROBABILITY], errors="coerce"),
            PREDICTION: pd.to_numeric(given[PREDICTION], errors="coerce"),
        }
    )
    where = files + " row " + rows.astype("Int64").astype("str")
    rules = pd.Series("", index=given.index, dtype="object")
    reasons = pd.Series("", index=given.index, dtype="object")
    broken = frame[[ID_COLUMN, PROBABILITY, PREDICTION]].isna().any(axis=1) | (
        frame[ID_COLUMN] != np.floor(frame[ID_COLUMN].fillna(0))
    )
    rules[broken] = "predictions:not_a_prediction"
    reasons[broken] = (
        f"{where[broken]} is not a prediction: {ID_COLUMN}, {PROBABILITY} and "
        f"{PREDICTION} must be numbers"
    )
    key = [RUN_ID, ID_COLUMN]
    sound = frame[~broken]
    first = ~sound.duplicated(key, keep="first")
    values = sound.groupby(key)[[PROBABILITY, PREDICTION]].transform("nunique")
    conflicting = (values > 1).any(axis=1)
    copy = ~first & ~conflicting
    label = (
        f"{ID_COLUMN} "
        + sound[ID_COLUMN].astype("int64").astype("str")
        + " in run "
        + sound[RUN_ID]
    )
    kept_at = sound[key].merge(
        sound[first][key].assign(_kept=where[sound.index][first].to_numpy()),
        on=key,
        how="left",
    )["_kept"]
    kept_at.index = sound.index
    rules[copy[copy].index] = "predictions:copy"
    reasons[copy[copy].index] = (
        "the prediction of "
        + label[copy]
        + " is also in "
        + kept_at[copy]
        + f" ({where[copy[copy].index]}): counted once"
    )
    clash = conflicting[conflicting].index
    rules[clash] = "predictions:conflicting"
    reasons[clash] = (
        "run "
        + sound.loc[clash, RUN_ID]
        + " has different predictions of "
        + label[clash]
        + " (first in "
        + kept_at[clash]
        + "); none is counted: remove the file that is wrong"
    )
    counted = rules == ""
    kept = frame[counted].astype({ID_COLUMN: "int64", PREDICTION: "int64"})
    kept = kept.assign(
        **{
            PROBABILITY: kept[PROBABILITY].astype("float64"),
            SOURCE_FILE: files[counted].to_numpy(),
            **{
                name: given.loc[counted, name].astype("object").to_numpy()
                if name in given
                else None
                for name in MODEL_COLUMNS
            },
        }
    )
    aside = given[~counted].assign(
        **{REJECT_RULE: rules[~counted], REJECT_REASON: reasons[~counted]}
    )
    return kept.reset_index(drop=True), aside.reset_index(drop=True)


def _predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    return collect_predictions(predictions)[0]


def _matching_run(scored: pd.DataFrame, ids: pd.Series, runs: pd.Series) -> pd.Series:
    """The run whose prediction each outcome answers; missing when none scored it."""
    latest = scored.sort_values(RUN_ID).groupby(ID_COLUMN)[RUN_ID].last()
    by_id = ids.map(latest)
    known = set(zip(scored[RUN_ID], scored[ID_COLUMN], strict=True))
    given = runs.notna() & (runs != "")
    exact = pd.Series(
        [
            run if (run, int(cid)) in known else None
            for run, cid in zip(runs[given], ids[given].fillna(-1), strict=True)
        ],
        index=runs[given].index,
        dtype="object",
    )
    result = by_id.astype("object")
    result[given] = exact
    return result.where(result.notna(), None)


def performance(
    joined: pd.DataFrame, business: BusinessParams, *, calibration_bins: int
) -> dict[str, Any]:
    """scikit-learn's metrics of joined rows, the profit and the calibration."""
    y = joined[LABEL_COLUMN].to_numpy(dtype=np.int64)
    proba = joined[PROBABILITY].to_numpy(dtype=np.float64)
    decided = joined[PREDICTION].to_numpy(dtype=np.int64)
    both = len(np.unique(y)) == 2  # noqa: PLR2004 - AUC needs both classes
    contacted = decided == 1
    if not len(y):
        return {"matched": 0}
    return {
        "matched": len(y),
        "purchase_rate": float(y.mean()),
        "mean_probability": float(proba.mean()),
        "roc_auc": float(roc_auc_score(y, proba)) if both else None,
        "precision": float(precision_score(y, decided, zero_division=0)),
        "recall": float(recall_score(y, decided, zero_division=0)),
        "f1": float(f1_score(y, decided, zero_division=0)),
        "brier": float(brier_score_loss(y, proba)),
        "profit": {
            "contacted": int(contacted.sum()),
            "expected": float(business.expected_profit(proba[contacted]).sum()),
            "realised": float(business.realised_profit(contacted, y)),
            "currency": business.currency,
        },
        "calibration": calibration(y, proba, bins=calibration_bins),
    }


def calibration(y: np.ndarray, proba: np.ndarray, *, bins: int) -> list[dict[str, Any]]:
    """Groups of (about) equal size by probability: predicted and realised rates."""
    order = np.argsort(proba, kind="stable")
    groups = [g for g in np.array_split(order, min(bins, len(order))) if len(g)]
    return [
        {
            "rows": len(group),
            "predicted": float(proba[group].mean()),
            "realised": float(y[group].mean()),
        }
        for group in groups
    ]


def realised_report(
    predictions: pd.DataFrame,
    joined: pd.DataFrame,
    rejects: pd.DataFrame,
    business: BusinessParams,
    *,
    calibration_bins: int,
    set_aside: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Per scoring run (oldest first), per model and over all runs: share
    matched, metrics; and what was read of the predictions."""
    scored = _predictions(predictions)
    aside = set_aside if set_aside is not None else scored.iloc[:0]

    def measured(rows: pd.DataFrame, matched: pd.DataFrame) -> dict[str, Any]:
        return {
            "predictions": len(rows),
            "share_matched": len(matched) / len(rows) if len(rows) else 0.0,
            **performance(matched, business, calibration_bins=calibration_bins),
        }

    runs = [
        {
            RUN_ID: str(run),
            "model": _model_of(rows),
            **measured(rows, joined[joined[RUN_ID] == run]),
        }
        for run, rows in scored.groupby(RUN_ID, sort=True)
    ]
    models = []
    model_key = scored[MODEL_VERSION].fillna("").astype("str")
    for version, rows in scored.groupby(model_key, sort=True):
        if not version:
            continue  # runs whose model is unknown (no run summary found)
        matched = joined[joined[RUN_ID].isin(set(rows[RUN_ID]))]
        models.append(
            {
                **_model_of(rows),
                "runs": sorted(set(rows[RUN_ID])),
                **measured(rows, matched),
            }
        )
    return {
        "predictions": {
            "in": len(scored) + len(aside),
            "counted": len(scored),
            "set_aside": len(aside),
            "set_aside_by_rule": _by_rule(aside),
            "files": sorted(set(scored[SOURCE_FILE])),
        },
        "outcomes": {
            "in": len(joined) + len(rejects),
            "matched": len(joined),
            "rejected": len(rejects),
            "rejects_by_rule": _by_rule(rejects),
        },
        "overall": measured(scored, joined),
        "runs": runs,
        "models": models,
    }


def _model_of(rows: pd.DataFrame) -> dict[str, Any]:
    """The model that scored ``rows`` (one run's or one model's): its versions."""
    first = rows.iloc[0] if len(rows) else {}
    return {
        name: None if pd.isna(first.get(name)) else str(first.get(name))
        for name in MODEL_COLUMNS
    }


def _by_rule(rows: pd.DataFrame) -> dict[str, int]:
    if not len(rows):
        return {}
    return {str(k): int(v) for k, v in rows[REJECT_RULE].value_counts().items()}


def tracking_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """The realised metrics as ``realised_<name> -> value`` (numbers only), of
    a report's ``overall`` part or of one part (a model's), for the tracker to
    log on the model's version."""
    overall = report.get("overall", report)
    flat = {
        f"realised_{name}": float(overall[name])
        for name in (
            "share_matched",
            "roc_auc",
            "precision",
            "recall",
            "f1",
            "brier",
        )
        if overall.get(name) is not None
    }
    profit = overall.get("profit") or {}
    for name in ("expected", "realised"):
        if name in profit:
            flat[f"realised_profit_{name}"] = float(profit[name])
    return flat
