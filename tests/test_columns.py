"""The column spec is the one home of the input columns; everything derives from it."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from customer_purchase_prediction import columns
from customer_purchase_prediction.contract import (
    SessionsSchema,
    TrainingSessionsSchema,
    validate_sessions,
)
from customer_purchase_prediction.features import SessionFeatures
from customer_purchase_prediction.synthetic import COLUMNS, generate_sessions

DOCS = Path(__file__).resolve().parents[1] / "docs" / "data_contract.md"
PACKAGE = Path(columns.__file__).parent


def test_docs_table_is_the_spec() -> None:
    text = DOCS.read_text(encoding="utf-8")
    expected = columns.contract_table()
    assert expected in text, (
        "docs/data_contract.md disagrees with the column spec; paste this table:\n"
        + expected
    )


def test_schemas_and_lists_follow_the_spec() -> None:
    assert list(TrainingSessionsSchema.columns) == [c.name for c in columns.SPEC]
    assert list(SessionsSchema.columns) == list(columns.SESSION_COLUMNS)
    assert COLUMNS == columns.TRAINING_COLUMNS
    for column in columns.SPEC:
        schema = TrainingSessionsSchema.columns[column.name]
        assert schema.nullable is (not column.required), column.name
        assert schema.unique is column.unique, column.name
    assert set(columns.ALLOWED_LABELS) == set(columns.CATEGORICAL_COLUMNS)


def test_generator_writes_the_spec_columns_in_order() -> None:
    sessions, _ = generate_sessions(20, 1)
    assert tuple(sessions.columns) == columns.TRAINING_COLUMNS
    unlabelled, _ = generate_sessions(20, 1, labelled=False)
    assert tuple(unlabelled.columns) == columns.SESSION_COLUMNS


def test_example_record_meets_the_contract() -> None:
    result = validate_sessions(pd.DataFrame([columns.example_record()]), labelled=False)
    assert result.rejects.empty
    assert len(result.valid) == 1


@pytest.mark.parametrize("column", columns.FEATURES, ids=lambda c: c.name)
def test_transformer_imputes_by_the_spec_rule(column: columns.Column) -> None:
    train = pd.DataFrame(
        [{**columns.example_record(), columns.ID_COLUMN: i} for i in range(1, 5)]
    )
    transformer = SessionFeatures().fit(train)
    record = {**columns.example_record(), column.name: None}
    readable = transformer.engineer(
        validate_sessions(pd.DataFrame([record]), labelled=False).valid
    )
    imputed = readable[column.name].iloc[0]
    if column.missing == "constant":
        assert imputed == column.fill
    else:  # learned from the (identical) training rows: their value
        assert imputed == column.example


def test_each_column_name_is_spelt_in_one_module() -> None:
    """Column names appear as literals in columns.py only (and the generator)."""
    offenders = {}
    for column in columns.SPEC:
        pattern = re.compile(rf"[\"']{column.name}[\"']")
        found = [
            path.name
            for path in PACKAGE.rglob("*.py")
            if path.name not in {"columns.py", "synthetic.py"}
            and pattern.search(path.read_text(encoding="utf-8"))
        ]
        if found:
            offenders[column.name] = found
    assert offenders == {}
