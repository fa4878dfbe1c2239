"""CSV outputs are safe to open in a spreadsheet; Parquet outputs keep every value.

OWASP's CSV-injection guidance: a text cell that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return is run as a formula by Excel, LibreOffice and
Google Sheets; a leading ``'`` makes it text. A plain number (``-3.5``) is read
as that number, so it is left alone, and numeric columns are never touched.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customer_purchase_prediction.columns import ID_COLUMN, SESSION_COLUMNS
from customer_purchase_prediction.datasets import TableDataset
from customer_purchase_prediction.table_writing import (
    csv_table,
    neutralise,
    spreadsheet_safe,
)

FORMULAS = [
    "=1+1",
    '=HYPERLINK("http://evil.example","x")',
    "+1+1",
    "-1+1",
    "@SUM(A1:A2)",
    "\t=1",
    "\r=1",
    "-inf",
    "=cmd|' /C calc'!A0",
]
PLAIN = ["-3.5", "+2", "-1e5", "mobile", " =1", "a=b", "", "1-2"]


def written_cells(tmp_path: Path, frame: pd.DataFrame) -> list[list[str]]:
    path = tmp_path / "out.csv"
    TableDataset(filepath=str(path)).save(frame)
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


@pytest.mark.parametrize("value", FORMULAS)
def test_a_text_cell_that_a_spreadsheet_would_run_gets_a_leading_quote(
    tmp_path: Path, value: str
) -> None:
    header, first = written_cells(tmp_path, pd.DataFrame({"note": [value]}))
    assert header == ["note"]
    assert first == ["'" + value]


@pytest.mark.parametrize("value", PLAIN)
def test_plain_numbers_and_harmless_text_are_written_as_they_are(
    tmp_path: Path, value: str
) -> None:
    cells = written_cells(tmp_path, pd.DataFrame({"note": [value, None]}))
    assert cells[1] == [value]


def test_numeric_columns_are_numbers_not_formulas(tmp_path: Path) -> None:
    frame = pd.DataFrame({"delta": [-3.5, 2.0], "count": [-1, 4], "note": ["-1", "=1"]})
    assert written_cells(tmp_path, frame)[1:] == [
        ["-3.5", "-1", "-1"],
        ["2", "4", "'=1"],
    ]


def test_column_names_are_neutralised_too(tmp_path: Path) -> None:
    frame = pd.DataFrame({"=evil()": ["a"], ID_COLUMN: [1]})
    assert written_cells(tmp_path, frame)[0] == ["'=evil()", ID_COLUMN]


def test_rejects_and_predictions_as_csv_are_neutralised_but_parquet_keeps_values(
    tmp_path: Path,
) -> None:
    rejects = pd.DataFrame(
        {
            ID_COLUMN: ["=1+2", "7"],
            SESSION_COLUMNS[-1]: ["@x", "New"],
            "reject_reason": ["customer_id must be a whole number; got '=1+2'", "x"],
        }
    )
    assert written_cells(tmp_path, rejects)[1][:2] == ["'=1+2", "'@x"]
    parquet = TableDataset(filepath=str(tmp_path / "rejects.parquet"))
    parquet.save(rejects)
    pd.testing.assert_frame_equal(parquet.load(), rejects, check_dtype=False)


def test_the_pipeline_predictions_file_is_neutralised(tmp_path: Path) -> None:
    """What the inference pipeline writes: ids, probabilities, bands, passthrough."""
    predictions = pd.DataFrame(
        {
            ID_COLUMN: [1, 2],
            "purchase_probability": [0.25, 0.75],
            "prediction_confidence": ["low", "high"],
            "campaign": ["=WEBSERVICE(1)", "spring"],
        }
    )
    cells = written_cells(tmp_path, predictions)
    assert cells[1] == ["1", "0.25", "low", "'=WEBSERVICE(1)"]
    assert cells[2] == ["2", "0.75", "high", "spring"]


def test_nested_values_are_written_as_json_text_not_a_crash(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "tags": [["a", "b"], [], None],
            "meta": [{"k": 1}, {"k": 2}, None],
            "mixed": [[1], "=x", 3],
            "array": [np.array([1, 2]), np.array([3]), None],
        }
    )
    path = tmp_path / "nested.csv"
    TableDataset(filepath=str(path)).save(frame)
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert rows[1] == ['["a", "b"]', '{"k": 1}', "[1]", "[1, 2]"]
    assert rows[2] == ["[]", '{"k": 2}', "'=x", "[3]"]
    assert rows[3] == ["", "", "3", ""]
    parquet = TableDataset(filepath=str(tmp_path / "nested.parquet"))
    parquet.save(frame.drop(columns=["mixed"]))
    assert parquet.load()["tags"].iloc[0].tolist() == ["a", "b"]


def test_decimals_categories_and_dates_are_written_as_values(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "price": [Decimal("1.50"), Decimal("-2")],
            "band": pd.Categorical(["=a", "b"]),
            "day": pd.to_datetime(["2026-01-02", None]),
        }
    )
    cells = written_cells(tmp_path, frame)
    assert cells[1][:2] == ["1.50", "'=a"]
    assert cells[2][:2] == ["-2.00", "b"]  # one scale per decimal column


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=12))
def test_no_written_text_cell_starts_a_formula(value: str) -> None:
    cell = csv_table(pd.DataFrame({"x": [value]})).column(0)[0].as_py()
    assert cell == neutralise(value)
    if cell[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        float(cell)  # only a plain number may start so
    assert cell in {value, "'" + value}


def test_a_pandas_writer_gets_the_same_safe_cells(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"=h": ["=1", "ok"], "n": [-1, 2], "tags": [["a"], None]}, index=[5, 6]
    )
    safe = spreadsheet_safe(frame)
    assert list(safe.columns) == ["'=h", "n", "tags"]
    assert safe.index.tolist() == [5, 6]
    assert safe["'=h"].tolist() == ["'=1", "ok"]
    assert safe["n"].tolist() == [-1, 2]
    assert safe["tags"].tolist() == ['["a"]', None]
    assert frame["=h"].tolist() == ["=1", "ok"]  # the input is not changed
    path = tmp_path / "pandas.csv"
    safe.to_csv(path, index=False)
    assert list(csv.reader(path.open(newline=""))) == written_cells(tmp_path, frame)
