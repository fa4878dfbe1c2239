"""Nodes of the data_processing pipeline, tested directly on small frames."""

from __future__ import annotations

import pandas as pd
import pytest

from customer_purchase_prediction.params import DataProcessingParams
from customer_purchase_prediction.pipelines.data_processing.nodes import (
    build_data_quality_report,
    validate_training_sessions,
)


@pytest.fixture
def raw_sessions() -> pd.DataFrame:
    raw = pd.DataFrame(
        {
            "customer_id": ["1", "2", "3", "4", "5", "6"],
            "time_spent": ["10", "12", None, "-4", "11", "500"],
            "pages_viewed": ["3", "4", "5", "6", None, "7"],
            "basket_value": ["0", "20", "0", "0", "15", "30"],
            "device_type": ["Mobile", " desktop", "Mobile", "Tablet", None, "Tablet"],
            "customer_type": ["New", "New", "Returning", "New", "New", "VIP"],
            "purchase": ["0", "1", "0", "1", "1", "0"],
            "campaign": ["a", "b", "c", "d", "e", "f"],
        }
    )
    raw.attrs["source"] = "sessions.csv"
    return raw


def test_validate_splits_rows_and_summarises_the_input(
    raw_sessions: pd.DataFrame,
) -> None:
    sessions, rejects, summary = validate_training_sessions(raw_sessions)
    assert sessions["customer_id"].tolist() == [1, 2, 3, 5]
    assert rejects["customer_id"].tolist() == ["4", "6"]
    assert rejects["campaign"].tolist() == ["d", "f"], "original values are kept"
    assert summary == {
        "source": "sessions.csv",
        "rows_in": 6,
        "ignored_columns": ["campaign"],
    }


def test_validate_does_not_mutate_its_input(raw_sessions: pd.DataFrame) -> None:
    before = raw_sessions.copy()
    validate_training_sessions(raw_sessions)
    pd.testing.assert_frame_equal(raw_sessions, before)


def test_quality_report_counts_rows_missing_outliers_and_rate(
    raw_sessions: pd.DataFrame,
) -> None:
    sessions, rejects, summary = validate_training_sessions(raw_sessions)
    report = build_data_quality_report(
        sessions, rejects, summary, DataProcessingParams(outlier_iqr_multiplier=1.5)
    )
    assert report["rows"] == {"in": 6, "kept": 4, "rejected": 2}
    assert report["rejects_by_rule"] == {
        "time_spent:negative": 1,
        "customer_type:unknown_label": 1,
    }
    assert report["rejects_by_column"] == {"time_spent": 1, "customer_type": 1}
    assert report["missing_values"]["time_spent"] == {"count": 1, "share": 0.25}
    assert report["missing_values"]["device_type"] == {"count": 1, "share": 0.25}
    # time_spent of kept rows: 10, 12, 11 -> Q1 10.5, Q3 11.5, fences 9 and 13.
    assert report["outliers"]["columns"]["time_spent"]["count"] == 0
    assert report["outliers"]["columns"]["time_spent"]["upper_fence"] == 13.0
    assert report["purchase_rate"] == 0.5
    assert report["purchase_rate_by"]["customer_type"] == {
        "New": 0.6667,
        "Returning": 0.0,
    }


def test_outliers_are_flagged_with_their_ids_not_dropped() -> None:
    sessions = pd.DataFrame(
        {
            "customer_id": range(1, 11),
            "time_spent": [10.0] * 4 + [11.0] * 5 + [400.0],
            "pages_viewed": pd.array([1] * 10, dtype="Int64"),
            "basket_value": [0.0] * 10,
            "device_type": ["Mobile"] * 10,
            "customer_type": ["New"] * 10,
            "purchase": [0, 1] * 5,
        }
    )
    empty_rejects = pd.DataFrame({"reject_rule": pd.Series([], dtype=str)})
    summary = {"source": "s", "rows_in": 10, "ignored_columns": []}
    report = build_data_quality_report(
        sessions, empty_rejects, summary, DataProcessingParams()
    )
    outliers = report["outliers"]["columns"]["time_spent"]
    assert outliers["count"] == 1
    assert outliers["example_customer_ids"] == [10]
    assert report["rows"]["kept"] == 10
