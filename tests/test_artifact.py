"""The artifact runs no planted code, is the file training wrote, and is the recorded one."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kedro.io import Version

from customer_purchase_prediction.artifact import (
    ModelArtifactDataset,
    SkopsDataset,
    dumps,
    load_artifact_file,
    loads,
    sha256,
    trusted_types,
)
from customer_purchase_prediction.atomic import write_bytes
from customer_purchase_prediction.datasets import load_unwrapped
from customer_purchase_prediction.errors import ModelArtifactError, ModelNotFoundError
from customer_purchase_prediction.hooks import RecordCurrentModel
from customer_purchase_prediction.manifest import ManifestFile
from tests.conftest import run_project

MARKER = "PLANTED_CODE_RAN"


class Payload:
    """A pickle payload: unpickling it creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


class Stranger:
    """A type nobody declared trusted."""

    def __init__(self) -> None:
        self.value = 1


def _dataset(root: Path, version: str | None = None) -> ModelArtifactDataset:
    return ModelArtifactDataset(
        filepath=str(root / "purchase_model.skops"), version=Version(version, None)
    )


def _saved(root: Path, model: Any, version: str) -> ModelArtifactDataset:
    dataset = ModelArtifactDataset(
        filepath=str(root / "purchase_model.skops"), version=Version(None, version)
    )
    dataset.save(model)
    return dataset


def _artifact_file(root: Path, version: str) -> Path:
    return root / "purchase_model.skops" / version / "purchase_model.skops"


@pytest.fixture
def models_dir(tmp_path: Path, trained_model: Any) -> Path:
    """A models folder with one recorded version, made current."""
    root = tmp_path / "06_models"
    _saved(root, trained_model, "2026-01-01T00.00.00.000Z").make_current(reason="test")
    return root


def test_the_artifact_round_trips_to_the_same_bits(
    trained_model: Any, small_sessions: pd.DataFrame
) -> None:
    back = loads(dumps(trained_model), "memory")
    np.testing.assert_array_equal(
        back.predict_proba(small_sessions), trained_model.predict_proba(small_sessions)
    )
    assert back.metadata == trained_model.metadata


def test_saving_records_the_hash_and_loading_takes_the_current_version(
    models_dir: Path, trained_model: Any
) -> None:
    version = "2026-01-01T00.00.00.000Z"
    entry = ManifestFile(models_dir / "model_manifest.json").read().versions[version]
    assert entry.sha256 == sha256(_artifact_file(models_dir, version).read_bytes())
    # A newer folder, written by no training run, is not "the latest model".
    newer = "2099-01-01T00.00.00.000Z"
    write_bytes(_artifact_file(models_dir, newer), dumps(trained_model))
    model = load_unwrapped(_dataset(models_dir))
    assert model.version == version
    assert model.artifact["sha256"] == entry.sha256


def test_a_newer_training_run_is_current_only_once_recorded(
    models_dir: Path, trained_model: Any
) -> None:
    newer = "2026-02-01T00.00.00.000Z"
    saved = _saved(models_dir, trained_model, newer)
    assert load_unwrapped(saved).version == newer  # the run that saved it reads its own
    assert load_unwrapped(_dataset(models_dir)).version == "2026-01-01T00.00.00.000Z"
    saved.make_current(reason="test")
    assert load_unwrapped(_dataset(models_dir)).version == newer
    history = ManifestFile(models_dir / "model_manifest.json").read().history
    assert [choice.version for choice in history][-1] == newer


def test_no_current_model_says_to_train_first(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="run 'kedro run' first"):
        load_unwrapped(_dataset(tmp_path))


def test_a_planted_pickle_never_runs(models_dir: Path, tmp_path: Path) -> None:
    marker = tmp_path / MARKER
    planted = _artifact_file(models_dir, "2099-01-01T00.00.00.000Z")
    write_bytes(planted, pickle.dumps(Payload(marker)))
    assert load_unwrapped(_dataset(models_dir)).version == "2026-01-01T00.00.00.000Z"
    with pytest.raises(ModelNotFoundError, match="not recorded by a training run"):
        load_unwrapped(_dataset(models_dir, "2099-01-01T00.00.00.000Z"))
    with pytest.raises(ModelArtifactError, match="no training run recorded it"):
        load_artifact_file(planted)
    elsewhere = tmp_path / "elsewhere.skops"
    elsewhere.write_bytes(planted.read_bytes())
    with pytest.raises(ModelArtifactError, match="looks like a pickle"):
        load_artifact_file(elsewhere)
    # Even with its hash recorded (the manifest edited too), it is not loaded.
    manifest = ManifestFile(models_dir / "model_manifest.json")
    recorded = manifest.read().versions["2026-01-01T00.00.00.000Z"]
    manifest.record_version(
        "2099-01-01T00.00.00.000Z",
        recorded.model_copy(
            update={
                "file": "purchase_model.skops/2099-01-01T00.00.00.000Z/"
                "purchase_model.skops",
                "sha256": sha256(planted.read_bytes()),
                "bytes": planted.stat().st_size,
            }
        ),
    )
    with pytest.raises(ModelArtifactError, match="not a skops file"):
        load_unwrapped(_dataset(models_dir, "2099-01-01T00.00.00.000Z"))
    assert not marker.exists()


