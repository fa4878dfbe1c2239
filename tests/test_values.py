"""``values``: a few labels coded one by one read as many do; numbers beyond
any float; text UTF-8 cannot encode."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customer_purchase_prediction.columns import BY_NAME, CATEGORICAL_COLUMNS
from customer_purchase_prediction.values import (
    MISSING_CODE,
    NA_TOKENS,
    UNKNOWN_CODE,
    encodable,
    label_codes,
    parse_numbers,
)
from tests.strategies import any_value

LEVELS = [level for name in CATEGORICAL_COLUMNS for level in BY_NAME[name].levels]


def spelled(level: str) -> st.SearchStrategy[str]:
    """A level as a client may send it: any case, spaces around."""
    return st.tuples(
        st.sampled_from(["", " ", "\t", "\u3000"]),
        st.sampled_from([level, level.lower(), level.upper()]),
        st.sampled_from(["", " ", "\n"]),
    ).map("".join)


labels = st.one_of(
    st.sampled_from(LEVELS).flatmap(spelled),
    st.sampled_from(sorted(NA_TOKENS)),
    any_value(),
)


def as_objects(values: list[Any]) -> np.ndarray:
    column = np.empty(len(values), dtype=object)
    for row, value in enumerate(values):
        column[row] = value
    return column


@settings(max_examples=300, deadline=None)
@given(st.lists(labels, min_size=0, max_size=16), st.sampled_from(CATEGORICAL_COLUMNS))
def test_a_few_labels_are_coded_as_in_a_large_column(
    values: list[Any], name: str
) -> None:
    allowed = BY_NAME[name].levels
    few = label_codes(as_objects(values), allowed)
    # The same values in a column too long for the one-by-one path (factorize).
    padding = ["Mobile", None] * 20
    many = label_codes(as_objects([*values, *padding]), allowed)[: len(values)]
    assert few.dtype == np.int8
    assert few.tolist() == many.tolist()
    alone = [label_codes(as_objects([value]), allowed)[0] for value in values]
    assert few.tolist() == alone


def test_levels_tokens_and_other_values_get_their_codes() -> None:
    allowed = BY_NAME["device_type"].levels
    codes = label_codes(
        as_objects([" mobile ", "DESKTOP", "NA", None, float("nan"), "Phone", 3, [1]]),
        allowed,
    )
    assert codes.tolist() == [
        allowed.index("Mobile"),
        allowed.index("Desktop"),
        MISSING_CODE,
        MISSING_CODE,
        MISSING_CODE,
        UNKNOWN_CODE,
        UNKNOWN_CODE,
        UNKNOWN_CODE,
    ]


def test_an_integer_beyond_any_float_reads_as_infinite() -> None:
    numbers, missing, not_number = parse_numbers(
        as_objects([10**309, -(10**400), 7, True])
    )
    assert numbers[:3].tolist() == [np.inf, -np.inf, 7.0]
    assert missing.tolist() == [False] * 4
    assert not_number.tolist() == [False, False, False, True]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mobile", "Mobile"),
        ("M\u00f3vil \U0001f600", "M\u00f3vil \U0001f600"),
        ("\ud800", "\\ud800"),
        ("a\udfffb", "a\\udfffb"),
    ],
)
def test_encodable_escapes_only_what_utf8_cannot_hold(text: str, expected: str) -> None:
    assert encodable(text) == expected
    encodable(text).encode("utf-8")  # never raises
