"""Shared fixtures: a throw-away copy of the project for end-to-end runs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RAW_DIR = Path("data") / "01_raw"
TRACKING_URI = "MLFLOW_TRACKING_URI"
# The project's own tracking store and artifacts, which no test may touch.
OWN_STORE = (PROJECT_ROOT / "mlflow.db", PROJECT_ROOT / "mlartifacts")


def _store_state() -> list[tuple[str, float | None]]:
    return [
        (str(path), path.stat().st_mtime if path.exists() else None)
        for path in OWN_STORE
    ]


@pytest.fixture(scope="session", autouse=True)
def session_tracking_store(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """No test tracks into the project's own store, a developer's server, or
    another test's project (no server, no network).

    A project copy tracks into its own ``mlflow.db`` (the default,
    ``sqlite:///mlflow.db`` under the project), as a fresh clone does, so each
    has its own registry and champion; ``MLFLOW_TRACKING_URI`` is unset so that
    it cannot send them all to one store. MLflow's own default, for anything
    that asks MLflow without a project, is a temporary store. The session fails
    if the project's store changed all the same.
    """
    import mlflow

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.delenv(TRACKING_URI, raising=False)
    monkeypatch.setenv("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    uri = f"sqlite:///{tmp_path_factory.mktemp('tracking') / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    os.environ.pop(TRACKING_URI, None)  # set_tracking_uri sets it too
    before = _store_state()
    yield uri
    monkeypatch.undo()
    assert _store_state() == before, "a test wrote the project's own mlflow.db"


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the project's config and embedded data; the test runs inside it.

    Runs write their outputs under the copy, never into the repository, so no
    test depends on files another test (or a developer's run) left behind.
    """
    root = tmp_path / "project"
    (root / RAW_DIR).mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    (root / "src").mkdir()  # the package itself is installed; Kedro wants the folder
    shutil.copytree(
        PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local")
    )
    (root / "conf" / "local").mkdir()
    for name in ("customer_sessions.csv", "new_sessions.csv"):
        if (PROJECT_ROOT / RAW_DIR / name).exists():
            shutil.copy(PROJECT_ROOT / RAW_DIR / name, root / RAW_DIR)
    monkeypatch.chdir(root)
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    yield root


TRAINING = ["data_processing", "feature_engineering", "modelling", "registry"]


def run_project(
    project: Path,
    *,
    pipeline: str | list[str] | None = None,
    params: dict[str, Any] | None = None,
    env: str = "test",
    load_versions: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run pipelines of the project copy in ``env`` the way ``kedro run`` does."""
    bootstrap_project(project)
    names = [pipeline] if isinstance(pipeline, str) else pipeline
    with KedroSession.create(
        project_path=project, env=env, runtime_params=params or {}
    ) as session:
        return session.run(pipeline_names=names, load_versions=load_versions)


def write_csv(path: Path, rows: list[dict[str, Any]] | pd.DataFrame) -> Path:
    """Write rows to a CSV file exactly as given (no index)."""
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def validated_sessions(rows: int, seed: int) -> pd.DataFrame:
    """Clean generated sessions as the data_processing pipeline would keep them."""
    from customer_purchase_prediction.contract import validate_sessions
    from customer_purchase_prediction.synthetic import generate_sessions

    raw, _ = generate_sessions(rows, seed, messy_fraction=0.0)
    return validate_sessions(raw, labelled=True).valid


@pytest.fixture(scope="session")
def small_sessions() -> pd.DataFrame:
    """600 clean validated sessions, shared read-only by the modelling tests."""
    return validated_sessions(600, seed=3)


def modelling_params(**overrides: Any) -> Any:
    """ModellingParams as conf/base and conf/test give them, plus overrides."""
    import yaml
    from omegaconf import OmegaConf

    from customer_purchase_prediction.params import ModellingParams

    base = yaml.safe_load(
        (PROJECT_ROOT / "conf/base/parameters_modelling.yml").read_text()
    )
    test = yaml.safe_load((PROJECT_ROOT / "conf/test/parameters.yml").read_text())
    merged = OmegaConf.merge(base["modelling"], test["modelling"], overrides)
    return ModellingParams.model_validate(OmegaConf.to_container(merged))


def train_in_memory(
    sessions: pd.DataFrame, params: Any = None, *, keep: bool = False
) -> tuple[Any, Any]:
    """Split, feature_engineering and modelling on a memory catalog.

    Args:
        keep: Keep every intermediate dataset (the runner releases them
            otherwise), so a test can read them after the run.

    Returns:
        The trained ``PurchaseModel`` and the catalog holding every output.
    """
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.runner import SequentialRunner

    from customer_purchase_prediction.business import BusinessParams
    from customer_purchase_prediction.params import DataProcessingParams, FeatureParams
    from customer_purchase_prediction.pipelines import feature_engineering, modelling
    from customer_purchase_prediction.pipelines.data_processing.nodes import (
        build_data_quality_report,
    )
    from customer_purchase_prediction.scale_out import NotPartitioned

    params = modelling_params() if params is None else params
    quality = build_data_quality_report(
        sessions,
        sessions.iloc[:0].assign(reject_rule=pd.Series(dtype="str")),
        {"source": "memory", "rows_in": len(sessions), "ignored_columns": []},
        DataProcessingParams(),
    )

    class KeptDataset(MemoryDataset):
        def _release(self) -> None:
            pass

    pipeline = feature_engineering.create_pipeline() + modelling.create_pipeline()
    kept = {name: KeptDataset() for name in pipeline.datasets()} if keep else {}
    catalog = DataCatalog(
        kept
        | {
            "sessions": MemoryDataset(sessions),
            "data_quality_report": MemoryDataset(quality),
            "params:modelling": MemoryDataset(params),
            "params:feature_engineering": MemoryDataset(FeatureParams()),
            "params:business": MemoryDataset(BusinessParams()),
            "validation_sessions": (KeptDataset if keep else MemoryDataset)(
                copy_mode="assign"
            ),
            # Read by the dask environment only (conf/base: NotPartitioned).
            "training_rows": NotPartitioned(),
        }
    )
    SequentialRunner().run(pipeline, catalog)
    return catalog.load("purchase_model"), catalog


@pytest.fixture(scope="session")
def trained_model(small_sessions: pd.DataFrame) -> Any:
    """A PurchaseModel trained on ``small_sessions`` with the test parameters."""
    return train_in_memory(small_sessions)[0]


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A project copy trained twice in ``test`` (two model versions), shared read-only."""
    monkeypatch = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("trained") / "project"
    (root / RAW_DIR).mkdir(parents=True)
    (root / "src").mkdir()
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root)
    shutil.copytree(
        PROJECT_ROOT / "conf", root / "conf", ignore=shutil.ignore_patterns("local")
    )
    (root / "conf" / "local").mkdir()
    for name in ("customer_sessions.csv", "new_sessions.csv"):
        shutil.copy(PROJECT_ROOT / RAW_DIR / name, root / RAW_DIR)
    monkeypatch.chdir(root)
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    run_project(root, pipeline=TRAINING)
    run_project(
        root,
        pipeline=TRAINING,
        # promoted whatever the gate says: the newer version is the current one
        params={
            "modelling": {"selection_metric": "precision"},
            "registry": {"promote": "always"},
        },
    )
    yield root
    monkeypatch.undo()


@pytest.fixture
def trained_copy(
    trained_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A writable copy of ``trained_project``; the test runs inside it."""
    project = tmp_path / "project"
    shutil.copytree(trained_project, project)
    monkeypatch.chdir(project)
    return project
