"""Training data in partitions: the pandas contract, report and sample."""

from __future__ import annotations

import json
import re
from pathlib import Path

import dask
import dask.dataframe as dd
import pandas as pd
import pytest

from customer_purchase_prediction.columns import ID_COLUMN, LABEL_COLUMN
from customer_purchase_prediction.params import DataProcessingParams, ModellingParams
from customer_purchase_prediction.partitioned import training_sample_rows
from customer_purchase_prediction.pipelines.data_processing.nodes import (
    build_data_quality_report,
    validate_training_sessions,
)
from customer_purchase_prediction.pipelines.feature_engineering.nodes import (
    check_training_data,
)
from customer_purchase_prediction.synthetic import generate_sessions, write_frame
from tests.conftest import run_project
from tests.dask.conftest import partition_frames

DUPLICATED = f"{ID_COLUMN}:duplicated"
THREADS = {"processes": False, "n_workers": 2, "dashboard_address": None}


def _parts(frames: list[pd.DataFrame]) -> dd.DataFrame:
    return dd.from_map(lambda i: frames[i], range(len(frames)))


def _reports() -> tuple[dict, dict, pd.DataFrame]:
    frames = partition_frames(labelled=True)
    params = DataProcessingParams()
    whole = pd.concat(frames, ignore_index=True)
    whole.attrs["source"] = "x"
    valid, rejects, summary = validate_training_sessions(whole)
    expected = build_data_quality_report(valid, rejects, summary, params)
    with dask.config.set(scheduler="synchronous"):
        raw = _parts(frames)
        d_valid, d_rejects, d_summary = validate_training_sessions(raw)
        d_summary["source"] = "x"
        got = build_data_quality_report(d_valid, d_rejects, d_summary, params)
        rejected = d_rejects.compute()
    return expected, got, rejected


def test_the_report_over_partitions_is_the_report_over_their_concatenation() -> None:
    expected, got, rejected = _reports()
    assert got["rows"] == expected["rows"]
    assert got["rows"]["in"] == got["rows"]["kept"] + got["rows"]["rejected"]
    for key in (
        "rejects_by_rule",
        "rejects_by_column",
        "missing_values",
        "purchase_rate",
    ):
        assert got[key] == expected[key], key
    assert got["purchase_rate_by"] == expected["purchase_rate_by"]
    assert set(got["outliers"]["columns"]) == set(expected["outliers"]["columns"])
    # The fences come from approximate quartiles: near the exact ones,
    # relative to the width between them.
    for name, column in expected["outliers"]["columns"].items():
        width = column["upper_fence"] - column["lower_fence"]
        for fence in ("lower_fence", "upper_fence"):
            assert got["outliers"]["columns"][name][fence] == pytest.approx(
                column[fence], abs=0.1 * width
            ), (name, fence)
    assert "approximate" in got["outliers"]
    # Ids repeated across partitions are rejected as within one file.
    reasons = rejected["reject_reason"].str.contains("duplicated")
    assert reasons.sum() == expected["rejects_by_rule"][DUPLICATED]
    assert expected["rejects_by_rule"][DUPLICATED] >= 3


def _labelled(rows: int, parts: int) -> list[pd.DataFrame]:
    from customer_purchase_prediction.contract import validate_sessions

    frames = []
    for part in range(parts):
        raw, _ = generate_sessions(
            rows, part, messy_fraction=0.0, id_start=100_000 * (part + 1)
        )
        frames.append(validate_sessions(raw, labelled=True).valid)
    return frames


def test_modelling_trains_on_a_bounded_sample_stratified_by_the_label() -> None:
    frames = _labelled(4000, 3)
    params = ModellingParams.model_validate({"search": {"max_rows": 1400}})
    wanted = training_sample_rows(params)
    assert wanted == 2000
    whole = pd.concat(frames, ignore_index=True)
    with dask.config.set(scheduler="synchronous"):
        sample = check_training_data(_parts(frames), {}, params)
        again = check_training_data(_parts(frames), {}, params)
    assert isinstance(sample, pd.DataFrame)
    assert abs(len(sample) - wanted) <= 2 * len(frames)
    assert sample[ID_COLUMN].is_unique
    assert set(sample[ID_COLUMN]) <= set(whole[ID_COLUMN])
    assert sample[LABEL_COLUMN].mean() == pytest.approx(
        whole[LABEL_COLUMN].mean(), abs=0.01
    )
    pd.testing.assert_frame_equal(sample, again)


