"""Writing tables: CSV cells safe to open in a spreadsheet, any column storable.

Text cells that a spreadsheet would run as a formula (a leading ``=``, ``+``,
``-``, ``@``, tab or carriage return, OWASP's CSV-injection list) get a leading
``'``; a cell that is a plain number (``-3.5``) is left alone, since a
spreadsheet reads it as that number, and numeric columns are never touched.
Nested values (lists, dicts, structs) are written as JSON text. Parquet keeps
the values as they are, except columns Parquet cannot store (mixed Python
objects), which are written as their text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

_FORMULA_START = r"^[=+\-@\t\r]"
_PLAIN_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_NESTED = (pa.types.is_nested, pa.types.is_map)


def csv_table(data: pd.DataFrame) -> pa.Table:
    """``data`` ready for a CSV file a spreadsheet can open safely.

    Text cells that would run as a formula get a leading ``'``; nested values
    become JSON text; numeric columns are written as they are. The column
    names are neutralised too.
    """
    arrays = [_csv_array(data.iloc[:, index]) for index in range(data.shape[1])]
    names = [neutralise(str(name)) for name in data.columns]
    return pa.Table.from_arrays(arrays, names=names)


def spreadsheet_safe(data: pd.DataFrame) -> pd.DataFrame:
    """``data`` as ``csv_table`` writes it, for a pandas CSV writer (``to_csv``).

    Text columns neutralised and nested values as JSON text; numeric, boolean
    and date columns, the index and the row order unchanged.
    """
    safe = data.copy(deep=False)
    for position in range(data.shape[1]):
        column = data.iloc[:, position]
        if _is_plain(column.dtype):
            continue
        array = _csv_array(column)
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            text = array.to_numpy(zero_copy_only=False)
            safe.isetitem(position, pd.Series(text, index=column.index, dtype=object))
    safe.columns = [neutralise(str(name)) for name in data.columns]
    return safe


def _is_plain(dtype: Any) -> bool:
    """Numbers, booleans and dates: columns a spreadsheet cannot run."""
    return (
        pd.api.types.is_numeric_dtype(dtype)
        or pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_datetime64_any_dtype(dtype)
        or pd.api.types.is_timedelta64_dtype(dtype)
    )


def neutralise(text: str) -> str:
    """One text cell with a leading ``'`` if a spreadsheet would run it as a formula."""
    if re.match(_FORMULA_START, text) and not re.match(_PLAIN_NUMBER, text):
        return "'" + text
    return text


def parquet_ready(data: pd.DataFrame) -> pd.DataFrame:
    """``data`` with each column Arrow cannot store as it is written as text.

    A column of mixed Python values (a ``Decimal`` beside a float, an int beyond
    int64, a date beside text) has no Parquet type; its cells become their text
    (JSON for containers), so the file is written and every value is kept as
    written. Other columns, the index and the dtypes are unchanged.
    """
    safe = None
    for position in range(data.shape[1]):
        column = data.iloc[:, position]
        if column.dtype != object:
            continue
        try:
            storable = _parquet_storable(pa.array(column, from_pandas=True).type)
        except _CANNOT_CONVERT:
            storable = False
        if not storable:
            safe = data.copy(deep=False) if safe is None else safe
            safe.isetitem(position, _text_series(column))
    return data if safe is None else safe


def _parquet_storable(kind: pa.DataType) -> bool:
    """Whether Parquet can store ``kind`` (not a struct without fields, say)."""
    if pa.types.is_struct(kind):
        fields = [kind.field(index).type for index in range(kind.num_fields)]
        return bool(fields) and all(_parquet_storable(field) for field in fields)
    if pa.types.is_map(kind):
        return _parquet_storable(kind.key_type) and _parquet_storable(kind.item_type)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _parquet_storable(kind.value_type)
    return True


def _text_series(column: pd.Series) -> pd.Series:
    return pd.Series(
        [_as_text(value) for value in column], index=column.index, dtype=object
    )


_CANNOT_CONVERT = (pa.ArrowException, OverflowError, TypeError, ValueError)


def _csv_array(column: pd.Series) -> pa.Array:
    try:
        array = pa.array(column, from_pandas=True)
    except _CANNOT_CONVERT:
        array = pa.array(_text_series(column).tolist(), type=pa.string())
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if any(check(array.type) for check in _NESTED):
        array = pa.array(
            [_as_text(value) for value in array.to_pylist()], type=pa.string()
        )
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return _neutralise_array(array)
    return array


def _neutralise_array(array: pa.Array) -> pa.Array:
    formula = pc.match_substring_regex(array, _FORMULA_START)
    if not pc.any(formula).as_py():
        return array
    formula = pc.and_(
        formula, pc.invert(pc.match_substring_regex(array, _PLAIN_NUMBER))
    )
    quote, nothing = pa.scalar("'", array.type), pa.scalar("", array.type)
    quoted = pc.binary_join_element_wise(quote, array, nothing)
    return pc.if_else(formula, quoted, array)


def _as_text(value: Any) -> str | None:
    """A cell of a column pyarrow cannot type: text, JSON for containers."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list | tuple | set | frozenset | np.ndarray):
        return json.dumps(_plain(value), default=str, ensure_ascii=False)
    try:
        missing = bool(pd.isna(value))
    except (TypeError, ValueError):  # e.g. a signalling-NaN Decimal
        missing = False
    return None if missing else str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    return value
