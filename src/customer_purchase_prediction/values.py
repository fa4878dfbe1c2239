"""Reading raw cell values: numbers and labels from any dtype, as column arrays.

The data contract (``contract.py``) applies its rules to what these functions
read. They work on whole columns (numpy, pandas or pyarrow arrays), so a single
record and a million-row file take the same code; text is parsed by pyarrow, so
CSV cells never become one Python object each.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

MISSING_CODE = -1
MAX_INTEGER = 2**53 - 1  # the largest whole number a float holds exactly
UNKNOWN_CODE = -2

# Text read as missing, the same as pandas' default missing markers in CSV files,
# so a value means the same in a file, a DataFrame and a single record.
NA_TOKENS = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)
_NA_ARRAY = pa.array(sorted(NA_TOKENS), type=pa.large_string())
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|infinity)$"
_STR = pd.StringDtype(na_value=np.nan)

ArrayLike = np.ndarray | pd.api.extensions.ExtensionArray

_MAX_VALUE_CHARS = 40


def parse_numbers(values: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read numbers from an array of any dtype.

    Text follows one grammar (``_NUMBER``): decimal or scientific notation with
    optional sign and surrounding spaces, or ``inf``; the tokens in
    ``NA_TOKENS`` (and blank text) are missing.

    Returns:
        The values as floats (NaN where missing or unreadable), a mask of
        missing values and a mask of values that are present but not numbers
        (``"abc"``, ``"12 min"``, ``True``).
    """
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        numbers = values.astype(float)
        return numbers, np.isnan(numbers), np.zeros(len(values), dtype=bool)
    if not (isinstance(values, np.ndarray) and values.dtype == object):
        if pd.api.types.is_string_dtype(getattr(values, "dtype", None)):
            return _parse_text(
                pa.array(values, type=pa.large_string(), from_pandas=True)
            )
        values = np.asarray(values, dtype=object)
    size = len(values)
    numbers = np.full(size, np.nan)
    missing = np.zeros(size, dtype=bool)
    not_number = np.zeros(size, dtype=bool)
    text: list[int] = []
    for index, value in enumerate(values):
        if isinstance(value, str):
            text.append(index)
        elif isinstance(value, bool | np.bool_):
            not_number[index] = True
        elif isinstance(value, int | float | np.integer | np.floating):
            numbers[index] = value
            missing[index] = value != value  # noqa: PLR0124 - NaN is missing
        elif value is None or value is pd.NA or value is pd.NaT:
            missing[index] = True
        else:
            not_number[index] = True
    if text:
        parsed = _parse_text(pa.array(values[text].tolist(), type=pa.large_string()))
        numbers[text], missing[text], not_number[text] = parsed
    return numbers, missing, not_number


def _parse_text(text: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, ...]:
    """Vectorised ``parse_numbers`` of text (nulls are missing)."""
    trimmed = pc.utf8_trim_whitespace(text)
    missing = pc.or_(
        pc.is_null(trimmed), pc.fill_null(pc.is_in(trimmed, value_set=_NA_ARRAY), False)
    )
    number = pc.fill_null(
        pc.match_substring_regex(trimmed, _NUMBER, ignore_case=True), False
    )
    floats = pc.cast(
        pc.if_else(number, trimmed, pa.scalar(None, pa.large_string())), pa.float64()
    )
    missing_np = _bools(missing)
    return (
        floats.to_numpy(zero_copy_only=False).astype(float, copy=False),
        missing_np,
        ~missing_np & ~_bools(number),
    )


def label_codes(values: ArrayLike, allowed: Sequence[str]) -> np.ndarray:
    """Codes of labels into ``allowed``, ignoring case and outer spaces.

    Returns:
        int8 codes: the position in ``allowed``, ``MISSING_CODE`` for a missing
        value (``None``, NaN, blank or an ``NA_TOKENS`` text) and
        ``UNKNOWN_CODE`` for a value outside ``allowed``.
    """
    lookup = _label_lookup(tuple(allowed))
    if isinstance(values, np.ndarray) and len(values) == 1:  # one record: no hashing
        present = not _is_missing(values[0])
        codes, uniques = np.array([0 if present else -1]), values[:1] if present else []
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    # One slot per unique value, plus a last one that code -1 (missing) picks.
    mapping = np.full(len(uniques) + 1, MISSING_CODE, dtype=np.int8)
    for position, unique in enumerate(uniques):
        key = str(unique).strip()
        if key not in NA_TOKENS:
            mapping[position] = lookup.get(key.casefold(), UNKNOWN_CODE)
    return mapping[codes]


@functools.cache
def _label_lookup(allowed: tuple[str, ...]) -> dict[str, int]:
    return {label.casefold(): code for code, label in enumerate(allowed)}


def _is_missing(value: Any) -> bool:
    """``pd.isna`` for one value, without its dispatch cost."""
    if isinstance(value, float):
        return value != value  # noqa: PLR0124 - NaN
    return value is None or value is pd.NA or value is pd.NaT or pd.isna(value) is True


def labels_from_codes(codes: np.ndarray, allowed: Sequence[str]) -> pd.Series:
    """Text labels (NaN where missing) from codes into ``allowed``."""
    indices = pa.array(codes, type=pa.int8(), mask=codes < 0)
    text = pa.DictionaryArray.from_arrays(indices, pa.array(allowed)).cast(pa.string())
    return pd.Series(text.to_pandas(types_mapper={pa.string(): _STR}.get), dtype=_STR)


def column_values(column: pd.Series) -> ArrayLike:
    """A column's values without converting text to Python objects."""
    return (
        column.array
        if pd.api.types.is_string_dtype(column.dtype)
        else column.to_numpy()
    )


def _bools(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


def show_value(value: Any) -> str:
    """Render a bad value for a message: text quoted, numbers as they are."""
    if isinstance(value, str):
        return repr(_cut(value))  # repr escapes what cannot be printed
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else str(value)  # noqa: PLR2004
    return shorten(str(value))


def shorten(text: str) -> str:
    """``text`` cut for a message, with what cannot be printed escaped (``\\x1b``).

    Values from a file reach the terminal through messages; a control character
    or an ANSI escape in one must not act on it.
    """
    return printable(_cut(text))


def printable(text: str) -> str:
    """``text`` with each non-printable character escaped as ``repr`` would."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _cut(text: str) -> str:
    return (
        text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."
    )
