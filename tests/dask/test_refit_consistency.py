"""A refitted model's calibrator; the pandas path reads no partition and no
held-out file for the scale-out seam; a lost worker's message."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DatasetError

from customer_purchase_prediction.calibration import fit_calibrator
from customer_purchase_prediction.columns import ID_COLUMN, LABEL_COLUMN
from customer_purchase_prediction.model import pipeline_proba
from customer_purchase_prediction.output_paths import CATALOG_RESOLVERS
from customer_purchase_prediction.partitioned import TrainingRowsDataset
from customer_purchase_prediction.pipelines import feature_engineering, modelling
from customer_purchase_prediction.pipelines.modelling.nodes import (
    calibrate_candidates,
)
from customer_purchase_prediction.scale_out import NotPartitioned
from tests.conftest import PROJECT_ROOT, modelling_params, train_in_memory

REFIT = "xgboost"


@pytest.fixture(scope="module")
def trained(small_sessions: pd.DataFrame) -> dict[str, Any]:
    """A pandas training's candidates, out-of-fold rows and validation part,
    with the XGBoost candidate marked as refitted on more rows."""
    _, catalog = train_in_memory(small_sessions, keep=True)
    models = dict(catalog.load("candidate_models"))
    refit = copy.deepcopy(models[REFIT])
    refit.named_steps["model"].fitted_rows_ = 9_000
    return {
        "sample": models,
        "refit": {**models, REFIT: refit},
        "out_of_fold": catalog.load("out_of_fold_predictions"),
        "validation": catalog.load("validation_sessions"),
        "tuning": catalog.load("candidate_tuning"),
    }


@pytest.mark.parametrize("fit", ["sample", "refit"])
def test_calibrators_learn_from_out_of_fold_and_own_validation_rows(
    trained: dict[str, Any], fit: str
) -> None:
    # A refit too: its own validation probabilities alone were measured worse
    # (docs/performance.md, "Training on 10M rows").
    params = modelling_params()
    validation, oof = trained["validation"], trained["out_of_fold"]
    calibrators = calibrate_candidates(trained[fit], oof, validation, params)
    for name, pipeline in trained[fit].items():
        proba = np.concatenate(
            [oof[name].to_numpy(), pipeline_proba(name, pipeline, validation)]
        )
        labels = np.concatenate(
            [oof[LABEL_COLUMN].to_numpy(), validation[LABEL_COLUMN].to_numpy()]
        )
        expected = fit_calibrator(params.calibration.method, proba, labels)
        assert calibrators[name].describe() == expected.describe()


# ---------------------------------------------------------------- the seam
SEAM_NODES = ("fit_feature_transformer", "fit_candidates")


def _catalog(env: str) -> dict[str, Any]:
    loader = OmegaConfigLoader(
        conf_source=str(PROJECT_ROOT / "conf"),
        base_env="base",
        default_run_env=env,
        custom_resolvers=CATALOG_RESOLVERS,
    )
    return loader["catalog"]


def test_the_seam_nodes_read_no_sessions_file_on_the_pandas_path() -> None:
    pipeline = feature_engineering.create_pipeline() + modelling.create_pipeline()
    for node in pipeline.nodes:
        if node.name in SEAM_NODES:
            assert "training_rows" in node.inputs
            assert {"sessions", "validation_sessions", "test_sessions"}.isdisjoint(
                node.inputs
            ), node.name
    base = _catalog("test")["training_rows"]
    assert base["type"].endswith("scale_out.NotPartitioned")
    assert NotPartitioned().load() is None
    dask_entry = _catalog("dask")["training_rows"]
    assert dask_entry["type"].endswith("partitioned.TrainingRowsDataset")
    # The dask entry's files are the base entries' files.
    both = _catalog("dask")
    assert dask_entry["sessions"] == both["sessions"]["folder"]
    assert dask_entry["held_out"] == [
        both["validation_sessions"]["filepath"],
        both["test_sessions"]["filepath"],
    ]


def test_training_rows_are_the_folder_but_the_held_out_ids(tmp_path: Path) -> None:
    folder = tmp_path / "sessions"
    folder.mkdir()
    frame = pd.DataFrame(
        {ID_COLUMN: np.arange(10), LABEL_COLUMN: np.arange(10) % 2, "x": 1.0}
    )
    frame.iloc[:6].to_parquet(folder / "part.0.parquet")
    frame.iloc[6:].to_parquet(folder / "part.1.parquet")
    frame.iloc[[1, 7]].to_parquet(tmp_path / "validation.parquet")
    frame.iloc[[4]].to_parquet(tmp_path / "test.parquet")
    dataset = TrainingRowsDataset(
        sessions=str(folder),
        held_out=[str(tmp_path / "validation.parquet"), str(tmp_path / "test.parquet")],
    )
    rows = dataset.load().compute()
    assert sorted(rows[ID_COLUMN]) == [0, 2, 3, 5, 6, 8, 9]
    with pytest.raises(DatasetError, match="never written"):
        dataset.save(frame)


def test_a_lost_worker_names_the_memory_and_the_way_out() -> None:
    from customer_purchase_prediction.distributed_fits import lost_worker_message

    workers = {"a": {"memory_limit": 2**30}, "b": {"memory_limit": 2**30}}
    text = lost_worker_message(9_827_346, 15, workers)
    assert "9,827,346 training rows" in text
    assert "each of the 2 workers (memory limit 1.00 GiB)" in text
    assert "281 MiB of float32 model matrix" in text  # 9,827,346 x 15 x 4 / 2
    assert "dask.memory_limit" in text
    assert "dask.n_workers" in text