def test_fewer_rows_than_the_bound_are_all_used() -> None:
    frames = _labelled(300, 2)
    params = ModellingParams.model_validate({"search": {"max_rows": 30_000}})
    with dask.config.set(scheduler="synchronous"):
        sample = check_training_data(_parts(frames), {}, params)
    assert len(sample) == 600


@pytest.mark.slow
def test_kedro_run_validates_a_partitioned_training_folder(trained_copy: Path) -> None:
    frames = partition_frames(labelled=True)
    for part, frame in enumerate(frames):
        suffix = "parquet" if part == 1 else "csv"
        write_frame(
            frame, trained_copy / f"data/01_raw/train_parts/part-{part}.{suffix}"
        )
    run_project(
        trained_copy,
        pipeline="data_processing",
        env="dask",
        params={"raw_sessions_path": "data/01_raw/train_parts", "dask": THREADS},
    )
    report = json.loads(
        (trained_copy / "data/08_reporting/data_quality_report.json").read_text()
    )
    kept = pd.read_parquet(trained_copy / "data/03_primary/sessions")
    rejected = pd.read_parquet(trained_copy / "data/02_intermediate/rejected_sessions")
    rows = report["rows"]
    assert rows["in"] == sum(map(len, frames)) == len(kept) + len(rejected)
    assert (rows["kept"], rows["rejected"]) == (len(kept), len(rejected))
    assert kept[ID_COLUMN].is_unique
    assert report["rejects_by_rule"][DUPLICATED] >= 3


# conf/test's small modelling settings (the dask environment does not read
# conf/test), with a bound below the folder's rows so that the sample is drawn.
SMALL_MODELLING = {
    "cv_folds": 3,
    "n_jobs": 1,
    "search": {"n_candidates": 2, "max_rows": 700},
    "candidates": {
        "random_forest": {
            "defaults": {
                "n_estimators": 30,
                "min_samples_leaf": 3,
                "max_features": "sqrt",
            }
        },
        "xgboost": {
            "defaults": {"n_estimators": 30, "max_depth": 3},
            "space": {"n_estimators": [30], "max_depth": [2, 3]},
        },
    },
}


@pytest.mark.slow
def test_kedro_run_trains_end_to_end_on_a_partitioned_folder(
    trained_copy: Path,
) -> None:
    frames = [
        generate_sessions(1500, part, id_start=100_000 * (part + 1))[0]
        for part in range(2)
    ]
    for part, frame in enumerate(frames):
        write_frame(frame, trained_copy / f"data/01_raw/train_parts/part-{part}.csv")
    run_project(
        trained_copy,
        env="dask",
        params={
            "raw_sessions_path": "data/01_raw/train_parts",
            "dask": THREADS,
            "modelling": SMALL_MODELLING,
        },
    )
    report = json.loads(
        (trained_copy / "data/08_reporting/data_quality_report.json").read_text()
    )
    metrics = json.loads(
        (trained_copy / "data/08_reporting/model_metrics.json").read_text()
    )
    assert report["rows"]["in"] == 3000
    assert metrics["selected_model"]
    # The model was fitted on the sample (a train part of search.max_rows
    # rows), and the card says so beside the count of every validated row.
    card = (trained_copy / "data/08_reporting/model_card.md").read_text()
    kept = report["rows"]["kept"]
    assert kept > 2900
    assert f"3000 in, {kept} kept" in card
    # Each class's share of each partition is rounded down, so the train part
    # is search.max_rows (700) or a few rows fewer, never more.
    training = re.search(r"\*\*Training part:\*\* (\d+) rows", card)
    assert training is not None, card
    assert 690 <= int(training.group(1)) <= 700
