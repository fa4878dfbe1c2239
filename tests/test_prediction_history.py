"""Past predictions from a file, a folder or a glob; copies and conflicts set aside."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from sklearn.metrics import f1_score, roc_auc_score

from customer_purchase_prediction.atomic_datasets import JSONDataset, TextDataset
from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.datasets import load_unwrapped
from customer_purchase_prediction.drift import MonitoringParams
from customer_purchase_prediction.errors import SessionsFileError
from customer_purchase_prediction.monitoring import (
    collect_predictions,
    join_outcomes,
    realised_report,
)
from customer_purchase_prediction.pipelines.monitoring import pipeline as monitoring
from customer_purchase_prediction.prediction_history import (
    PredictionHistoryDataset,
    prediction_files,
)

RUN_1 = "2026-12-01T10.00.00.000Z"
RUN_2 = "2026-12-02T10.00.00.000Z"


def _run(ids: range, run: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    proba = rng.random(len(ids))
    return pd.DataFrame(
        {
            "customer_id": list(ids),
            "purchase_prediction": (proba >= 0.5).astype(int),
            "purchase_probability": proba,
            "prediction_confidence": "high",
            "run_id": run,
        }
    )


def _history(folder: Path) -> dict[str, pd.DataFrame]:
    """Two scheduled runs' outputs, each under its own name, with summaries."""
    folder.mkdir(parents=True, exist_ok=True)
    runs = {
        "day1": _run(range(1, 101), RUN_1, 1),
        "day2": _run(range(51, 151), RUN_2, 2),
    }
    for index, (name, frame) in enumerate(runs.items(), start=1):
        frame.to_csv(folder / f"{name}.csv", index=False)
        frame.head(5).to_csv(folder / f"{name}_contact_list.csv", index=False)
        frame[["customer_id"]].head(0).to_csv(
            folder / f"{name}_rejected.csv", index=False
        )
        (folder / f"{name}_summary.json").write_text(
            json.dumps(
                {
                    "run_id": frame["run_id"].iloc[0],
                    "model": {"version": f"kedro-v{index}", "registry_version": None},
                }
            )
        )
    return runs


def test_a_folder_reads_each_run_s_predictions_and_skips_the_other_outputs(
    tmp_path: Path,
) -> None:
    runs = _history(tmp_path / "history")
    loaded = PredictionHistoryDataset(predictions=str(tmp_path / "history")).load()
    assert len(loaded) == sum(len(f) for f in runs.values())
    assert sorted({Path(f).name for f in loaded["source_file"]}) == [
        "day1.csv",
        "day2.csv",
    ]
    skipped = {Path(s["file"]).name for s in loaded.attrs["skipped"]}
    assert skipped == {
        "day1_contact_list.csv",
        "day1_rejected.csv",
        "day2_contact_list.csv",
        "day2_rejected.csv",
    }
    by_run = loaded.groupby("run_id")["model_version"].first().to_dict()
    assert by_run == {RUN_1: "kedro-v1", RUN_2: "kedro-v2"}
    assert loaded["source_row"].tolist()[:3] == [1, 2, 3]


def test_a_glob_and_a_single_file_are_read_too(tmp_path: Path) -> None:
    _history(tmp_path / "history")
    files, _ = prediction_files(str(tmp_path / "history" / "day*.csv"))
    assert [Path(f).name for f in files] == ["day1.csv", "day2.csv"]
    one = PredictionHistoryDataset(
        predictions=str(tmp_path / "history" / "day2.csv")
    ).load()
    assert set(one["run_id"]) == {RUN_2}


