"""Reading raw cell values: numbers and labels from any dtype, as column arrays.

The data contract (``contract.py``) applies its rules to what these functions
read. They work on whole columns (numpy, pandas or pyarrow arrays), so a single
record and a million-row file take the same code; text is parsed by pyarrow, so
CSV cells never become one Python object each.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

MISSING_CODE = -1
MAX_INTEGER = 2**53 - 1  # the largest whole number a float holds exactly
# Identifiers are never arithmetic: they are read exactly, up to the largest int64.
MAX_EXACT_INTEGER = int(np.iinfo(np.int64).max)
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
# Up to this many labels are coded one by one (pd.factorize costs ~10 us a call).
_FEW_LABELS = 16
_NA_ARRAY = pa.array(sorted(NA_TOKENS), type=pa.large_string())
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?(inf|infinity)$"
_STR = pd.StringDtype(na_value=np.nan)

ArrayLike = np.ndarray | pd.api.extensions.ExtensionArray

_MAX_VALUE_CHARS = 40


def parse_numbers(values: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read numbers from an array of any dtype.

    Text follows one grammar (``_NUMBER``): decimal or scientific notation with
    optional sign and surrounding spaces, or ``inf``; the tokens in
    ``NA_TOKENS`` (and blank text) are missing. ``Decimal`` values (Parquet
    ``decimal128``) and other real numbers are numbers; dates, times and
    durations (``datetime64``, ``timedelta64`` in any unit, with or without a
    time zone) are not, since their count of ticks is no quantity of the
    contract; ``NaT`` is missing.

    Returns:
        The values as floats (NaN where missing or unreadable), a mask of
        missing values and a mask of values that are present but not numbers
        (``"abc"``, ``"12 min"``, ``True``, a date, a list).
    """
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        numbers = values.astype(float)
        return numbers, np.isnan(numbers), np.zeros(len(values), dtype=bool)
    dtype = getattr(values, "dtype", None)
    if _is_temporal(dtype):
        missing = np.asarray(pd.isna(values), dtype=bool)
        return np.full(len(values), np.nan), missing, ~missing
    if not (isinstance(values, np.ndarray) and values.dtype == object):
        if pd.api.types.is_string_dtype(dtype):
            return _parse_text(
                pa.array(values, type=pa.large_string(), from_pandas=True)
            )
        if _is_numeric_extension(dtype):  # nullable Int64, Float64, Arrow numbers
            missing = np.asarray(values.isna(), dtype=bool)
            numbers = values.to_numpy(dtype=float, na_value=np.nan)
            return numbers, missing, np.zeros(len(values), dtype=bool)
        values = _objects(values)
    return _parse_objects(values)


