"""The column spec: every input column of a sessions file, declared once.

Everything that needs to know the input columns reads this table: the data
contract's checks and reject rules (``contract.py``), the pandera schemas on the
catalog, the feature transformer's column lists and fill values
(``features.py``), the generator's column order (``synthetic.py``) and the
data-contract table in ``docs/data_contract.md`` (checked by
``tests/test_columns.py``). Later surfaces (the REST request model, drift
profiles, Dask ``meta``) derive from it too.

Adding a column takes a ``Column`` here, its values in the generator and a line
in the docs table (the test prints the expected table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Role = Literal["id", "feature", "label"]
Kind = Literal["integer", "float", "label", "binary"]
MissingRule = Literal["reject", "median", "mean_rounded", "constant"]


@dataclass(frozen=True)
class Column:
    """One input column and its rules.

    Attributes:
        name: The column's name in files, records and frames.
        role: ``id`` (identifies a session), ``feature`` (goes into the model)
            or ``label`` (the 0/1 outcome, training files only).
        kind: ``integer`` and ``float`` are numbers, ``label`` is text from
            ``levels`` (matched ignoring case and surrounding spaces),
            ``binary`` is 0 or 1.
        description: What the column holds, in words.
        unit: The unit of a number, if it has one.
        minimum: Numbers must be at least this (and finite).
        levels: The allowed labels of a ``label`` column, in their order.
        missing: What a missing value means: the row is rejected, or the
            fitted transformer imputes the training ``median``, the training
            mean rounded to a whole number (``mean_rounded``) or ``fill``.
        fill: The value a ``constant`` missing rule imputes.
        unique: Whether a value may appear only once within a file.
        example: A typical value, for examples in documentation and APIs.
    """

    name: str
    role: Role
    kind: Kind
    description: str
    unit: str | None = None
    minimum: float | None = None
    levels: tuple[str, ...] = ()
    missing: MissingRule = "reject"
    fill: Any = None
    unique: bool = False
    example: Any = None

    @property
    def is_number(self) -> bool:
        """Whether the column holds numbers (``integer`` or ``float``)."""
        return self.kind in ("integer", "float")

    @property
    def is_integer(self) -> bool:
        """Whether the column holds whole numbers."""
        return self.kind == "integer"

    @property
    def required(self) -> bool:
        """Whether a missing value rejects the row."""
        return self.missing == "reject"


SPEC: tuple[Column, ...] = (
    Column(
        "customer_id",
        role="id",
        kind="integer",
        description="the customer the session belongs to",
        minimum=0,
        unique=True,
        example=12345,
    ),
    Column(
        "time_spent",
        role="feature",
        kind="float",
        description="length of the browsing session",
        unit="minutes",
        minimum=0,
        missing="median",
        example=12.5,
    ),
    Column(
        "pages_viewed",
        role="feature",
        kind="integer",
        description="pages viewed in the session",
        minimum=0,
        missing="mean_rounded",
        example=8,
    ),
    Column(
        "basket_value",
        role="feature",
        kind="float",
        description="value of the basket at the end of the session",
        minimum=0,
        missing="constant",
        fill=0.0,
        example=40.0,
    ),
    Column(
        "device_type",
        role="feature",
        kind="label",
        description="device the session ran on",
        levels=("Mobile", "Desktop", "Tablet", "Unknown"),
        missing="constant",
        fill="Unknown",
        example="Mobile",
    ),
    Column(
        "customer_type",
        role="feature",
        kind="label",
        description="whether the customer has bought before",
        levels=("New", "Returning"),
        missing="constant",
        fill="New",
        example="Returning",
    ),
    Column(
        "purchase",
        role="label",
        kind="binary",
        description="whether the session ended in a purchase (training only)",
        example=1,
    ),
)

BY_NAME: dict[str, Column] = {column.name: column for column in SPEC}


def _one(role: Role) -> str:
    (name,) = (column.name for column in SPEC if column.role == role)
    return name


ID_COLUMN = _one("id")
LABEL_COLUMN = _one("label")
FEATURES: tuple[Column, ...] = tuple(c for c in SPEC if c.role == "feature")
FEATURE_COLUMNS: tuple[str, ...] = tuple(c.name for c in FEATURES)
NUMERIC_COLUMNS: tuple[str, ...] = tuple(c.name for c in FEATURES if c.is_number)
CATEGORICAL_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in FEATURES if c.kind == "label"
)
SESSION_COLUMNS: tuple[str, ...] = (ID_COLUMN, *FEATURE_COLUMNS)
TRAINING_COLUMNS: tuple[str, ...] = (*SESSION_COLUMNS, LABEL_COLUMN)
# Columns with numbers in them, the id first: the contract checks them together.
NUMBER_COLUMNS: tuple[str, ...] = tuple(
    name for name in SESSION_COLUMNS if BY_NAME[name].is_number
)
INTEGER_COLUMNS = frozenset(c.name for c in SPEC if c.is_integer)
ALLOWED_LABELS: dict[str, tuple[str, ...]] = {
    name: BY_NAME[name].levels for name in CATEGORICAL_COLUMNS
}

# The inputs of the engineered features (features.py), by their meaning.
TIME_SPENT = BY_NAME["time_spent"].name
PAGES_VIEWED = BY_NAME["pages_viewed"].name
BASKET_VALUE = BY_NAME["basket_value"].name


def required_columns(*, labelled: bool) -> tuple[str, ...]:
    """The columns a sessions file must have."""
    return TRAINING_COLUMNS if labelled else SESSION_COLUMNS


def example_record() -> dict[str, Any]:
    """A valid session record made of each column's example value (no label)."""
    return {name: BY_NAME[name].example for name in SESSION_COLUMNS}


def contract_table() -> str:
    """The data-contract table of ``docs/data_contract.md``, as Markdown."""
    rows = ["| column | type | rule | a missing value |", "|---|---|---|---|"]
    for column in SPEC:
        rows.append(
            f"| `{column.name}` | {_type(column)} | {_rule(column)} | "
            f"{_missing(column)} |"
        )
    return "\n".join(rows)


def _type(column: Column) -> str:
    kind = {"integer": "integer", "float": "float", "label": "text", "binary": "0/1"}
    return kind[column.kind] + (f", {column.unit}" if column.unit else "")


def _rule(column: Column) -> str:
    if column.role == "label":
        return "training files only"
    if column.kind == "label":
        return ", ".join(column.levels[:-1]) + f" or {column.levels[-1]}"
    parts = ["required"] if column.required else []
    if column.minimum is not None:
        parts.append(f">= {column.minimum:g}")
    parts.append("a whole number" if column.is_integer else "finite")
    if column.unique:
        parts.append("unique within a file")
    return "; ".join(parts)


def _missing(column: Column) -> str:
    if column.missing == "reject":
        return "row rejected"
    if column.missing == "median":
        return "imputed: median of the training rows"
    if column.missing == "mean_rounded":
        return "imputed: mean of the training rows, rounded"
    fill = f"`{column.fill}`" if isinstance(column.fill, str) else f"{column.fill:g}"
    return f"imputed: {fill}"