def test_a_path_without_predictions_stops_with_one_message(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    pd.DataFrame({"customer_id": [1]}).to_csv(tmp_path / "empty/x.csv", index=False)
    with pytest.raises(SessionsFileError, match=r"holds no predictions file.*x\.csv"):
        load_unwrapped(PredictionHistoryDataset(predictions=str(tmp_path / "empty")))


def test_a_run_read_twice_is_counted_once_and_the_copy_set_aside(
    tmp_path: Path,
) -> None:
    runs = _history(tmp_path / "history")
    # the run's default predictions file, copied into the history as well
    runs["day2"].to_csv(tmp_path / "history" / "latest.csv", index=False)
    loaded = PredictionHistoryDataset(predictions=str(tmp_path / "history")).load()
    counted, aside = collect_predictions(loaded)
    assert len(counted) == 200
    assert len(counted) + len(aside) == len(loaded)
    assert not counted.duplicated(["run_id", "customer_id"]).any()
    assert set(aside["reject_rule"]) == {"predictions:copy"}
    assert aside["reject_reason"].str.contains("counted once").all()
    assert aside["reject_reason"].str.contains("day2.csv").all()
    outcomes = pd.DataFrame(
        {"customer_id": runs["day2"]["customer_id"], "purchase": 1, "run_id": RUN_2}
    )
    joined, rejects = join_outcomes(counted, outcomes)
    assert len(joined) == 100
    assert rejects.empty
    report = realised_report(
        counted, joined, rejects, BusinessParams(), calibration_bins=5, set_aside=aside
    )
    assert report["predictions"] == {
        "in": 300,
        "counted": 200,
        "set_aside": 100,
        "set_aside_by_rule": {"predictions:copy": 100},
        "files": sorted(set(counted["source_file"])),
    }
    assert [m["model_version"] for m in report["models"]] == ["kedro-v1", "kedro-v2"]
    assert [r["model"]["model_version"] for r in report["runs"]] == [
        "kedro-v1",
        "kedro-v2",
    ]


def test_two_different_predictions_of_one_customer_in_one_run_are_not_counted() -> None:
    first = _run(range(1, 11), RUN_1, 1).assign(source_file="a.csv")
    second = first.assign(
        purchase_probability=first["purchase_probability"] / 2, source_file="b.csv"
    ).iloc[:3]
    counted, aside = collect_predictions(pd.concat([first, second]))
    assert sorted(counted["customer_id"]) == list(range(4, 11))
    assert len(aside) == 6
    assert set(aside["reject_rule"]) == {"predictions:conflicting"}
    assert aside["reject_reason"].str.contains("remove the file").all()


def test_a_row_that_is_not_a_prediction_is_set_aside_with_its_file_and_row() -> None:
    frame = _run(range(1, 4), RUN_1, 1).astype(str)
    frame.loc[1, "purchase_probability"] = "n/a"
    counted, aside = collect_predictions(frame)
    assert len(counted) == 2
    assert aside["reject_rule"].tolist() == ["predictions:not_a_prediction"]
    assert "row 2" in aside["reject_reason"].iloc[0]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 8), st.sampled_from([RUN_1, RUN_2]), st.integers(0, 2)
        ),
        min_size=1,
        max_size=40,
    )
)
def test_rows_in_equal_counted_plus_set_aside_and_no_key_counts_twice(
    rows: list[tuple[int, str, int]],
) -> None:
    frame = pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "run_id": [r[1] for r in rows],
            "purchase_probability": [r[2] / 4 for r in rows],
            "purchase_prediction": [int(r[2] >= 2) for r in rows],
        }
    )
    counted, aside = collect_predictions(frame)
    assert len(counted) + len(aside) == len(frame)
    assert not counted.duplicated(["run_id", "customer_id"]).any()
    distinct = frame.groupby(["run_id", "customer_id"])["purchase_probability"]
    agreeing = int((distinct.nunique() == 1).sum())
    assert len(counted) == agreeing


def test_the_pipeline_over_a_history_folder_measures_each_run_once(
    tmp_path: Path,
) -> None:
    runs = _history(tmp_path / "history")
    runs["day1"].to_csv(tmp_path / "history" / "copy_of_day1.csv", index=False)
    rng = np.random.default_rng(4)
    outcomes = pd.concat(
        [
            pd.DataFrame(
                {
                    "customer_id": frame["customer_id"],
                    "purchase": (rng.random(len(frame)) < 0.4).astype(int),
                    "run_id": frame["run_id"],
                }
            )
            for frame in runs.values()
        ],
        ignore_index=True,
    )
    catalog = DataCatalog(
        {
            "monitored_predictions": PredictionHistoryDataset(
                predictions=str(tmp_path / "history")
            ),
            "outcomes": MemoryDataset(outcomes.astype(str)),
            "params:business": MemoryDataset(BusinessParams()),
            "params:monitoring": MemoryDataset(MonitoringParams()),
            "realised_performance": JSONDataset(filepath=str(tmp_path / "r.json")),
            "monitoring_html": TextDataset(filepath=str(tmp_path / "m.html")),
        }
    )
    SequentialRunner().run(monitoring.create_pipeline(), catalog)
    report = catalog.load("realised_performance")
    both = pd.concat(runs.values(), ignore_index=True)
    y = outcomes["purchase"].to_numpy()
    assert report["overall"]["matched"] == 200
    assert report["overall"]["roc_auc"] == pytest.approx(
        roc_auc_score(y, both["purchase_probability"])
    )
    assert report["overall"]["f1"] == pytest.approx(
        f1_score(y, both["purchase_prediction"])
    )
    assert [r["run_id"] for r in report["runs"]] == [RUN_1, RUN_2]
    assert report["predictions"]["set_aside_by_rule"] == {"predictions:copy": 100}
    assert report["outcomes"]["rejected"] == 0


def test_a_rejects_file_with_prediction_columns_is_not_read_as_predictions(
    tmp_path: Path,
) -> None:
    runs = _history(tmp_path / "history")
    _, aside = collect_predictions(pd.concat([runs["day1"], runs["day1"]]))
    aside.to_csv(tmp_path / "history" / "rejected_predictions.csv", index=False)
    loaded = PredictionHistoryDataset(predictions=str(tmp_path / "history")).load()
    assert len(loaded) == 200
    assert {
        "file": str(tmp_path / "history" / "rejected_predictions.csv"),
        "reason": "a rejects file (reject_reason)",
    } in loaded.attrs["skipped"]
