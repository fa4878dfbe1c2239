"""The data contract for raw sessions, written once for training and inference.

Every row of a sessions file is either kept, with its values coerced to the
contract's types, or rejected with its original values and a reason that names
the column and the bad value. Missing feature values are kept as missing: they
are imputed by the fitted feature transformer from training statistics only.

The checks work on plain column arrays so that a single record (the
``PurchasePredictor`` path) and a million-row file go through the same code.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pandera

from customer_purchase_prediction.columns import (
    ALLOWED_LABELS,
    BY_NAME,
    CATEGORICAL_COLUMNS,
    FEATURE_COLUMNS,
    ID_COLUMN,
    INTEGER_COLUMNS,
    LABEL_COLUMN,
    NUMBER_COLUMNS,
    NUMERIC_COLUMNS,
    SESSION_COLUMNS,
    SPEC,
    TRAINING_COLUMNS,
    Column,
    required_columns,
)
from customer_purchase_prediction.csv_reading import unreadable_rows
from customer_purchase_prediction.errors import (
    PurchasePredictionError,
    SessionsFileError,
)
from customer_purchase_prediction.values import (
    MAX_EXACT_INTEGER,
    MAX_INTEGER,
    UNKNOWN_CODE,
    ArrayLike,
    column_values,
    exact_integers,
    hidden_fractions,
    label_codes,
    labels_from_codes,
    parse_numbers,
    shorten,
    show_number,
    show_value,
    writable_column,
)

__all__ = [
    "ALLOWED_LABELS",
    "CATEGORICAL_COLUMNS",
    "FEATURE_COLUMNS",
    "ID_COLUMN",
    "INTEGER_COLUMNS",
    "LABEL_COLUMN",
    "NUMERIC_COLUMNS",
    "SESSION_COLUMNS",
    "TRAINING_COLUMNS",
    "SessionsSchema",
    "TrainingSessionsSchema",
    "ValidationResult",
    "check_columns",
    "normalise_header",
    "normalise_name",
    "normalised_names",
    "required_columns",
    "unique_values",
    "validate_sessions",
]

REJECT_COLUMNS: tuple[str, ...] = ("source_row", "reject_rule", "reject_reason")


@dataclass(frozen=True)
class ValidationResult:
    """Rows that meet the contract, and rows that do not with their reasons."""

    valid: pd.DataFrame
    rejects: pd.DataFrame

    @property
    def rows_in(self) -> int:
        """Number of rows that were checked."""
        return len(self.valid) + len(self.rejects)


def _schema_column(column: Column) -> pandera.Column:
    """The pandera column of a validated sessions frame, from the column spec."""
    checks = []
    if column.minimum is not None:
        checks.append(pandera.Check.ge(column.minimum))
    if column.kind == "float":
        checks.append(pandera.Check(lambda s: ~np.isinf(s), name="finite"))
    if column.levels:
        checks.append(pandera.Check.isin(column.levels))
    if column.kind == "binary":
        checks.append(pandera.Check.isin([0, 1]))
    dtype = {
        "integer": "int64" if column.required else pd.Int64Dtype(),
        "float": "float64",
        "label": "str",
        "binary": "int64",
    }[column.kind]
    return pandera.Column(
        dtype,
        checks=checks,
        nullable=not column.required,
        unique=column.unique,
        description=column.description,
        title=column.name,
    )


def _schema(columns: Sequence[str], title: str) -> pandera.DataFrameSchema:
    return pandera.DataFrameSchema(
        {name: _schema_column(BY_NAME[name]) for name in columns},
        strict=True,
        ordered=True,
        name=title,
    )


# Validated sessions: the contract's columns and types after coercion. Attached
# to catalog entries with Kedro's ``validator:`` key.
SessionsSchema = _schema(SESSION_COLUMNS, "SessionsSchema")
TrainingSessionsSchema = _schema(TRAINING_COLUMNS, "TrainingSessionsSchema")


def normalise_name(name: object) -> str:
    """A column name or record key as the contract matches it.

    Surrounding spaces (and a byte-order mark) are stripped and letters
    lower-cased, so `` Customer_ID`` is ``customer_id``. The one rule for CSV and
    Parquet headers, DataFrame columns and the keys of a record.
    """
    return str(name).strip().lstrip("\ufeff").strip().lower()


# pandas and pyarrow read a repeated header as ``name``, ``name.1``, ``name.2``...
_REPEAT = re.compile(r"(?P<name>.+)\.(?P<count>[1-9]\d*)")


def normalised_names(
    names: Iterable[object],
    *,
    source: str,
    error: type[PurchasePredictionError] = SessionsFileError,
    what: str = "column",
    header: bool = True,
) -> list[str]:
    """Names as ``normalise_name`` reads them, refusing two that become one.

    Args:
        names: Column names or record keys, as given.
        source: What they came from, for the message (a file, "the record").
        error: The error to raise.
        what: What a name is called in the message ("column", "key").
        header: Whether the names are a file's header, where a repeated name
            may have been read as ``name.1`` (keys of a record never are).

    Raises:
        error: two names are the same once normalised (``Time_Spent`` and
            ``time_spent``, or a header repeated), or a contract column's header
            was repeated and read as ``time_spent.1``.
    """
    given = list(names)
    normalised = [normalise_name(name) for name in given]
    if len(set(normalised)) < len(normalised):
        seen: dict[str, list[object]] = {}
        for name, key in zip(given, normalised, strict=True):
            seen.setdefault(key, []).append(name)
        key, originals = next((k, v) for k, v in seen.items() if len(v) > 1)
        if len({str(name) for name in originals}) == 1:
            problem = f"{what} '{_safe(originals[0])}' appears {len(originals)} times"
        else:
            both = " and ".join(f"'{_safe(name)}'" for name in originals)
            problem = (
                f"{what}s {both} are the same {what} '{_safe(key)}' (names ignore "
                f"case and surrounding spaces)"
            )
        raise error(f"{problem} in {source}; keep one of them")
    if not header:
        return normalised
    present = set(normalised)
    for key in normalised:
        repeat = _REPEAT.fullmatch(key)
        if repeat and repeat["name"] in TRAINING_COLUMNS and repeat["name"] in present:
            raise error(
                f"{what} '{repeat['name']}' appears more than once in {source} (the "
                f"repeat was read as '{_safe(key)}'); keep one of them"
            )
    return normalised


def check_known_names(
    names: Sequence[str],
    *,
    extra: Collection[str] = (),
    source: str,
    error: type[PurchasePredictionError],
    what: str = "column",
    way_out: str = "",
) -> None:
    """Refuse a normalised name that is neither a contract column nor in ``extra``.

    Raises:
        error: naming the first unknown name and the nearest valid one.
    """
    known = {*TRAINING_COLUMNS, *extra}
    unknown = [name for name in names if name not in known]
    if not unknown:
        return
    name = unknown[0]
    close = difflib.get_close_matches(name, [*TRAINING_COLUMNS, *extra], n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    others = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
    raise error(
        f"unknown {what} '{_safe(name)}'{others} in {source}: not a column of the "
        f"data contract; {hint}expected {what}s: {', '.join(SESSION_COLUMNS)}"
        f"{way_out}"
    )


def _safe(name: object) -> str:
    """A name as a message shows it: one line, at most a few dozen characters."""
    return shorten(repr(str(name))[1:-1])


def normalise_header(raw: pd.DataFrame, *, source: str = "the input") -> pd.DataFrame:
    """Strip and lower-case column names (`` Customer_ID`` is ``customer_id``).

    Raises:
        SessionsFileError: two columns are the same once normalised, or a
            contract column's header is repeated.
    """
    names = normalised_names(raw.columns, source=source)
    if names == list(raw.columns):
        return raw
    return raw.set_axis(names, axis=1)


def check_sessions_frame(
    raw: pd.DataFrame, *, labelled: bool, source: str, allow_empty: bool = False
) -> None:
    """Stop on a frame that cannot be a sessions file at all.

    Raises:
        SessionsFileError: a required column is missing or there are no data
            rows (unless ``allow_empty``: an empty batch from Python).
    """
    if LABEL_COLUMN not in raw.columns and labelled:
        raise SessionsFileError(
            f"column '{LABEL_COLUMN}' is missing from {source}; training needs the "
            f"0/1 purchase label. To score unlabelled sessions run "
            f"'kedro run --pipelines=inference' instead."
        )
    expected = required_columns(labelled=labelled)
    missing = [column for column in expected if column not in raw.columns]
    if missing:
        found = ", ".join(shorten(str(column)) for column in raw.columns) or "none"
        raise SessionsFileError(
            f"{'column' if len(missing) == 1 else 'columns'} {_quoted(missing)} "
            f"missing from {source}; expected columns: "
            f"{', '.join(expected)}; found: {found}"
        )
    if raw.empty and not allow_empty:
        raise SessionsFileError(
            f"{source} has no data rows: it holds a header but no sessions"
        )


def validate_sessions(
    raw: pd.DataFrame,
    *,
    labelled: bool,
    source: str = "the input",
    allow_empty: bool = False,
    unique_counts: Mapping[str, pd.Series] | None = None,
) -> ValidationResult:
    """Split raw sessions into rows that meet the contract and rejected rows.

    Args:
        raw: Sessions as read, any dtypes (text from a CSV file is fine).
        labelled: Whether the ``purchase`` label is required (training data).
        source: What the rows came from, for error messages.
        allow_empty: Whether no rows at all is a valid (empty) result rather
            than a file with no sessions.
        unique_counts: When ``raw`` is one partition of a larger input, how
            many rows of the whole input hold each value of a unique column
            (``unique_values`` of every partition, counted): a value counted
            more than once is a duplicate even if it appears once in ``raw``.

    Returns:
        Valid rows with typed contract columns, and rejected rows with their
        original values plus ``source_row``, ``reject_rule`` and ``reject_reason``.

    Raises:
        SessionsFileError: the frame cannot be a sessions file at all.
    """
    raw = normalise_header(raw, source=source)
    check_sessions_frame(raw, labelled=labelled, source=source, allow_empty=allow_empty)
    columns = {
        name: column_values(raw[name]) for name in required_columns(labelled=labelled)
    }
    typed, problems = check_columns(
        columns, labelled=labelled, unique_counts=unique_counts
    )
    problems.update(unreadable_rows(raw))  # rows a CSV reader could not read as rows
    bad = np.zeros(len(raw), dtype=bool)
    bad[list(problems)] = True
    valid = build_valid_frame({name: values[~bad] for name, values in typed.items()})
    rows = sorted(problems)
    rejects = _writable(raw.iloc[rows]).assign(
        source_row=pd.Series(np.array(rows, dtype="int64") + 1, index=raw.index[rows]),
        reject_rule=pd.Series(
            [reject_rule(problems[i]) for i in rows],
            index=raw.index[rows],
            dtype="str",
        ),
        reject_reason=pd.Series(
            [reject_reason(problems[i]) for i in rows],
            index=raw.index[rows],
            dtype="str",
        ),
    )
    return ValidationResult(valid=valid, rejects=rejects.reset_index(drop=True))


def reject_rule(pairs: Sequence[tuple[str, str]]) -> str:
    """A rejected row's ``reject_rule``: its broken rules joined by ``;``."""
    return ";".join(rule for rule, _ in pairs)


