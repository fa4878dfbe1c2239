"""``kedro model list`` / ``kedro model use``: the current model is chosen, by hand too."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from kedro.framework.startup import bootstrap_project

from customer_purchase_prediction import PurchasePredictor
from customer_purchase_prediction.cli import cli


def _kedro(project: Path, *arguments: str) -> tuple[int, str]:
    metadata = bootstrap_project(project)
    result = CliRunner().invoke(cli, list(arguments), obj=metadata)
    return result.exit_code, result.output


@pytest.mark.slow
def test_a_recorded_version_is_made_current_by_hand_and_a_bad_one_refused(
    trained_copy: Path,
) -> None:
    project = trained_copy
    older, newer = sorted(
        p.name for p in Path("data/06_models/purchase_model.skops").iterdir()
    )

    code, listing = _kedro(project, "model", "list")
    assert code == 0, listing
    lines = [line for line in listing.splitlines() if line.strip()]
    assert [line[2:].split()[0] for line in lines] == [
        older,
        newer,
    ]
    assert lines[1].startswith("* ") and lines[0].startswith("  ")

    code, output = _kedro(project, "model", "use", older, "--reason", "roll back")
    assert code == 0, output
    assert PurchasePredictor(project_path=project).model.version == older

    code, output = _kedro(project, "model", "use", "2099-01-01T00.00.00.000Z")
    assert code == 1
    assert "Error: model version '2099-01-01T00.00.00.000Z' was not recorded" in output

    artifact = (
        Path("data/06_models/purchase_model.skops") / newer / "purchase_model.skops"
    )
    artifact.write_bytes(artifact.read_bytes()[:100])
    code, output = _kedro(project, "model", "use", newer)
    assert code == 1
    assert "cut short by a crash" in output
    assert PurchasePredictor(project_path=project).model.version == older
