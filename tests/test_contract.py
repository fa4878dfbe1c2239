"""The data contract: every row kept or rejected with a reason, never lost."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customer_purchase_prediction.columns import (
    ID_COLUMN,
    PAGES_VIEWED,
    example_record,
)
from customer_purchase_prediction.contract import (
    REJECT_COLUMNS,
    SessionsSchema,
    TrainingSessionsSchema,
    validate_sessions,
)
from customer_purchase_prediction.errors import SessionsFileError

GOOD = {
    "customer_id": "1",
    "time_spent": "12.5",
    "pages_viewed": "4",
    "basket_value": "0",
    "device_type": "Mobile",
    "customer_type": "New",
    "purchase": "0",
}


def frame(*rows: dict[str, object]) -> pd.DataFrame:
    """Rows as a CSV would give them: every cell text, missing cells NaN."""
    return pd.DataFrame(
        [{**GOOD, "customer_id": str(i + 1), **r} for i, r in enumerate(rows)]
    )


def reasons(raw: pd.DataFrame, *, labelled: bool = True) -> list[str]:
    return validate_sessions(raw, labelled=labelled).rejects["reject_reason"].tolist()


def test_valid_rows_are_typed_and_labels_normalised() -> None:
    raw = frame({"device_type": " mobile", "customer_type": "RETURNING "}, {})
    result = validate_sessions(raw, labelled=True)
    assert result.rejects.empty
    valid = TrainingSessionsSchema.validate(result.valid)
    assert valid["device_type"].tolist() == ["Mobile", "Mobile"]
    assert valid["customer_type"].tolist() == ["Returning", "New"]
    assert valid["time_spent"].dtype == "float64"
    assert valid["customer_id"].tolist() == [1, 2]


def test_missing_feature_values_are_kept_as_missing_for_the_transformer() -> None:
    blanks = {c: np.nan for c in ("time_spent", "pages_viewed", "basket_value")}
    raw = frame({**blanks, "device_type": "  ", "customer_type": None})
    valid = validate_sessions(raw, labelled=True).valid
    assert len(valid) == 1
    assert valid[["time_spent", "pages_viewed", "basket_value"]].isna().all(axis=None)
    assert valid[["device_type", "customer_type"]].isna().all(axis=None)


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({"time_spent": "-3.5"}, "time_spent must be >= 0; got -3.5"),
        ({"time_spent": "12 min"}, "time_spent must be a number; got '12 min'"),
        ({"time_spent": "inf"}, "time_spent must be finite; got inf"),
        ({"time_spent": " 1e400 "}, "time_spent must be finite; got 1e400"),
        ({"pages_viewed": "3.5"}, "pages_viewed must be a whole number; got 3.5"),
        ({"basket_value": "-1"}, "basket_value must be >= 0; got -1"),
        ({"basket_value": "abc"}, "basket_value must be a number; got 'abc'"),
        (
            {"device_type": "SmartTV"},
            "device_type must be one of Mobile, Desktop, Tablet, Unknown; got 'SmartTV'",
        ),
        (
            {"customer_type": "VIP"},
            "customer_type must be one of New, Returning; got 'VIP'",
        ),
        ({"customer_id": None}, "customer_id is missing"),
        ({"customer_id": "12.5"}, "customer_id must be a whole number; got 12.5"),
        ({"purchase": "yes"}, "purchase must be 0 or 1; got 'yes'"),
        ({"purchase": "2"}, "purchase must be 0 or 1; got '2'"),
        ({"purchase": None}, "purchase is missing"),
    ],
)
def test_each_rule_rejects_with_a_reason_naming_column_and_value(
    bad: dict[str, object], expected: str
) -> None:
    result = validate_sessions(frame(bad, {}), labelled=True)
    assert result.rejects["reject_reason"].tolist() == [expected]
    assert len(result.valid) == 1
    rejected = result.rejects.iloc[0]
    for column, value in bad.items():
        original = rejected[column]
        assert original == value or (pd.isna(original) and value is None)


def test_duplicated_ids_reject_every_copy_since_none_can_be_preferred() -> None:
    raw = frame({"customer_id": "7"}, {"customer_id": "8"}, {"customer_id": "7"})
    result = validate_sessions(raw, labelled=True)
    assert result.valid["customer_id"].tolist() == [8]
    assert result.rejects["source_row"].tolist() == [1, 3]
    assert set(result.rejects["reject_reason"]) == {
        "customer_id 7 is duplicated (2 rows in the input)"
    }


def test_several_problems_in_one_row_are_all_named() -> None:
    result = validate_sessions(
        frame({"time_spent": "-1", "device_type": "x"}), labelled=True
    )
    assert result.rejects["reject_rule"].tolist() == [
        "time_spent:negative;device_type:unknown_label"
    ]


def test_unlabelled_sessions_need_no_purchase_column() -> None:
    raw = frame({}).drop(columns="purchase")
    result = validate_sessions(raw, labelled=False)
    SessionsSchema.validate(result.valid)
    assert "purchase" not in result.valid.columns


def test_header_names_are_normalised_for_case_and_spaces() -> None:
    raw = frame({}).rename(columns={"customer_id": " Customer_ID "})
    assert len(validate_sessions(raw, labelled=True).valid) == 1


@pytest.mark.parametrize(
    ("raw", "labelled", "message"),
    [
        (
            frame({}).drop(columns="basket_value"),
            True,
            "column 'basket_value' is missing from f.csv",
        ),
        (
            frame({}).drop(columns="purchase"),
            True,
            "column 'purchase' is missing from f.csv",
        ),
        (frame({}).iloc[:0], True, "f.csv has no data rows"),
        (
            frame({}).drop(columns=["time_spent", "pages_viewed"]),
            False,
            "columns 'time_spent', 'pages_viewed' are missing from f.csv",
        ),
    ],
)
def test_a_frame_that_cannot_be_sessions_stops_naming_file_and_column(
    raw: pd.DataFrame, labelled: bool, message: str
) -> None:
    with pytest.raises(SessionsFileError, match=message):
        validate_sessions(raw, labelled=labelled, source="f.csv")


def test_native_numeric_dtypes_are_accepted_as_from_parquet() -> None:
    raw = pd.DataFrame(
        {
            "customer_id": [1, 2],
            "time_spent": [1.5, -2.0],
            "pages_viewed": [3.0, np.nan],
            "basket_value": [0.0, 1.0],
            "device_type": ["Tablet", None],
            "customer_type": ["New", "Returning"],
            "purchase": [1, 0],
        }
    )
    result = validate_sessions(raw, labelled=True)
    assert result.valid["customer_id"].tolist() == [1]
    assert result.rejects["reject_reason"].tolist() == [
        "time_spent must be >= 0; got -2"
    ]


# Cells a messy export could hold, valid or not.
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(-5, 500).map(str),
    st.sampled_from(["", " ", "abc", "12 min", "n/a?", "1e3", " 7 ", "-0"]),
    st.none(),
)
labels = st.one_of(
    st.sampled_from(
        ["Mobile", " mobile", "DESKTOP", "tablet ", "Unknown", "SmartTV", ""]
    ),
    st.sampled_from(["New", "returning", " NEW ", "VIP"]),
    st.text(max_size=5),
    st.none(),
)
rows = st.fixed_dictionaries(
    {
        "customer_id": st.one_of(st.integers(1, 30).map(str), numbers),
        "time_spent": numbers,
        "pages_viewed": numbers,
        "basket_value": numbers,
        "device_type": labels,
        "customer_type": labels,
        "purchase": st.one_of(st.sampled_from(["0", "1", "1.0", "2", "yes"]), numbers),
    }
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rows, min_size=1, max_size=40), st.booleans())
def test_rows_in_equal_rows_kept_plus_rows_rejected(
    records: list[dict[str, object]], labelled: bool
) -> None:
    raw = pd.DataFrame(records, dtype=object)
    result = validate_sessions(raw, labelled=labelled)
    assert len(result.valid) + len(result.rejects) == len(raw)
    (SessionsSchema if not labelled else TrainingSessionsSchema).validate(result.valid)
    assert result.rejects["reject_reason"].str.len().gt(0).all()
    assert list(result.rejects.columns[-len(REJECT_COLUMNS) :]) == list(REJECT_COLUMNS)
    rejected_rows = set(result.rejects["source_row"])
    assert len(rejected_rows) == len(result.rejects)
    assert rejected_rows <= set(range(1, len(raw) + 1))


@pytest.mark.parametrize(
    "given",
    [
        "4503599627370497.5",  # the float 4503599627370498.0
        Decimal("4503599627370497.5"),
        Fraction(9007199254740995, 2),
        Decimal("1.00000000000000001"),  # the float 1.0
        " 2.50000000000000001e0 ",
    ],
)
@pytest.mark.parametrize("name", [ID_COLUMN, PAGES_VIEWED])
def test_a_fraction_a_float_rounds_away_is_not_whole(name: str, given: Any) -> None:
    # Text, a Decimal or a Fraction says more than its float: a whole-number
    # column refuses the fraction, showing it as given.
    sessions = pd.DataFrame([{**example_record(), name: given}]).astype(
        {name: "object"}
    )
    result = validate_sessions(sessions, labelled=False)
    assert result.valid.empty
    assert result.rejects["reject_rule"].tolist() == [f"{name}:not_whole"]
    shown = given.strip() if isinstance(given, str) else str(given)
    assert result.rejects["reject_reason"].iloc[0] == (
        f"{name} must be a whole number; got {shown}"
    )


@pytest.mark.parametrize(
    "given", ["3.0", " 3 ", "3e0", "+3.000", Decimal("3.000"), Fraction(6, 2), 3.0]
)
def test_a_whole_number_written_otherwise_stays_whole(given: Any) -> None:
    sessions = pd.DataFrame([{**example_record(), PAGES_VIEWED: given}]).astype(
        {PAGES_VIEWED: "object"}
    )
    as_text = isinstance(given, str)
    for column in [sessions, *([sessions.astype("string")] if as_text else [])]:
        result = validate_sessions(column, labelled=False)
        assert result.rejects.empty, result.rejects
        assert result.valid[PAGES_VIEWED].tolist() == [3]


def test_a_float_holds_no_fraction_it_does_not_show() -> None:
    # 4503599627370498.0 as a float (a float column) is whole as given.
    sessions = pd.DataFrame([{**example_record(), PAGES_VIEWED: 4503599627370498.0}])
    result = validate_sessions(sessions, labelled=False)
    assert result.rejects.empty, result.rejects


def test_text_columns_find_hidden_fractions_too() -> None:
    text = pd.DataFrame(
        [
            {**example_record(), ID_COLUMN: "1", PAGES_VIEWED: "4503599627370497.5"},
            {**example_record(), ID_COLUMN: "4503599627370497.5", PAGES_VIEWED: "7"},
            {**example_record(), ID_COLUMN: "3", PAGES_VIEWED: "1e1"},
        ]
    ).astype("string")
    result = validate_sessions(text, labelled=False)
    assert result.rejects["reject_rule"].tolist() == [
        f"{PAGES_VIEWED}:not_whole",
        f"{ID_COLUMN}:not_whole",
    ]
    assert result.valid[PAGES_VIEWED].tolist() == [10]
