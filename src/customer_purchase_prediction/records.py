"""Records, lists of records and DataFrames as the data contract's input.

``PurchasePredictor`` accepts a dict, any iterable of dicts or a DataFrame. Keys
and column names are matched as a file's headers are (``contract.normalise_name``);
a key that is neither a contract column nor a declared passthrough is refused,
naming the nearest column, and anything that is not records is refused saying
what was expected.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from customer_purchase_prediction.columns import (
    ID_COLUMN,
    NUMBER_COLUMNS,
    SESSION_COLUMNS,
    TRAINING_COLUMNS,
    example_record,
)
from customer_purchase_prediction.contract import (
    REJECT_COLUMNS,
    check_known_names,
    normalise_name,
    normalised_names,
)
from customer_purchase_prediction.errors import InvalidRecordError
from customer_purchase_prediction.values import MAX_INTEGER, shorten

Record = Mapping[str, Any]

_NUMBER_NAMES = frozenset(NUMBER_COLUMNS)
# Keys a record may hold as they are; any other key is normalised and checked.
CONTRACT_KEYS = frozenset(TRAINING_COLUMNS)
# Columns predict writes: a passthrough key of the same name would be overwritten.
_OUTPUT_COLUMNS = frozenset(
    ("purchase_prediction", "purchase_probability", "prediction_confidence")
).union(REJECT_COLUMNS)
_PASSTHROUGH_HINT = (
    "; to carry other keys into the predictions, name them in passthrough=[...]"
)
_EXPECTED = (
    "predict takes a session record (a dict of column values), a list of records "
    "or a DataFrame"
)


def one_value(name: str, value: Any) -> np.ndarray:
    """A record's value of column ``name`` as a one-element column, as a
    DataFrame would hold it: float for a plain number in a number column (the
    contract's fast path), else an object (a label column's number as sent)."""
    if name in _NUMBER_NAMES and _plain_number(value):
        return np.array([value], dtype=float)
    column = np.empty(1, dtype=object)
    column[0] = value  # a list or a tuple stays one value, not a row of them
    return column


def _plain_number(value: Any) -> bool:
    return type(value) in (int, float) and abs(value) <= MAX_INTEGER


def column_arrays(records: Sequence[Record]) -> dict[str, np.ndarray]:
    """Independent records' contract columns, one array each, every value as
    ``one_value`` holds it alone: a number column is a float column when all
    are plain numbers, else an object column of the same values, a plain
    number in it as the float64 ``one_value`` gives (so the contract reads
    each record as it would read it by itself); a label column holds its
    values as given (a reason shows ``10**15`` as sent, as a frame's does)."""
    columns: dict[str, np.ndarray] = {}
    for name in SESSION_COLUMNS:
        values = [record.get(name) for record in records]
        numbers = name in _NUMBER_NAMES
        if numbers and all(map(_plain_number, values)):
            columns[name] = np.array(values, dtype=float)
            continue
        column = np.empty(len(values), dtype=object)
        for row, value in enumerate(values):  # a list stays one value
            # A label column's values stay as given: a reason shows each so.
            column[row] = (
                np.float64(value) if numbers and _plain_number(value) else value
            )
        columns[name] = column
    return columns


def passthrough_names(names: Collection[str] | str) -> tuple[str, ...]:
    """Declared passthrough names, normalised; none may be a column we own."""
    if not names:
        return ()
    given = [names] if isinstance(names, str) else list(names)
    normalised = normalised_names(
        given, source="passthrough", error=InvalidRecordError, what="name", header=False
    )
    for name in normalised:
        if name in CONTRACT_KEYS or name in _OUTPUT_COLUMNS:
            owner = "a contract column" if name in CONTRACT_KEYS else "an output"
            raise InvalidRecordError(
                f"passthrough names keys outside the data contract; '{name}' is "
                f"{owner}: remove it from passthrough"
            )
    return tuple(normalised)


def normalised_record(
    record: Record, passthrough: tuple[str, ...], source: str
) -> dict[str, Any]:
    """A record under normalised keys; an unknown or doubled key is refused."""
    names = normalised_names(
        record, source=source, error=InvalidRecordError, what="key", header=False
    )
    check_known_names(
        names,
        extra=passthrough,
        source=source,
        error=InvalidRecordError,
        what="key",
        way_out=_PASSTHROUGH_HINT,
    )
    return dict(zip(names, record.values(), strict=True))


def as_records(data: Any) -> list[Record]:
    """A batch of records as a list, refusing anything that is not one."""
    if (
        data is None
        or isinstance(data, str | bytes | bytearray | pd.Series | np.ndarray)
        or not isinstance(data, Iterable)
    ):
        raise InvalidRecordError(f"{_EXPECTED}; got {_kind(data)}")
    records = list(data)
    for position, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            raise InvalidRecordError(
                f"record {position} of the batch is {_kind(record)}; each record must "
                f"be a dict of column values, such as {example_record()}"
            )
    return records


def _kind(value: Any) -> str:
    """What a value is, for a message that says what was expected instead."""
    if value is None:
        return "None"
    shown = f"{type(value).__name__} {shorten(repr(value))}"
    if isinstance(value, pd.Series):
        return f"{shown}; for one row pass row.to_dict(), for several a DataFrame"
    if isinstance(value, np.ndarray):
        return f"{shown}, which has no column names; pass a DataFrame"
    return shown


def records_frame(records: list[Record], passthrough: tuple[str, ...]) -> pd.DataFrame:
    """A batch of records as a frame under normalised column names.

    Keys are normalised only when some key is not a contract column as it is.
    Records may spell a column differently (``Time_Spent`` in one,
    ``time_spent`` in another); one record may not hold both.
    """
    keys = list(dict.fromkeys(key for record in records for key in record))
    if not CONTRACT_KEYS.issuperset(keys):
        names = {key: normalise_name(key) for key in keys}
        allowed = CONTRACT_KEYS.union(passthrough)
        unknown = {key for key, name in names.items() if name not in allowed}
        doubled = len(set(names.values())) < len(names)
        for position, record in enumerate(records, start=1):
            if doubled or not unknown.isdisjoint(record):
                # raises for an unknown key or two keys of one column
                normalised_record(
                    record, passthrough, f"record {position} of the batch"
                )
        records = [{names[key]: value for key, value in r.items()} for r in records]
    frame = pd.DataFrame.from_records(records, columns=_record_columns(records))
    return with_exact_ids(frame, records)


def with_exact_ids(frame: pd.DataFrame, records: Sequence[Record]) -> pd.DataFrame:
    """``frame`` with its id column holding each record's id as sent.

    A column of ints and a missing (or float) id is inferred as floats, which
    round an id above ``2**53`` (9007199254740993 would become ...992, and two
    such ids duplicates); the contract reads exact ids from the values.
    """
    if ID_COLUMN not in frame.columns or frame[ID_COLUMN].dtype.kind != "f":
        return frame
    ids = np.empty(len(records), dtype=object)
    ids[:] = [record.get(ID_COLUMN) for record in records]
    return frame.assign(**{ID_COLUMN: ids})


def _record_columns(records: Sequence[Record]) -> list[str]:
    """Contract columns first, then any other keys, in first-seen order."""
    extra = dict.fromkeys(key for record in records for key in record)
    return [*SESSION_COLUMNS, *(key for key in extra if key not in SESSION_COLUMNS)]


def checked_frame(frame: pd.DataFrame, passthrough: tuple[str, ...]) -> pd.DataFrame:
    """A DataFrame under normalised column names; an unknown or doubled one refused."""
    names = normalised_names(
        frame.columns, source="the DataFrame", error=InvalidRecordError, header=False
    )
    check_known_names(
        names,
        extra=passthrough,
        source="the DataFrame",
        error=InvalidRecordError,
        way_out=_PASSTHROUGH_HINT,
    )
    return frame if names == list(frame.columns) else frame.set_axis(names, axis=1)


def with_all_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Absent feature columns count as missing values (imputed); the id is required."""
    absent = [c for c in SESSION_COLUMNS if c not in frame.columns and c != ID_COLUMN]
    return frame.assign(**dict.fromkeys(absent)) if absent else frame


def as_frame(
    data: Record | Sequence[Record] | pd.DataFrame, passthrough: tuple[str, ...] = ()
) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return with_all_columns(checked_frame(data, passthrough))
    if isinstance(data, Mapping):
        record = normalised_record(data, passthrough, "the record")
        return pd.DataFrame.from_records([record], columns=_record_columns([record]))
    return records_frame(as_records(data), passthrough)


def source_of(data: Any) -> str:
    if isinstance(data, pd.DataFrame):
        return "the DataFrame"
    return "the record" if isinstance(data, Mapping) else "the batch"


def empty_scores() -> pd.DataFrame:
    """The predictions of no rows, in the columns and types ``score`` gives."""
    return pd.DataFrame(
        {
            ID_COLUMN: np.array([], dtype=np.int64),
            "purchase_prediction": np.array([], dtype=np.int64),
            "purchase_probability": np.array([], dtype=np.float64),
            "prediction_confidence": pd.array([], dtype="str"),
        }
    )
