"""The exploration notebook runs headless on a fresh copy of the project."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from tests.conftest import PROJECT_ROOT

NOTEBOOK = Path("notebooks") / "exploration.ipynb"


def _cell(notebook: Any, tag: str) -> Any:
    """The one code cell carrying ``tag`` in its metadata."""
    cells = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def _text(cell: Any) -> str:
    """All text a cell printed or displayed (plain text and Markdown)."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in {"display_data", "execute_result"}:
            parts.extend(
                output.data.get(kind, "") for kind in ("text/plain", "text/markdown")
            )
    return "\n".join(parts)


def _images(cell: Any) -> int:
    return sum("image/png" in output.get("data", {}) for output in cell.outputs)


def test_notebook_is_committed_without_outputs() -> None:
    notebook = nbformat.read(PROJECT_ROOT / NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code
    assert all(not cell.outputs and cell.execution_count is None for cell in code)


def test_notebook_loads_data_only_through_the_catalog() -> None:
    notebook = nbformat.read(PROJECT_ROOT / NOTEBOOK, as_version=4)
    source = "\n".join(cell.source for cell in notebook.cells)
    assert "%reload_kedro .." in notebook.cells[1].source
    assert "read_csv" not in source
    assert "read_parquet" not in source
    assert "data/0" not in "\n".join(
        cell.source for cell in notebook.cells if cell.cell_type == "code"
    )


@pytest.mark.slow
def test_notebook_runs_on_a_fresh_copy_of_the_project(project_dir: Path) -> None:
    # No data_processing outputs exist in the copy: the notebook must run the
    # pipeline itself, and it writes only under the copy.
    (project_dir / "notebooks").mkdir()
    shutil.copy(PROJECT_ROOT / NOTEBOOK, project_dir / NOTEBOOK)
    notebook = nbformat.read(project_dir / NOTEBOOK, as_version=4)

    NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(project_dir / "notebooks")}},
    ).execute()

    report = json.loads(
        (project_dir / "data/08_reporting/data_quality_report.json").read_text()
    )
    sessions = pd.read_parquet(project_dir / "data/03_primary/sessions.parquet")
    assert Path(report["source"]).is_relative_to(project_dir)

    rows = _text(_cell(notebook, "rows-kept-rejected"))
    for count in report["rows"].values():
        assert str(count) in rows

    by_device = _text(_cell(notebook, "purchase-rate-by-device"))
    for device in sessions["device_type"].dropna().unique():
        assert device in by_device
    by_customer = _text(_cell(notebook, "purchase-rate-by-customer"))
    for customer_type in sessions["customer_type"].dropna().unique():
        assert customer_type in by_customer

    for tag in (
        "purchase-rate-by-device",
        "purchase-rate-by-customer",
        "purchase-rate-by-time",
        "missingness",
        "outliers",
    ):
        assert _images(_cell(notebook, tag)) == 1, tag

    conclusions = _cell(notebook, "conclusions")
    assert any("text/markdown" in output.data for output in conclusions.outputs)
    assert f"{sessions['purchase'].mean():.1%}" in _text(conclusions)
