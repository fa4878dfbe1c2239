"""The service's request and response models, derived from the column spec.

Each field of a session, its JSON type, bounds, allowed labels, description,
unit and example come from ``columns.SPEC``, so the OpenAPI document says what
the data contract checks and a client generated from it validates as the
service does:

- The models check JSON types only, strictly: a number field takes a JSON
  number (``false`` and ``"12.5"`` are refused), a label field takes text, an
  unknown key is refused. ``null`` or an absent key is a missing value, imputed
  as the contract says (``customer_id`` is required).
- The value rules (bounds, whole numbers, allowed labels, the id's range, the
  id being required) are the contract's: it checks them and words the errors.
  The single-session schema publishes them as JSON Schema keywords
  (``required``, ``integer``, ``minimum``, ``maximum``, ``pattern``), since
  breaking one is a 422; a batch's rows (and rejects) carry them in their
  descriptions only, since a row that breaks one is a reject in a 200 answer.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    InstanceOf,
    StrictFloat,
    StrictInt,
    StrictStr,
    WithJsonSchema,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from customer_purchase_prediction.columns import (
    BY_NAME,
    ID_COLUMN,
    SESSION_COLUMNS,
    TIME_SPENT,
    Column,
    example_record,
)
from customer_purchase_prediction.explain import MAX_REASONS, RAISES
from customer_purchase_prediction.model import CONFIDENCE_LEVELS
from customer_purchase_prediction.values import (
    MAX_EXACT_INTEGER,
    MAX_INTEGER,
    NA_TOKENS,
)

__all__ = [
    "BatchRequest",
    "BatchResponse",
    "ErrorDetail",
    "ErrorResponse",
    "Prediction",
    "Reject",
    "Session",
    "SessionRow",
    "field_rule",
    "label_pattern",
    "maximum",
]

_METACHARACTERS = frozenset(r".^$*+?()[]{}|\/")


def maximum(column: Column) -> int | None:
    """The largest value the contract takes for a whole-number column.

    Identifiers are read exactly, up to the largest int64; whole-number
    features become floats, which hold them exactly up to ``2**53 - 1``.
    """
    if not column.is_integer:
        return None
    return MAX_EXACT_INTEGER if column.role == "id" else MAX_INTEGER


def label_pattern(column: Column) -> str:
    """A regular expression of the text the contract reads in a label column.

    An allowed label in any case, or a missing-value marker (``NA_TOKENS``,
    read as missing and imputed), with surrounding spaces (``SPACE``). Letters are written
    as ``[Mm]`` classes, so the pattern needs no flags (ECMA 262 and Python
    read it alike).
    """
    levels = ["".join(_either_case(char) for char in level) for level in column.levels]
    missing = ["".join(_escaped(char) for char in token) for token in sorted(NA_TOKENS)]
    text = "|".join([*levels, *(token for token in missing if token)])
    return rf"^{SPACE}*({text})?{SPACE}*$"


def _space_class() -> str:
    """The characters ``str.strip()`` removes, as one class of ``\\uXXXX`` ranges.

    Not ``\\s``: ECMA 262's includes U+FEFF, which Python keeps, and the Rust
    regex engine pydantic uses leaves out U+001C-U+001F, which Python strips;
    an explicit class reads the same in all three.
    """
    codes = [code for code in range(0x10000) if chr(code).isspace()]
    ranges: list[tuple[int, int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    parts = (
        f"\\u{low:04x}" if low == high else f"\\u{low:04x}-\\u{high:04x}"
        for low, high in ranges
    )
    return f"[{''.join(parts)}]"


SPACE = _space_class()


# The letters other than an ASCII letter's two cases that casefold to it, as
# the contract's label matching folds them (``values._label_code``): the Kelvin
# sign to k, the long s to s. ``tests/serving/test_api.py`` checks this
# against every code point of the running Python's Unicode database.
CASEFOLD_EXTRAS = {"k": "\u212a", "s": "\u017f"}


def _either_case(char: str) -> str:
    if char.lower() == char.upper():
        return _escaped(char)
    extra = CASEFOLD_EXTRAS.get(char.casefold(), "")
    return f"[{char.upper()}{char.lower()}{extra}]"


def _escaped(char: str) -> str:
    return "\\" + char if char in _METACHARACTERS else char


def field_rule(column: Column) -> str:
    """The contract's rules for one field, in words (schema descriptions, errors)."""
    if column.kind == "label":
        levels = ", ".join(column.levels)
        return (
            f"text, one of {levels} (case and surrounding spaces are ignored); "
            f'null, absent or a missing marker such as "" or "NA" is imputed '
            f"as {column.fill}"
        )
    kind = "a whole number" if column.is_integer else "a finite number"
    parts = [f"a JSON number, {kind}"]
    if column.minimum is not None:
        parts.append(f">= {column.minimum:g}")
    if (limit := maximum(column)) is not None:
        parts.append(f"<= {limit}")
    missing = {
        "reject": "required",
        "median": "null or absent is imputed with the training median",
        "mean_rounded": "null or absent is imputed with the training mean, rounded",
        "constant": f"null or absent is imputed as {column.fill!r}",
    }[column.missing]
    return "; ".join([*parts, missing])


