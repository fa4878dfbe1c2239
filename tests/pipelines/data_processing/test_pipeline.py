"""The data_processing pipeline: a runner slice on a catalog, and a full Kedro run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from customer_purchase_prediction.contract import TrainingSessionsSchema
from customer_purchase_prediction.errors import SessionsFileError
from customer_purchase_prediction.params import DataProcessingParams
from customer_purchase_prediction.pipelines.data_processing import create_pipeline
from tests.conftest import run_project, write_csv

MESSY_ROWS = [
    {
        "customer_id": 1,
        "time_spent": 3.2,
        "pages_viewed": 4,
        "basket_value": 0,
        "device_type": " mobile",
        "customer_type": "New",
        "purchase": 0,
    },
    {
        "customer_id": 2,
        "time_spent": -1,
        "pages_viewed": 4,
        "basket_value": 9,
        "device_type": "Desktop",
        "customer_type": "New",
        "purchase": 1,
    },
    {
        "customer_id": 3,
        "time_spent": "abc",
        "pages_viewed": 2,
        "basket_value": 0,
        "device_type": "Tablet",
        "customer_type": "Returning",
        "purchase": 0,
    },
    {
        "customer_id": 4,
        "time_spent": None,
        "pages_viewed": None,
        "basket_value": None,
        "device_type": None,
        "customer_type": None,
        "purchase": 1,
    },
    {
        "customer_id": 4,
        "time_spent": 1,
        "pages_viewed": 1,
        "basket_value": 1,
        "device_type": "Mobile",
        "customer_type": "New",
        "purchase": "yes",
    },
]


def test_runner_slice_on_a_memory_catalog() -> None:
    raw = pd.DataFrame(MESSY_ROWS).astype(str).replace("None", None)
    catalog = DataCatalog(
        {
            "raw_sessions": MemoryDataset(raw),
            "params:data_processing": MemoryDataset(DataProcessingParams()),
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    report = catalog.load("data_quality_report")
    assert report["rows"] == {"in": 5, "kept": 1, "rejected": 4}
    assert report["rejects_by_rule"]["customer_id:duplicated"] == 2


@pytest.mark.slow
def test_kedro_run_writes_sessions_rejects_and_report(project_dir: Path) -> None:
    messy = write_csv(project_dir / "messy.csv", MESSY_ROWS)
    run_project(
        project_dir,
        pipeline="data_processing",
        params={"raw_sessions_path": str(messy)},
    )

    sessions = pd.read_parquet("data/03_primary/sessions.parquet")
    TrainingSessionsSchema.validate(sessions)
    rejects = pd.read_csv("data/02_intermediate/rejected_sessions.csv", dtype=str)
    report = json.loads(Path("data/08_reporting/data_quality_report.json").read_text())

    assert len(sessions) + len(rejects) == len(MESSY_ROWS)
    assert report["source"] == str(messy)
    assert report["rows"] == {"in": 5, "kept": 1, "rejected": 4}
    assert rejects["reject_reason"].tolist() == [
        "time_spent must be >= 0; got -1",
        "time_spent must be a number; got 'abc'",
        "customer_id 4 is duplicated (2 rows in the input)",
        "customer_id 4 is duplicated (2 rows in the input); purchase must be 0 or 1; got 'yes'",
    ]


@pytest.mark.slow
def test_kedro_run_on_the_embedded_data_loses_no_row(project_dir: Path) -> None:
    run_project(project_dir, pipeline="data_processing")
    raw = pd.read_csv("data/01_raw/customer_sessions.csv", dtype=str)
    sessions = pd.read_parquet("data/03_primary/sessions.parquet")
    rejects = pd.read_csv("data/02_intermediate/rejected_sessions.csv", dtype=str)
    assert len(sessions) + len(rejects) == len(raw) == 1000
    assert set(sessions["customer_id"]).isdisjoint(
        set(rejects["customer_id"].astype(float))
    )


@pytest.mark.slow
def test_kedro_run_stops_on_a_file_without_the_label(project_dir: Path) -> None:
    unlabelled = write_csv(
        project_dir / "unlabelled.csv",
        [{k: v for k, v in MESSY_ROWS[0].items() if k != "purchase"}],
    )
    with pytest.raises(Exception) as caught:  # kedro wraps node errors
        run_project(
            project_dir,
            pipeline="data_processing",
            params={"raw_sessions_path": str(unlabelled)},
        )
    error = caught.value
    while not isinstance(error, SessionsFileError) and error.__cause__ is not None:
        error = error.__cause__
    assert isinstance(error, SessionsFileError)
    assert f"column 'purchase' is missing from {unlabelled}" in str(error)
