"""Nodes of the data_processing pipeline: the data contract applied to training data."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from customer_purchase_prediction.contract import (
    CATEGORICAL_COLUMNS,
    FEATURE_COLUMNS,
    ID_COLUMN,
    LABEL_COLUMN,
    NUMERIC_COLUMNS,
    TRAINING_COLUMNS,
    count_reject_columns,
    count_reject_rules,
    normalise_header,
    validate_sessions,
)
from customer_purchase_prediction.params import DataProcessingParams
from customer_purchase_prediction.scale_out import on_partitions

logger = logging.getLogger(__name__)


@on_partitions
def validate_training_sessions(
    raw_sessions: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Split raw training sessions into validated rows and rejected rows.

    Returns:
        Validated sessions, rejected rows with reasons, and a summary of the
        input (its source, row count and the columns that were ignored).
    """
    source = raw_sessions.attrs.get("source", "the raw sessions")
    result = validate_sessions(raw_sessions, labelled=True, source=source)
    ignored = [
        column
        for column in normalise_header(raw_sessions).columns
        if column not in TRAINING_COLUMNS
    ]
    logger.info(
        "%s: %d rows in, %d kept, %d rejected",
        source,
        result.rows_in,
        len(result.valid),
        len(result.rejects),
    )
    if ignored:
        logger.warning("%s: ignoring columns outside the contract: %s", source, ignored)
    summary = {"source": source, "rows_in": result.rows_in, "ignored_columns": ignored}
    return result.valid, result.rejects, summary


@on_partitions
def build_data_quality_report(
    sessions: pd.DataFrame,
    rejected_sessions: pd.DataFrame,
    validation_summary: dict[str, Any],
    params: DataProcessingParams,
) -> dict[str, Any]:
    """Summarise rows kept and rejected, missing values, outliers and purchase rate."""
    return {
        "source": validation_summary["source"],
        "rows": {
            "in": validation_summary["rows_in"],
            "kept": len(sessions),
            "rejected": len(rejected_sessions),
        },
        "rejects_by_rule": count_reject_rules(rejected_sessions),
        "rejects_by_column": count_reject_columns(rejected_sessions),
        "ignored_columns": validation_summary["ignored_columns"],
        "missing_values": {
            column: _count_share(int(sessions[column].isna().sum()), len(sessions))
            for column in FEATURE_COLUMNS
        },
        "outliers": {
            "rule": (
                f"Tukey fences on kept rows: below Q1 - {params.outlier_iqr_multiplier}"
                f" * IQR or above Q3 + {params.outlier_iqr_multiplier} * IQR; "
                "flagged here, not dropped"
            ),
            "columns": {
                column: _outliers(sessions, column, params)
                for column in NUMERIC_COLUMNS
            },
        },
        "purchase_rate": _rate(sessions[LABEL_COLUMN]),
        "purchase_rate_by": {
            column: {
                str(level): _rate(group)
                for level, group in sessions.groupby(column, dropna=False)[LABEL_COLUMN]
            }
            for column in CATEGORICAL_COLUMNS
        },
    }


def _outliers(
    sessions: pd.DataFrame, column: str, params: DataProcessingParams
) -> dict[str, Any]:
    """Tukey fences of one numeric column and the rows beyond them."""
    values = sessions[column].astype("float64")
    present = values.dropna()
    if present.empty:
        return {"lower_fence": None, "upper_fence": None, **_count_share(0, 0)}
    q1, q3 = np.quantile(present, [0.25, 0.75])
    spread = params.outlier_iqr_multiplier * (q3 - q1)
    lower, upper = float(q1 - spread), float(q3 + spread)
    outside = (values < lower) | (values > upper)
    return {
        "lower_fence": round(lower, 4),
        "upper_fence": round(upper, 4),
        **_count_share(int(outside.sum()), len(present)),
        "example_customer_ids": sessions.loc[outside, ID_COLUMN]
        .head(params.max_outlier_examples)
        .astype(int)
        .tolist(),
    }


def _count_share(count: int, total: int) -> dict[str, Any]:
    return {"count": count, "share": round(count / total, 4) if total else 0.0}


def _rate(labels: pd.Series) -> float | None:
    return round(float(labels.mean()), 4) if len(labels) else None
