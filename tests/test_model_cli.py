"""``kedro model list`` / ``promote`` (``use``): the current model (the registry's
champion) is chosen, by hand too."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from kedro.framework.startup import bootstrap_project

from customer_purchase_prediction import PurchasePredictor
from customer_purchase_prediction.cli import cli
from customer_purchase_prediction.manifest import ManifestFile
from customer_purchase_prediction.registry import MODEL_NAME


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


@pytest.mark.slow
def test_a_registered_version_is_promoted_by_number_alias_or_uri(
    trained_copy: Path,
) -> None:
    # trained_project registered two versions; the second is champion.
    project = trained_copy
    older, newer = sorted(
        p.name for p in Path("data/06_models/purchase_model.skops").iterdir()
    )
    code, listing = _kedro(project, "model", "list")
    assert code == 0, listing
    lines = [line for line in listing.splitlines() if line.strip()]
    assert f"{MODEL_NAME}/1  " in lines[0]
    assert lines[1].startswith(f"* {newer}  {MODEL_NAME}/2 (champion)")

    code, output = _kedro(project, "model", "promote", "1")
    assert code == 0, output
    assert f"Current model is now version {older}." in output
    info = PurchasePredictor(project_path=project).get_model_info()
    assert (info["version"], info["registry_version"]) == (older, "1")
    assert info["aliases"] == ["champion"]
    manifest = ManifestFile(Path("data/06_models/model_manifest.json")).read()
    assert manifest.current is not None and manifest.current.version == older

    code, output = _kedro(project, "model", "promote", f"models:/{MODEL_NAME}/2")
    assert code == 0, output
    assert PurchasePredictor(project_path=project).model.version == newer

    code, output = _kedro(project, "model", "promote", "9")
    assert code == 1
    assert "no version 9 of purchase-model" in output
    assert "registered versions: 1, 2 (champion)" in output


@pytest.mark.slow
def test_the_service_loads_the_champion_or_the_version_asked_for(
    trained_copy: Path,
) -> None:
    from customer_purchase_prediction.serving.app import load_predictor
    from customer_purchase_prediction.serving.config import ServiceSettings

    older, newer = sorted(
        p.name for p in Path("data/06_models/purchase_model.skops").iterdir()
    )
    served = {
        given: load_predictor(
            ServiceSettings(model=given, project_path=trained_copy)
        ).get_model_info()
        for given in (None, f"models:/{MODEL_NAME}/1", "champion", older)
    }
    assert (served[None]["version"], served[None]["aliases"]) == (newer, ["champion"])
    assert served[f"models:/{MODEL_NAME}/1"]["version"] == older
    assert served["champion"]["registry_version"] == "2"
    assert served[older]["registry_version"] == "1"


@pytest.mark.slow
def test_a_model_from_a_shared_registry_is_fetched_and_its_hash_checked(
    trained_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from customer_purchase_prediction.columns import example_record
    from customer_purchase_prediction.errors import ModelArtifactError
    from customer_purchase_prediction.registry import SHA256_TAG, project_registry

    # Another machine: the same registry, none of the training run's files.
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(trained_copy / "conf", elsewhere / "conf")
    shutil.copy(trained_copy / "pyproject.toml", elsewhere)
    registry = project_registry(trained_copy)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.tracking_uri)

    fetched = PurchasePredictor(project_path=elsewhere)
    local = PurchasePredictor(project_path=trained_copy)
    assert fetched.model.version == local.model.version
    assert fetched.get_model_info()["registry_version"] == "2"
    record = example_record()
    assert fetched.predict(record, return_probabilities=True) == local.predict(
        record, return_probabilities=True
    )

    registry.client.set_model_version_tag(MODEL_NAME, "2", SHA256_TAG, "0" * 64)
    with pytest.raises(ModelArtifactError, match="is not the expected artifact"):
        PurchasePredictor(project_path=elsewhere)
