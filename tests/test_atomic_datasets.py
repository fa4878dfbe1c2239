"""kedro-datasets' classes, saved crash-safe: same files, previous one kept on failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import pytest
from kedro.io import Version
from kedro_datasets.json import JSONDataset as KedroJSONDataset
from kedro_datasets.pandas import CSVDataset as KedroCSVDataset
from matplotlib.figure import Figure

from customer_purchase_prediction import atomic_datasets
from customer_purchase_prediction.atomic import stray_temporaries

TABLE = pd.DataFrame({"candidate": ["first", "second"], "f1": [0.7, 0.69]})


@pytest.mark.parametrize(
    ("kind", "name", "data"),
    [
        (atomic_datasets.JSONDataset, "x.json", {"f1": 0.7}),
        (atomic_datasets.TextDataset, "x.md", "# Model card\n\nné"),
        (atomic_datasets.CSVDataset, "x.csv", TABLE),
        (atomic_datasets.ParquetDataset, "x.parquet", TABLE),
        (atomic_datasets.PlotlyJSONDataset, "x.plotly.json", go.Figure()),
    ],
)
def test_each_dataset_round_trips(
    tmp_path: Path, kind: type, name: str, data: Any
) -> None:
    dataset = kind(filepath=str(tmp_path / name))
    dataset.save(data)
    loaded = dataset.load()
    if isinstance(data, pd.DataFrame):
        pd.testing.assert_frame_equal(loaded, data)
    elif not isinstance(data, go.Figure):
        assert loaded == data
    assert stray_temporaries(tmp_path) == []


def test_the_files_are_those_kedro_datasets_writes(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    atomic_datasets.CSVDataset(filepath=str(ours / "t.csv")).save(TABLE)
    KedroCSVDataset(filepath=str(theirs / "t.csv")).save(TABLE)
    atomic_datasets.JSONDataset(filepath=str(ours / "t.json")).save({"a": [1]})
    KedroJSONDataset(filepath=str(theirs / "t.json")).save({"a": [1]})
    for name in ("t.csv", "t.json"):
        assert (ours / name).read_bytes() == (theirs / name).read_bytes()


def test_a_figure_is_written_as_an_image(tmp_path: Path) -> None:
    figure = Figure()
    figure.add_subplot().plot([0, 1], [1, 0])
    target = tmp_path / "plot.png"
    atomic_datasets.MatplotlibDataset(filepath=str(target)).save(figure)
    assert target.read_bytes().startswith(b"\x89PNG")


def test_a_failed_save_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    dataset = atomic_datasets.JSONDataset(filepath=str(target))
    dataset.save({"f1": 0.7})
    before = target.read_bytes()
    with pytest.raises(Exception, match="not JSON serializable"):
        dataset.save({"f1": object()})
    assert target.read_bytes() == before
    assert stray_temporaries(tmp_path) == []


def test_versioned_saves_go_to_their_version_folder(tmp_path: Path) -> None:
    version = "2026-01-01T00.00.00.000Z"
    dataset = atomic_datasets.JSONDataset(
        filepath=str(tmp_path / "tuning.json"), version=Version(None, version)
    )
    dataset.save({"trials": 8})
    assert (tmp_path / "tuning.json" / version / "tuning.json").is_file()
    assert dataset.load() == {"trials": 8}


def test_discard_removes_the_file(tmp_path: Path) -> None:
    dataset = atomic_datasets.JSONDataset(filepath=str(tmp_path / "summary.json"))
    dataset.save({"rows": 1})
    dataset.discard()
    dataset.discard()  # nothing there: nothing to do
    assert not (tmp_path / "summary.json").exists()
