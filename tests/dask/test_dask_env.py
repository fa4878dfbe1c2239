"""``kedro run --env=dask --pipelines=inference`` gives the pandas path's results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from customer_purchase_prediction.columns import ID_COLUMN
from customer_purchase_prediction.synthetic import write_frame
from tests.conftest import run_project
from tests.dask.conftest import partition_frames

OUT = Path("data/07_model_output")
THREADS = {"processes": False, "n_workers": 2, "dashboard_address": None}


def _summary(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.slow
def test_a_partitioned_run_matches_the_pandas_run_on_the_same_rows(
    trained_copy: Path,
) -> None:
    frames = partition_frames()
    for part, frame in enumerate(frames):
        write_frame(frame, trained_copy / f"data/01_raw/parts/part-{part}.csv")
    write_frame(
        pd.concat(frames, ignore_index=True), trained_copy / "data/01_raw/all.csv"
    )
    run_project(
        trained_copy,
        pipeline="inference",
        params={
            "inference_input_path": "data/01_raw/all.csv",
            "inference_output_path": str(OUT / "pandas.parquet"),
            # The dask environment's default cut of the contact list.
            "targeting": {"max_contacts": 100_000},
        },
    )
    run_project(
        trained_copy,
        pipeline="inference",
        env="dask",
        params={
            "inference_input_path": "data/01_raw/parts",
            "inference_output_path": str(OUT / "dask"),
            "dask": THREADS,
        },
    )
    out = trained_copy / OUT
    # Data passed between nodes went with the run.
    intermediate = trained_copy / "data/02_intermediate/dask"
    assert not [p for p in intermediate.glob("*/*") if p.is_dir()]
    pandas_summary = _summary(out / "pandas_summary.json")
    dask_summary = _summary(out / "dask_summary.json")
    assert dask_summary["rows"] == pandas_summary["rows"]
    rows = dask_summary["rows"]
    assert rows["in"] == 1200 == rows["scored"] + rows["rejected"]
    for key in ("rejects_by_rule", "predicted_buyers", "confidence", "contact_list"):
        assert dask_summary[key] == pandas_summary[key], key
    assert dask_summary["probability"]["mean"] == pandas_summary["probability"]["mean"]
    for key, value in pandas_summary["probability"].items():
        assert dask_summary["probability"][key] == pytest.approx(value, abs=0.05)
    assert dask_summary["drift"]["status"] == pandas_summary["drift"]["status"]

    expected = pd.read_parquet(out / "pandas.parquet").sort_values(ID_COLUMN)
    got = pd.read_parquet(out / "dask").sort_values(ID_COLUMN)
    assert got[ID_COLUMN].tolist() == expected[ID_COLUMN].tolist()
    assert np.array_equal(
        got["purchase_probability"].to_numpy().view(np.int64),
        expected["purchase_probability"].to_numpy().view(np.int64),
    )
    assert set(got["run_id"]) == {dask_summary["run_id"]}

    rejected = pd.read_parquet(out / "dask_rejected")
    assert len(rejected) == rows["rejected"]
    assert sorted(rejected["reject_reason"]) == sorted(
        pd.read_parquet(out / "pandas_rejected.parquet")["reject_reason"]
    )
    contacts = pd.read_parquet(out / "dask_contact_list")
    pd.testing.assert_frame_equal(
        contacts.drop(columns="run_id", errors="ignore").reset_index(drop=True),
        pd.read_parquet(out / "pandas_contact_list.parquet")
        .drop(columns="run_id", errors="ignore")
        .reset_index(drop=True),
        check_dtype=False,
    )