def reject_reason(pairs: Sequence[tuple[str, str]]) -> str:
    """A rejected row's ``reject_reason``: the contract's words, joined by ``; ``."""
    return "; ".join(reason for _, reason in pairs)


def _writable(rows: pd.DataFrame) -> pd.DataFrame:
    """Rejected rows that CSV and Parquet writers both take: a column of nested
    values (lists, structs) or of mixed types becomes text (``writable_column``)."""
    nested = {
        name: text
        for name, column in rows.items()
        if (text := writable_column(column)) is not column
    }
    return rows.assign(**nested) if nested else rows


def count_reject_rules(rejects: pd.DataFrame) -> dict[str, int]:
    """How many rejected rows broke each rule (a row can break several)."""
    rules = rejects["reject_rule"].astype(str).str.split(";").explode()
    return {str(rule): int(count) for rule, count in rules.value_counts().items()}


def count_reject_columns(rejects: pd.DataFrame) -> dict[str, int]:
    """How many rejected rows broke a rule of each column, each row once per
    column (a row that is both ``pages_viewed:not_whole`` and
    ``pages_viewed:negative`` is one rejected row of ``pages_viewed``, so a
    column's reject rate stays at most 100%)."""
    rules = (
        rejects["reject_rule"].astype(str).reset_index(drop=True).str.split(";")
    ).explode()
    columns = rules.str.split(":", n=1).str[0]
    rows = pd.DataFrame({"row": columns.index, "column": columns.to_numpy()})
    counts = rows.drop_duplicates()["column"].value_counts()
    return {str(column): int(count) for column, count in counts.items()}