def _description(column: Column) -> str:
    unit = f", in {column.unit}" if column.unit else ""
    return f"{column.description.capitalize()}{unit}. Rule: {field_rule(column)}."


def _json_type(column: Column) -> str:
    return {"integer": "integer", "float": "number", "label": "string"}[column.kind]


def _property(column: Column, *, with_rules: bool) -> dict[str, Any]:
    """The JSON Schema of one field: its type, and with ``with_rules`` its rules.

    Without the rules (a batch's row, a reject) a whole-number field is any
    number and a required one may be null: such a row is a reject, not a
    refused request.
    """
    if with_rules:
        kind = _json_type(column)
        json_type: str | list[str] = kind if column.required else [kind, "null"]
    else:
        json_type = ["string" if column.kind == "label" else "number", "null"]
    schema: dict[str, Any] = {
        "type": json_type,
        "title": column.name,
        "description": _description(column),
        "examples": [column.example],
    }
    if column.unit:
        schema["x-unit"] = column.unit
    if column.levels:
        schema["x-levels"] = list(column.levels)
    if with_rules:
        if column.minimum is not None:
            schema["minimum"] = column.minimum
        if (limit := maximum(column)) is not None:
            schema["maximum"] = limit
        elif column.kind == "float":  # finite: 1e400 is a JSON number, no float
            schema["maximum"] = sys.float_info.max
        if column.levels:
            schema["pattern"] = label_pattern(column)
    return schema


def _python_type(column: Column) -> Any:
    # Numbers stay as given (an int stays an int, exact beyond a float's range):
    # the contract reads them. A missing id is the contract's to refuse too, so
    # every field defaults to None here and the schema says which are required.
    if column.kind == "label":
        return StrictStr | None
    # A Decimal: a fraction the JSON reader kept (serving/json_reader.py).
    return StrictInt | StrictFloat | InstanceOf[Decimal] | None


def _session_model(name: str, *, with_rules: bool, doc: str) -> type[BaseModel]:
    fields: dict[str, Any] = {
        column_name: (
            Annotated[
                _python_type(BY_NAME[column_name]),
                WithJsonSchema(_property(BY_NAME[column_name], with_rules=with_rules)),
            ],
            None,
        )
        for column_name in SESSION_COLUMNS
    }
    required = [c for c in SESSION_COLUMNS if BY_NAME[c].required] if with_rules else []

    def schema_extra(schema: dict[str, Any]) -> None:
        schema["required"] = required
        for field in required:  # a required field has no default to state
            schema["properties"][field].pop("default", None)
        schema["examples"] = [example_record()]

    return create_model(
        name,
        __config__=ConfigDict(extra="forbid", json_schema_extra=schema_extra),
        __doc__=doc,
        __validators__={"objects_only": model_validator(mode="before")(_objects_only)},
        **fields,
    )


