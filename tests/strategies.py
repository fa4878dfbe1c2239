"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def any_value(*, nan_decimals: bool = True) -> st.SearchStrategy[Any]:
    """Any value a user's column may hold: numbers of every size and kind, text,
    dates, durations, lists, dicts, booleans and missing values."""
    return st.one_of(
        st.none(),
        st.integers(-(2**70), 2**70),
        st.floats(),
        st.decimals(allow_nan=nan_decimals),
        st.text(max_size=6),
        st.datetimes(),
        st.timedeltas(),
        st.lists(st.integers(0, 3), max_size=2),
        st.dictionaries(st.text(max_size=2), st.integers(0, 3), max_size=2),
        st.booleans(),
    )