def build_valid_frame(typed: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """Assemble typed column arrays (labels as codes) into a contract-typed frame."""
    return pd.DataFrame(
        {
            column.name: _typed_series(column, typed[column.name])
            for column in SPEC
            if column.name in typed
        }
    )


def _typed_series(column: Column, values: np.ndarray) -> Any:
    if column.kind == "label":
        return labels_from_codes(values, column.levels)
    if column.kind == "binary" or (column.is_integer and column.required):
        return values.astype("int64")
    if column.is_integer:
        return pd.array(values, dtype="Int64")
    return values


Problems = dict[int, list[tuple[str, str]]]
_WHOLE_NUMBER_ROWS = np.array([[name in INTEGER_COLUMNS] for name in NUMBER_COLUMNS])
_MINIMUMS = np.array(
    [
        [-np.inf if (m := BY_NAME[name].minimum) is None else m]
        for name in NUMBER_COLUMNS
    ]
)
_WHOLE_ROWS = tuple(
    row for row, name in enumerate(NUMBER_COLUMNS) if name in INTEGER_COLUMNS
)
_REQUIRED_NUMBERS = tuple(
    row for row, name in enumerate(NUMBER_COLUMNS) if BY_NAME[name].required
)
_UNIQUE_COLUMNS = tuple(column.name for column in SPEC if column.unique)
# Whole numbers that never enter the model (the id) are read exactly, as int64;
# the features' whole numbers become floats, which hold them up to MAX_INTEGER.
_EXACT_ROWS = tuple(
    (row, name)
    for row, name in enumerate(NUMBER_COLUMNS)
    if BY_NAME[name].is_integer and BY_NAME[name].role == "id"
)
_LIMITS = {
    name: MAX_EXACT_INTEGER if (row, name) in _EXACT_ROWS else MAX_INTEGER
    for row, name in enumerate(NUMBER_COLUMNS)
}


def _report_numbers(
    report: Callable[[np.ndarray, str, Any, ArrayLike], None],
    columns: Mapping[str, ArrayLike],
    numbers: np.ndarray,
    masks: Mapping[str, np.ndarray],
) -> None:
    """Report each number rule a row breaks, the value shown as given.

    ``masks`` are the rules' 2-D masks (``not_number``, ``infinite``,
    ``fractional``, ``too_large``, ``negative``), one row per column of
    ``NUMBER_COLUMNS``, as ``numbers``.
    """
    not_number, infinite, fractional, too_large, negative = (
        masks[rule]
        for rule in ("not_number", "infinite", "fractional", "too_large", "negative")
    )
    broken = not_number | infinite | fractional | too_large | negative
    names = NUMBER_COLUMNS
    for row in np.flatnonzero(broken.any(axis=1)):
        name, raw, values = names[row], columns[names[row]], numbers[row]
        kind = "a whole number" if name in INTEGER_COLUMNS else "a number"
        report(
            not_number[row],
            f"{name}:not_a_number",
            lambda value, name=name, kind=kind: (
                f"{name} must be {kind}; got {show_value(value)}"
            ),
            raw,
        )
        report(
            infinite[row],
            f"{name}:not_finite",
            lambda value, name=name: f"{name} must be finite; got {show_number(value)}",
            raw,
        )
        report(
            fractional[row],
            f"{name}:not_whole",
            lambda value, name=name: (
                f"{name} must be a whole number; got {show_number(value)}"
            ),
            raw,
        )
        # Beyond the exact range on the low side: a column with a minimum
        # says so once (``negative``), not also "too large".
        beyond = too_large[row] & ~negative[row]
        report(
            beyond & (values > 0),
            f"{name}:too_large",
            lambda value, name=name: (
                f"{name} must be at most {_LIMITS[name]}; got {show_number(value)}"
            ),
            raw,
        )
        report(
            beyond & ~(values > 0),
            f"{name}:too_large",
            lambda value, name=name: (
                f"{name} must be at least -{_LIMITS[name]}; got {show_number(value)}"
            ),
            raw,
        )
        report(
            negative[row],
            f"{name}:negative",
            lambda value, name=name: (
                f"{name} must be >= {BY_NAME[name].minimum:g}; got {show_number(value)}"
            ),
            raw,
        )


def check_columns(
    columns: Mapping[str, ArrayLike],
    *,
    labelled: bool,
    unique_counts: Mapping[str, pd.Series] | None = None,
    compared: dict[str, np.ndarray] | None = None,
    unique: bool = True,
) -> tuple[dict[str, np.ndarray], Problems]:
    """Apply the row rules to column arrays of equal length.

    ``unique_counts`` are counts of a unique column's values over a larger
    input (see ``validate_sessions``); ``compared``, when given, receives the
    values of each unique column that the duplicate rule compares. With
    ``unique=False`` the rows are independent records (each checked as if
    alone, ``PurchasePredictor.predict_records``): no duplicate rule.

    Returns:
        The typed arrays (float for numbers, NaN where missing; for labels int8
        codes into ``ALLOWED_LABELS``, ``MISSING_CODE`` where missing) and, for
        every row that breaks a rule, a list of ``(rule, reason)`` pairs in
        column order.
    """
    problems: Problems = {}

    def report(mask: np.ndarray, rule: str, describe: Any, values: ArrayLike) -> None:
        if not mask.any():
            return
        indices = np.flatnonzero(mask)
        # One take, not one lookup per row (slow on an Arrow-backed text array).
        picked = (
            values[indices]
            if isinstance(values, np.ndarray)
            else np.asarray(values.take(indices), dtype=object)
        )
        for index, value in zip(indices.tolist(), picked, strict=True):
            problems.setdefault(index, []).append((rule, describe(value)))

    # The number columns are checked together, one row of a 2-D array each,
    # so a single record costs a handful of array operations, not one per column.
    names = NUMBER_COLUMNS
    parsed = [parse_numbers(columns[name]) for name in names]
    numbers, missing, not_number = (
        np.array(part) for part in zip(*parsed, strict=True)
    )
    whole = _WHOLE_NUMBER_ROWS
    # Parsed numbers are NaN exactly where missing or not a number (and NaN
    # compares false without a warning).
    finite = np.isfinite(numbers)
    infinite = np.isinf(numbers)
    fractional = whole & finite & (numbers != np.floor(numbers))
    too_large = whole & finite & (np.abs(numbers) > MAX_INTEGER)
    negative = finite & (numbers < _MINIMUMS)
    exact: dict[str, np.ndarray] = {}
    for row, name in _EXACT_ROWS:
        exact[name], not_whole, too_large[row] = exact_integers(
            columns[name], numbers[row], too_large[row]
        )
        fractional[row] |= not_whole
    # A fraction float64 rounded away (4503599627370497.5 given as text or a
    # Decimal) is not whole; a float column holds none (values.hidden_fractions).
    for row in _WHOLE_ROWS:
        raw = columns[names[row]]
        if not (isinstance(raw, np.ndarray) and raw.dtype.kind in "iuf"):
            fractional[row] |= hidden_fractions(raw, finite[row] & ~fractional[row])
    for row in _REQUIRED_NUMBERS:
        report(
            missing[row],
            f"{names[row]}:missing",
            lambda _, name=names[row]: f"{name} is missing",
            missing[row],
        )
    _report_numbers(
        report,
        columns,
        numbers,
        {
            "not_number": not_number,
            "infinite": infinite,
            "fractional": fractional,
            "too_large": too_large,
            "negative": negative,
        },
    )
    typed: dict[str, np.ndarray] = dict(zip(names, numbers, strict=True))
    typed.update(exact)

    present = finite & ~fractional & ~too_large
    for name in _UNIQUE_COLUMNS if unique else ():
        _check_unique(
            name,
            typed[name],
            present[names.index(name)],
            problems,
            (unique_counts or {}).get(name),
            compared,
        )

    for name, allowed in ALLOWED_LABELS.items():
        raw = columns[name]
        labels = label_codes(raw, allowed)
        unknown = labels == UNKNOWN_CODE
        report(
            unknown,
            f"{name}:unknown_label",
            lambda value, name=name, allowed=allowed: (
                f"{name} must be one of {', '.join(allowed)}; got {show_value(value)}"
            ),
            raw,
        )
        typed[name] = labels

    if labelled:
        raw = columns[LABEL_COLUMN]
        numbers, missing, not_number = parse_numbers(raw)
        with np.errstate(invalid="ignore"):
            not_binary = not_number | (~missing & ~np.isin(numbers, (0.0, 1.0)))
        report(
            missing,
            f"{LABEL_COLUMN}:missing",
            lambda _: f"{LABEL_COLUMN} is missing",
            raw,
        )
        report(
            not_binary,
            f"{LABEL_COLUMN}:not_binary",
            lambda value: f"{LABEL_COLUMN} must be 0 or 1; got {show_value(value)}",
            raw,
        )
        typed[LABEL_COLUMN] = numbers
    for index in problems:
        problems[index].sort(key=lambda pair: _column_order(pair[0]))
    return typed, problems


def _check_unique(
    name: str,
    values: np.ndarray,
    present: np.ndarray,
    problems: Problems,
    counts: pd.Series | None,
    compared: dict[str, np.ndarray] | None,
) -> None:
    # One record has no duplicate, unless it is part of a larger input.
    if len(values) > 1 or counts is not None or compared is not None:
        if compared is not None:
            compared[name] = values[present]
        _report_duplicates(name, values, present, problems, counts)


def _report_duplicates(
    name: str,
    values: np.ndarray,
    present: np.ndarray,
    problems: Problems,
    total: pd.Series | None = None,
) -> None:
    """Reject every row whose value of ``name`` appears more than once in the input (a file, a
    DataFrame, a batch of records).

    Only ``present`` values are compared (finite, whole, in range): a missing or
    unreadable value is already a reject of its own. ``total``, when given,
    counts each value over the whole input of which these rows are a part.
    """
    positions = np.flatnonzero(present)
    compared = values[positions]
    if total is None:
        duplicated = positions[pd.Series(compared).duplicated(keep=False).to_numpy()]
    else:
        seen = total.reindex(compared).fillna(1).to_numpy()
        duplicated = positions[seen > 1]
    if not len(duplicated):
        return
    counts = pd.Series(values[duplicated]).value_counts() if total is None else total
    for index in duplicated:
        value = values[index]
        problems.setdefault(int(index), []).append(
            (
                f"{name}:duplicated",
                f"{name} {show_value(_plain(value))} is duplicated "
                f"({int(counts[value])} rows in the input)",
            )
        )


def unique_values(
    raw: pd.DataFrame, *, labelled: bool, source: str = "the input"
) -> dict[str, np.ndarray]:
    """The values of each unique column that the duplicate rule compares.

    For an input read in partitions: counted over every partition, they are
    the ``unique_counts`` that find duplicates across partitions exactly as
    ``validate_sessions`` finds them within one frame.

    Raises:
        SessionsFileError: the frame cannot be a sessions file at all.
    """
    raw = normalise_header(raw, source=source)
    check_sessions_frame(raw, labelled=labelled, source=source, allow_empty=True)
    columns = {
        name: column_values(raw[name]) for name in required_columns(labelled=labelled)
    }
    compared: dict[str, np.ndarray] = {}
    check_columns(columns, labelled=labelled, compared=compared)
    return compared


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python number it holds (exact for int64)."""
    return value.item() if isinstance(value, np.generic) else value


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(f"'{name}'" for name in names) + (
        " is" if len(names) == 1 else " are"
    )


def _column_order(rule: str) -> int:
    column = rule.split(":", 1)[0]
    return TRAINING_COLUMNS.index(column) if column in TRAINING_COLUMNS else 99
