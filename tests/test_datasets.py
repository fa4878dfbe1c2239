"""Project datasets: table previews for kedro viz, model versions, public APIs only."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import pandas as pd
import pytest
from kedro_datasets.pandas import CSVDataset

from customer_purchase_prediction.datasets import (
    MarkdownDataset,
    TableDataset,
)
from tests.conftest import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "src" / "customer_purchase_prediction"
TABLE = pd.DataFrame(
    {
        "customer_id": [1, 2, 3, 4, 5, 6, 7],
        "time_spent": [3.5, None, 1.0, 2.0, 8.25, 0.5, 4.0],
        "device_type": ["Mobile", "Desktop", None, "Tablet", "Mobile", "Mobile", "x"],
    }
)


def _preview_type(dataset: object) -> str:
    """The name kedro viz reads from ``preview``'s return annotation."""
    annotation = inspect.signature(dataset.preview).return_annotation  # type: ignore[attr-defined]
    return getattr(annotation, "__name__", str(annotation))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_previews_its_first_rows_as_kedro_viz_shows_tables(
    tmp_path: Path, suffix: str
) -> None:
    dataset = TableDataset(filepath=str(tmp_path / f"sessions{suffix}"))
    dataset.save(TABLE)
    preview = dataset.preview(nrows=3)  # kedro viz passes preview_args so
    assert _preview_type(dataset) == "TablePreview"
    assert preview["columns"] == ["customer_id", "time_spent", "device_type"]
    assert preview["index"] == [0, 1, 2]
    assert [row[0] for row in preview["data"]] == (
        ["1", "2", "3"] if suffix == ".csv" else [1, 2, 3]  # CSV cells stay text
    )
    assert preview["data"][1][1] is None  # a missing cell, not NaN
    assert preview["data"][2][2] is None
    json.dumps(preview, allow_nan=False)  # what kedro viz answers with
    assert len(dataset.preview()["data"]) == 5


def test_a_csv_table_previews_like_kedro_datasets_own_csv(tmp_path: Path) -> None:
    path = tmp_path / "predictions.csv"
    TABLE.dropna().to_csv(path, index=False)
    ours = TableDataset(filepath=str(path)).preview(nrows=2)
    theirs = CSVDataset(filepath=str(path), load_args={"dtype": str}).preview(nrows=2)
    assert ours == theirs


def test_a_markdown_report_previews_as_escaped_html(tmp_path: Path) -> None:
    dataset = MarkdownDataset(filepath=str(tmp_path / "card.md"))
    dataset.save("# Model <card>\n")
    assert _preview_type(dataset) == "HTMLPreview"
    assert "# Model &lt;card&gt;" in dataset.preview()


def _private_uses(source: str) -> list[str]:
    """Imports of other packages' private modules and uses of a private ``_fs``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            private = [p for p in parts if p.startswith("_") and not p.endswith("__")]
            if parts[0] != "customer_purchase_prediction" and private:
                found.append(f"from {node.module} import")
        if isinstance(node, ast.Attribute) and node.attr == "_fs":
            found.append("._fs")
    return found


@pytest.mark.parametrize(
    "module",
    sorted(PACKAGE.rglob("*.py")),
    ids=lambda path: str(path.relative_to(PACKAGE)),
)
def test_the_package_uses_no_private_api_of_another_library(module: Path) -> None:
    assert _private_uses(module.read_text()) == []


def test_the_private_api_check_finds_both_kinds() -> None:
    source = "from kedro_datasets._typing import X\nself._fs.glob('x')\n"
    assert _private_uses(source) == ["from kedro_datasets._typing import", "._fs"]