def _parse_objects(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``parse_numbers`` of an object array: text parsed together, the rest one by one."""
    size = len(values)
    numbers = np.full(size, np.nan)
    missing = np.zeros(size, dtype=bool)
    not_number = np.zeros(size, dtype=bool)
    text: list[int] = []
    for index, value in enumerate(values):
        if isinstance(value, str):
            text.append(index)
        elif isinstance(value, float):
            numbers[index] = value
            missing[index] = value != value  # noqa: PLR0124 - NaN is missing
        elif value is None or value is pd.NA or value is pd.NaT:
            missing[index] = True
        else:
            number = _number(value)
            if number is None:
                not_number[index] = True
            else:
                numbers[index] = number
                missing[index] = number != number  # noqa: PLR0124 - NaN is missing
    if text:
        parsed = _parse_text(pa.array(values[text].tolist(), type=pa.large_string()))
        numbers[text], missing[text], not_number[text] = parsed
    return numbers, missing, not_number


def _number(value: Any) -> float | None:
    """One non-text, non-float value as a float, or None if it is not a number."""
    if isinstance(value, bool | np.bool_ | np.datetime64 | np.timedelta64):
        # numpy counts a timedelta64 as an integer; NaT is missing, not a number.
        if isinstance(value, np.datetime64 | np.timedelta64) and np.isnat(value):
            return math.nan
        return None
    if isinstance(value, Decimal):
        return math.nan if value.is_nan() else float(value)
    if isinstance(value, numbers.Real):  # int, numpy numbers, Fraction
        try:
            return float(value)
        except OverflowError:  # an int beyond any float (10**309)
            return math.inf if value > 0 else -math.inf
    return None


def _is_temporal(dtype: Any) -> bool:
    """Whether a column's dtype holds dates, times or durations."""
    if isinstance(dtype, np.dtype):
        return dtype.kind in "mM"
    if isinstance(dtype, pd.ArrowDtype):
        return pa.types.is_temporal(dtype.pyarrow_dtype)
    return isinstance(dtype, pd.DatetimeTZDtype | pd.PeriodDtype)


def _is_numeric_extension(dtype: Any) -> bool:
    """A pandas extension dtype of plain numbers (not booleans, not decimals)."""
    if isinstance(dtype, pd.ArrowDtype):
        arrow = dtype.pyarrow_dtype
        return pa.types.is_integer(arrow) or pa.types.is_floating(arrow)
    return (
        isinstance(dtype, pd.api.extensions.ExtensionDtype)
        and dtype.kind in "iuf"
        and not isinstance(dtype, pd.SparseDtype)
    )


def _objects(values: Any) -> np.ndarray:
    """Any array as a one-dimensional array of Python objects, one per value."""
    objects = np.empty(len(values), dtype=object)
    objects[:] = list(values)
    return objects


def exact_integers(
    values: ArrayLike, numbers: np.ndarray, beyond_float: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whole numbers as int64, read exactly where a float cannot hold them.

    Identifiers above ``MAX_INTEGER`` are read again from the original value
    (an int, a numpy integer, a ``Decimal``, a numeric text), so
    ``9007199254740993`` stays itself instead of becoming ``9007199254740992``.

    Args:
        values: The original values.
        numbers: Their floats, ``parse_numbers(values)[0]``.
        beyond_float: The finite whole values above ``MAX_INTEGER``.

    Returns:
        The values as int64 (meaningful where they are finite, whole and in
        range; 0 where not finite), and among ``beyond_float`` a mask of values
        that have a fraction after all and a mask of values beyond int64.
    """
    if len(numbers) == 1 and not beyond_float[0]:  # one record: no array passes
        number = numbers[0]
        exact = int(number) if math.isfinite(number) else 0
        return np.array([exact], dtype=np.int64), _NO[:1].copy(), _NO[:1].copy()
    finite = np.isfinite(numbers) & ~beyond_float
    integers = np.where(finite, numbers, 0.0).astype(np.int64)
    not_whole = np.zeros(len(numbers), dtype=bool)
    too_large = np.zeros(len(numbers), dtype=bool)
    for index in np.flatnonzero(beyond_float):
        value = _exact_integer(values[index])
        if value is None:
            not_whole[index] = True
        elif abs(value) > MAX_EXACT_INTEGER:
            too_large[index] = True
        else:
            integers[index] = value
    return integers, not_whole, too_large


_NO = np.zeros(1, dtype=bool)
# Text written as a whole number (after trimming): digits, maybe a point and zeros.
_WHOLE_TEXT = r"^[+-]?\d+(\.0*)?$"


def hidden_fractions(values: ArrayLike, whole: np.ndarray) -> np.ndarray:
    """Among the values whose float is whole (``whole``), those whose exact
    value has a fraction that float64 rounded away.

    ``4503599627370497.5`` as text, a ``Decimal`` or a ``Fraction`` reads as
    the float ``4503599627370498.0`` (from 2**52 on every float is whole), and
    ``1.00000000000000001`` as ``1.0``: a whole-number column must not take
    either as whole. A float holds no more than it shows, so a float (a float
    column) is whole as given; a number column has no such values.
    """
    found = np.zeros(len(whole), dtype=bool)
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        return found
    indices = np.flatnonzero(whole)
    if not len(indices):
        return found
    if isinstance(values, np.ndarray) and values.dtype == object:
        plain = (float, int)
        for index, value in zip(
            indices.tolist(), values[indices].tolist(), strict=True
        ):
            if type(value) not in plain:
                found[index] = _exact_integer(value) is None
        return found
    if pd.api.types.is_string_dtype(getattr(values, "dtype", None)):
        text = pc.utf8_trim_whitespace(
            pa.array(values, type=pa.large_string(), from_pandas=True)
        )
        written = pc.fill_null(pc.match_substring_regex(text, _WHOLE_TEXT), True)
        for index in np.flatnonzero(whole & ~_bools(written)).tolist():
            found[index] = _exact_integer(values[index]) is None  # 1e3, 7.000001
    return found  # numeric extension arrays hold no fractions they do not show


def _exact_integer(value: Any) -> int | None:
    """A value already read as a finite number, as an exact int (None: a fraction)."""
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, str):
        try:  # the text matched the number grammar; Decimal reads it exactly
            value = Decimal(value.strip())
        except InvalidOperation:
            return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else None
    if isinstance(value, numbers.Rational):  # a Fraction: whole or not, exactly
        return int(value) if value.denominator == 1 else None
    number = float(value)
    return int(number) if number.is_integer() else None


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
    if isinstance(values, np.ndarray) and len(values) <= _FEW_LABELS:
        # A record or a few (the service's coalesced requests): each value read
        # on its own, as one record's is, without factorize's fixed cost.
        return np.array(
            [_label_code(value, lookup) for value in values.tolist()], dtype=np.int8
        )
    try:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    except (TypeError, ValueError, ArithmeticError):
        # unhashable values (lists, dicts, a signalling NaN): compare their text
        values = _objects(values)
        text = np.array([None if _is_missing(v) else str(v) for v in values])
        codes, uniques = pd.factorize(text, use_na_sentinel=True)
    # One slot per unique value, plus a last one that code -1 (missing) picks.
    mapping = np.full(len(uniques) + 1, MISSING_CODE, dtype=np.int8)
    for position, unique in enumerate(uniques):
        mapping[position] = _label_code(unique, lookup)
    return mapping[codes]


def _label_code(value: Any, lookup: Mapping[str, int]) -> int:
    """One value's code: missing (``None``, NaN, a missing marker), its
    position in the allowed labels ignoring case and outer spaces, or unknown."""
    if _is_missing(value):
        return MISSING_CODE
    key = str(value).strip()
    if key in NA_TOKENS:
        return MISSING_CODE
    return lookup.get(key.casefold(), UNKNOWN_CODE)


@functools.cache
def _label_lookup(allowed: tuple[str, ...]) -> dict[str, int]:
    return {label.casefold(): code for code, label in enumerate(allowed)}


def _is_missing(value: Any) -> bool:
    """``pd.isna`` for one value, without its dispatch cost."""
    if isinstance(value, str):  # missing text is a token, read by the caller
        return False
    if isinstance(value, float):
        return value != value  # noqa: PLR0124 - NaN
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, Decimal):  # pd.isna raises on a signalling NaN
        return value.is_nan()
    return not _is_nested(value) and pd.isna(value) is True


def labels_from_codes(codes: np.ndarray, allowed: Sequence[str]) -> pd.Series:
    """Text labels (NaN where missing) from codes into ``allowed``."""
    indices = pa.array(codes, type=pa.int8(), mask=codes < 0)
    text = pa.DictionaryArray.from_arrays(indices, pa.array(allowed)).cast(pa.string())
    return pd.Series(text.to_pandas(types_mapper={pa.string(): _STR}.get), dtype=_STR)


def column_values(column: pd.Series) -> ArrayLike:
    """A column's values without converting text to Python objects.

    Extension arrays (text, nullable integers, Arrow types) are kept as they
    are: ``to_numpy`` would turn a nullable Int64 with a gap into floats, which
    round identifiers above ``MAX_INTEGER``.
    """
    if isinstance(column.dtype, np.dtype):
        return column.to_numpy()
    return column.array


def _bools(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)


def show_value(value: Any) -> str:
    """Render a bad value for a message: text quoted, numbers as they are."""
    if isinstance(value, str):
        return repr(_cut(value))  # repr escapes what cannot be printed
    if isinstance(value, np.datetime64 | dt.datetime):
        return f"{shorten(_as_text(value, pd.Timestamp))} (a date and time)"
    if isinstance(value, np.timedelta64 | dt.timedelta):
        return f"{shorten(_as_text(value, pd.Timedelta))} (a duration)"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        # As the integer it is, where a float holds every integer (an int and
        # its float read the same, whichever way a record or a frame held it).
        return str(int(value)) if abs(value) <= MAX_INTEGER else str(value)
    return shorten(str(value))


def _as_text(value: Any, kind: Any) -> str:
    """A date or duration as pandas writes it, or as Python does beyond pandas'."""
    try:
        return str(kind(value))
    except (OverflowError, ValueError):
        return str(value)


def show_number(value: Any) -> str:
    """Render a value read as a number: numeric text unquoted, exactly as given."""
    return shorten(value.strip()) if isinstance(value, str) else show_value(value)


def _is_nested(value: Any) -> bool:
    return isinstance(value, list | tuple | dict | set | frozenset | np.ndarray)


def writable_column(values: pd.Series) -> pd.Series:
    """A column any table writer takes: as it is, or else as text.

    A column of objects is kept when Arrow holds it as one type with no nesting;
    otherwise (lists, dicts or arrays, which a CSV cell cannot hold; a mixture
    such as numbers and text; an int beyond int64) each value becomes its text,
    nested values as JSON (``[1, 2]``, ``{"a": 1}``) and missing ones missing.
    """
    if values.dtype != object:
        return values
    if not any(_is_nested(value) for value in values):
        try:
            pa.array(values, from_pandas=True)
        except (pa.ArrowException, OverflowError, TypeError, ValueError):
            pass
        else:
            return values
    return pd.Series(
        [
            _json(v) if _is_nested(v) else (None if _is_missing(v) else str(v))
            for v in values
        ],
        index=values.index,
        dtype="str",
    )


def _json(value: Any) -> str:
    return json.dumps(_plain(value), default=str, ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def shorten(text: str) -> str:
    """``text`` cut for a message, with what cannot be printed escaped (``\\x1b``).

    Values from a file reach the terminal through messages; a control character
    or an ANSI escape in one must not act on it.
    """
    return printable(_cut(text))


def encodable(text: str) -> str:
    """``text`` as UTF-8 can carry it: each lone surrogate (which JSON's
    ``\\uD800`` escape and Python's ``surrogateescape`` can make, and no
    file, Arrow array or JSON answer can hold) as its escape, ``\\ud800``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def printable(text: str) -> str:
    """``text`` with each non-printable character escaped as ``repr`` would."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _cut(text: str) -> str:
    return (
        text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."
    )
