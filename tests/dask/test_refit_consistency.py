"""A model refitted on every training row is calibrated and thresholded on its
own probabilities; the pandas path reads no partition and no held-out file
for the scale-out seam."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DatasetError

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.calibration import fit_calibrator
from customer_purchase_prediction.columns import ID_COLUMN, LABEL_COLUMN
from customer_purchase_prediction.distributed_fits import out_of_fold_rows
from customer_purchase_prediction.evaluation import tune_threshold
from customer_purchase_prediction.model import pipeline_proba
from customer_purchase_prediction.output_paths import CATALOG_RESOLVERS
from customer_purchase_prediction.partitioned import TrainingRowsDataset
from customer_purchase_prediction.pipelines import feature_engineering, modelling
from customer_purchase_prediction.pipelines.modelling.nodes import (
    calibrate_candidates,
    fitted_on,
    select_model,
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


def test_a_refit_has_no_out_of_fold_rows(trained: dict[str, Any]) -> None:
    oof = trained["out_of_fold"]
    sample = trained["sample"][REFIT].named_steps["model"]
    refit = trained["refit"][REFIT].named_steps["model"]
    proba, labels = out_of_fold_rows(REFIT, sample, oof)
    np.testing.assert_array_equal(proba, oof[REFIT].to_numpy())
    np.testing.assert_array_equal(labels, oof[LABEL_COLUMN].to_numpy())
    assert [len(a) for a in out_of_fold_rows(REFIT, refit, oof)] == [0, 0]


def test_the_refit_is_calibrated_and_thresholded_on_its_validation_rows(
    trained: dict[str, Any],
) -> None:
    params = modelling_params()
    validation, oof = trained["validation"], trained["out_of_fold"]
    # Out-of-fold probabilities that would move any calibrator fitted on them.
    skewed = oof.assign(**{name: 0.999 for name in trained["refit"]})
    calibrators = calibrate_candidates(trained["refit"], skewed, validation, params)
    refit = trained["refit"][REFIT]
    raw = pipeline_proba(REFIT, refit, validation)
    alone = fit_calibrator(
        params.calibration.method, raw, validation[LABEL_COLUMN].to_numpy()
    )
    assert calibrators[REFIT].describe() == alone.describe()
    # A candidate fitted on the sample still learns from the out-of-fold rows.
    for name in set(calibrators) - {REFIT}:
        assert calibrators[name].describe() != (
            calibrate_candidates(trained["sample"], oof, validation, params)[
                name
            ].describe()
        )
    business = BusinessParams()
    assert params.threshold.tune_on == "out_of_fold_and_validation"
    selection = select_model(
        trained["refit"],
        calibrators,
        skewed,
        validation,
        trained["tuning"],
        params,
        business,
    )
    expected, _ = tune_threshold(
        validation[LABEL_COLUMN].to_numpy(),
        alone.transform(raw),
        params.selection_metric,
        params.threshold,
        business,
    )
    assert selection.thresholds[REFIT] == expected


def test_the_pandas_path_calibrates_as_before(trained: dict[str, Any]) -> None:
    params = modelling_params()
    validation, oof = trained["validation"], trained["out_of_fold"]
    calibrators = calibrate_candidates(trained["sample"], oof, validation, params)
    for name, pipeline in trained["sample"].items():
        proba = np.concatenate(
            [oof[name].to_numpy(), pipeline_proba(name, pipeline, validation)]
        )
        labels = np.concatenate(
            [oof[LABEL_COLUMN].to_numpy(), validation[LABEL_COLUMN].to_numpy()]
        )
        expected = fit_calibrator(params.calibration.method, proba, labels)
        assert calibrators[name].describe() == expected.describe()


def test_the_card_metadata_says_the_refit_threshold_rows(
    trained: dict[str, Any],
) -> None:
    refit = copy.deepcopy(trained["refit"][REFIT])
    refit.named_steps["features"].statistics_rows_ = 9_000
    assert fitted_on(refit, 420)["threshold_tuned_on"] == "validation"
    sample = copy.deepcopy(trained["sample"][REFIT])
    sample.named_steps["features"].statistics_rows_ = 9_000
    assert "threshold_tuned_on" not in fitted_on(sample, 420)


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