def _objects_only(data: Any) -> Any:
    """Refuse anything but a JSON object: FastAPI validates bodies with
    ``from_attributes``, under which a ``Decimal`` (a number the JSON reader
    keeps exactly) would read as a session whose every field is absent."""
    if not isinstance(data, dict | BaseModel):
        raise PydanticCustomError("dict_type", "Input should be a valid dictionary")
    return data


Session = _session_model(
    "Session",
    with_rules=True,
    doc=(
        "One browsing session, as the data contract reads it. A value that breaks "
        "a rule is answered with 422, naming the field, the value and the rule."
    ),
)
SessionRow = _session_model(
    "SessionRow",
    with_rules=False,
    doc=(
        "One session of a batch. The rules in the field descriptions are the "
        "contract's: a row that breaks one comes back as a reject, with the "
        "reason, while the other rows are scored."
    ),
)


class Prediction(BaseModel):
    """The model's answer for one session."""

    customer_id: int = Field(
        ge=0, le=MAX_EXACT_INTEGER, description="The session's customer_id, as sent."
    )
    purchase_prediction: Literal[0, 1] = Field(
        description="1 when the probability reaches the model's threshold."
    )
    purchase_probability: float = Field(
        ge=0,
        le=1,
        description="The model's probability of a purchase, a float64 sent exactly.",
    )
    prediction_confidence: Literal[CONFIDENCE_LEVELS] = Field(  # type: ignore[valid-type]
        description="How far the probability is from the threshold."
    )
    reasons: list[str] | None = Field(
        None,
        max_length=MAX_REASONS,
        description=(
            f"With ?explain=true: up to {MAX_REASONS} reasons behind the score, "
            "the largest effect first, in business words (the input, its value "
            "against the training sessions, and whether it raises or lowers the "
            "chance). Absent without explain."
        ),
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    ID_COLUMN: example_record()[ID_COLUMN],
                    "purchase_prediction": 1,
                    "purchase_probability": 0.78,
                    "prediction_confidence": "high",
                    "reasons": [
                        f"basket value 250.00, higher than 95% of training "
                        f"sessions, {RAISES}"
                    ],
                }
            ]
        }
    )


class Reject(SessionRow):  # type: ignore[misc,valid-type]
    """A batch row that broke the contract: its values as sent (null where
    absent), and why."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "required": ["source_row", "reject_rule", "reject_reason"],
            "examples": [
                {
                    **example_record(),
                    TIME_SPENT: -1,
                    "source_row": 2,
                    "reject_rule": f"{TIME_SPENT}:negative",
                    "reject_reason": f"{TIME_SPENT} must be >= 0; got -1",
                }
            ],
        },
    )

    source_row: int = Field(
        ge=1, description="The row's position in the batch, from 1."
    )
    reject_rule: str = Field(
        description="The rules broken, as column:rule, separated by ';'."
    )
    reject_reason: str = Field(description="The contract's words for each rule.")


class BatchRequest(BaseModel):
    """Sessions to score together; the service's ``max_batch`` limits their number."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"sessions": [example_record()]}]},
    )

    sessions: list[SessionRow]  # type: ignore[valid-type]

    _objects_only = model_validator(mode="before")(_objects_only)


class BatchResponse(BaseModel):
    """Every session of the batch, either scored or rejected, in input order."""

    predictions: list[Prediction]
    rejects: list[Reject]


class ErrorDetail(BaseModel):
    """One problem with a request: the field, the value given and the rule."""

    field: str | None = Field(
        description="The field at fault (sessions[2].time_spent in a batch)."
    )
    value: Any = Field(None, description="The value given, when there is one.")
    rule: str = Field(description="The rule, in the data contract's words.")


class ErrorResponse(BaseModel):
    """The body of every 4xx and 5xx answer."""

    detail: list[ErrorDetail]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": [
                        {
                            "field": TIME_SPENT,
                            "value": -1,
                            "rule": f"{TIME_SPENT} must be >= 0; got -1",
                        }
                    ]
                }
            ]
        }
    )