def test_a_skops_file_with_an_untrusted_type_is_refused_before_building(
    tmp_path: Path,
) -> None:
    data = sio.dumps({"model": Stranger()})
    with pytest.raises(ModelArtifactError, match=r"does not trust \(.*Stranger"):
        loads(data, "planted.skops")
    with pytest.raises(ModelArtifactError, match="no candidate declares trusted"):
        dumps(Stranger())


def test_a_file_that_is_not_a_model_is_refused(tmp_path: Path) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text("customer_id,time_spent\n1,2\n")
    with pytest.raises(ModelArtifactError, match=r"x\.csv is not a model artifact"):
        load_artifact_file(csv)
    other = tmp_path / "other.skops"
    write_bytes(other, dumps({"not": "a model"}))
    with pytest.raises(ModelArtifactError, match="holds a dict, not a PurchaseModel"):
        load_artifact_file(other)
    with pytest.raises(ModelNotFoundError, match="no model artifact at"):
        load_artifact_file(tmp_path / "missing.skops")


def test_an_unrecorded_file_beside_a_manifest_is_refused(
    models_dir: Path, trained_model: Any
) -> None:
    stray = _artifact_file(models_dir, "2099-01-01T00.00.00.000Z")
    write_bytes(stray, dumps(trained_model))
    with pytest.raises(ModelArtifactError, match="no training run recorded it"):
        load_artifact_file(stray)
    recorded = _artifact_file(models_dir, "2026-01-01T00.00.00.000Z")
    assert load_artifact_file(recorded).version == "2026-01-01T00.00.00.000Z"


def test_an_expected_hash_is_checked(tmp_path: Path, trained_model: Any) -> None:
    path = tmp_path / "model.skops"
    write_bytes(path, dumps(trained_model))
    assert load_artifact_file(path, expected_sha256=sha256(path.read_bytes()))
    with pytest.raises(ModelArtifactError, match="not the expected artifact"):
        load_artifact_file(path, expected_sha256="0" * 64)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(cut=st.floats(0.0, 0.999))
def test_a_truncated_artifact_gets_one_clear_message(
    models_dir: Path, cut: float
) -> None:
    path = _artifact_file(models_dir, "2026-01-01T00.00.00.000Z")
    whole = path.read_bytes()
    try:
        path.write_bytes(whole[: int(len(whole) * cut)])
        with pytest.raises(ModelArtifactError, match="cut short by a crash"):
            load_unwrapped(_dataset(models_dir))
    finally:
        path.write_bytes(whole)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(position=st.floats(0.0, 0.999), flip=st.integers(1, 255))
def test_a_modified_artifact_is_refused(
    models_dir: Path, position: float, flip: int
) -> None:
    path = _artifact_file(models_dir, "2026-01-01T00.00.00.000Z")
    whole = path.read_bytes()
    changed = bytearray(whole)
    changed[int(len(whole) * position)] ^= flip
    try:
        path.write_bytes(bytes(changed))
        with pytest.raises(ModelArtifactError, match="SHA-256 differs"):
            load_unwrapped(_dataset(models_dir))
    finally:
        path.write_bytes(whole)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=4096) | st.sampled_from([b"PK\x03\x04", b"\x80\x04"]))
def test_arbitrary_bytes_are_refused_with_our_error_only(data: bytes) -> None:
    with pytest.raises(ModelArtifactError, match=r"^planted "):
        loads(data, "planted")


_PLAIN = dumps({"threshold": 0.5, "levels": ["a", "b"]})


@settings(max_examples=30, deadline=None)
@given(
    start=st.integers(0, len(_PLAIN) - 1),
    cut=st.integers(0, 200),
    noise=st.binary(min_size=1, max_size=64),
)
def test_damaged_skops_archives_are_refused_with_our_error_only(
    start: int, cut: int, noise: bytes
) -> None:
    damaged = _PLAIN[:start] + noise + _PLAIN[start + cut :]
    try:
        loaded = loads(damaged, "damaged")
    except ModelArtifactError:
        return
    # Damage that zip and skops tolerate must still give back plain data.
    assert isinstance(loaded, dict)


def test_the_trusted_types_follow_the_registry() -> None:
    trusted = trusted_types()
    assert "customer_purchase_prediction.model.PurchaseModel" in trusted
    assert "sklearn.tree._tree.Tree" in trusted  # declared by random_forest
    assert not any(name.startswith(("builtins.eval", "os.")) for name in trusted)


def test_intermediate_objects_are_skops_too(tmp_path: Path) -> None:
    dataset = SkopsDataset(filepath=str(tmp_path / "candidate_models.skops"))
    dataset.save({"threshold": 0.5})
    assert load_unwrapped(dataset) == {"threshold": 0.5}
    marker = tmp_path / MARKER
    (tmp_path / "candidate_models.skops").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(ModelArtifactError, match="never loads"):
        load_unwrapped(dataset)
    assert not marker.exists()


class _Pipeline:
    def __init__(self, outputs: set[str]) -> None:
        self._outputs = outputs

    def all_outputs(self) -> set[str]:
        return self._outputs


class _Catalog:
    def __init__(self, dataset: ModelArtifactDataset) -> None:
        self._dataset = dataset

    def get(self, name: str) -> ModelArtifactDataset:
        return self._dataset


def test_only_a_run_that_trained_the_model_records_it(
    models_dir: Path, trained_model: Any
) -> None:
    newer = "2026-03-01T00.00.00.000Z"
    saved = _saved(models_dir, trained_model, newer)
    hook = RecordCurrentModel()
    run = {"session_id": newer}
    hook.after_pipeline_run(run, _Pipeline({"inference_summary"}), _Catalog(saved))
    assert saved.current_version() == "2026-01-01T00.00.00.000Z"
    hook.after_pipeline_run(run, _Pipeline({"purchase_model"}), _Catalog(saved))
    assert saved.current_version() == newer
    reason = ManifestFile(models_dir / "model_manifest.json").read().current.reason
    assert newer in reason


def test_a_damaged_manifest_is_one_message(models_dir: Path) -> None:
    (models_dir / "model_manifest.json").write_text('{"versions": [1, 2')
    with pytest.raises(ModelArtifactError, match="not a readable model manifest"):
        load_unwrapped(_dataset(models_dir))


def test_nothing_ran_during_this_module() -> None:
    assert not any(MARKER in name for name in os.listdir("."))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    folder=st.from_regex(r"[0-9A-Za-z.\-]{1,30}", fullmatch=True).filter(
        lambda name: name not in {".", ".."}
    ),
    protocol=st.integers(0, pickle.HIGHEST_PROTOCOL),
)
def test_a_planted_pickle_in_any_folder_never_runs_and_never_becomes_current(
    models_dir: Path, tmp_path: Path, folder: str, protocol: int
) -> None:
    marker = tmp_path / MARKER
    planted = models_dir / "purchase_model.skops" / folder / "purchase_model.skops"
    write_bytes(planted, pickle.dumps(Payload(marker), protocol=protocol))
    try:
        assert load_unwrapped(_dataset(models_dir)).version == (
            "2026-01-01T00.00.00.000Z"
        )
        if folder != "2026-01-01T00.00.00.000Z":
            with pytest.raises((ModelNotFoundError, ModelArtifactError)):
                load_unwrapped(_dataset(models_dir, folder))
            with pytest.raises(ModelArtifactError):
                load_artifact_file(planted)
    finally:
        if folder != "2026-01-01T00.00.00.000Z":
            planted.unlink()
    assert not marker.exists()


@pytest.mark.slow
def test_the_inference_pipeline_scores_with_the_recorded_model_not_a_planted_one(
    trained_copy: Path, tmp_path: Path
) -> None:
    project = trained_copy
    marker = tmp_path / MARKER
    current = ManifestFile(project / "data/06_models/model_manifest.json").read()
    planted = _artifact_file(project / "data/06_models", "2099-01-01T00.00.00.000Z")
    write_bytes(planted, pickle.dumps(Payload(marker)))
    run_project(project, pipeline="inference")
    summary = json.loads(
        (project / "data/07_model_output/inference_summary.json").read_text()
    )
    assert current.current is not None
    assert summary["model"]["version"] == current.current.version
    assert summary["model"]["sha256"] == (
        current.versions[current.current.version].sha256
    )
    assert not marker.exists()
