"""``TableDataset``: crash-safe saves, bad rows through the dataset, the benchmark size.

A save writes a temporary file beside the target and renames it into place: a
failure or ``kill -9`` mid-write leaves the previous file, never a file cut
short or a 0-byte one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow.csv as pa_csv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customer_purchase_prediction import datasets
from customer_purchase_prediction.atomic import stray_temporaries
from customer_purchase_prediction.columns import (
    ID_COLUMN,
    SESSION_COLUMNS,
    TRAINING_COLUMNS,
)
from customer_purchase_prediction.contract import validate_sessions
from customer_purchase_prediction.csv_reading import MAX_ROW_BYTES
from customer_purchase_prediction.datasets import TableDataset, load_unwrapped
from customer_purchase_prediction.errors import OutputPathError
from tests.conftest import run_project
from tests.strategies import any_value

OLD = pd.DataFrame({ID_COLUMN: [1, 2], "note": ["old", "old"]})
NEW = pd.DataFrame({ID_COLUMN: range(1000), "note": ["new"] * 1000})


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_save_that_fails_mid_write_leaves_the_previous_file(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / f"predictions{suffix}"
    dataset = TableDataset(filepath=str(path))
    dataset.save(OLD)
    before = path.read_bytes()

    def half_then_fail(*args: object, **kwargs: object) -> None:
        file = next(a for a in (*args, *kwargs.values()) if hasattr(a, "write"))
        file.write(b"customer_id,note\n0,half")  # type: ignore[attr-defined]
        raise OSError("disk full")

    if suffix == ".csv":
        monkeypatch.setattr(pa_csv, "write_csv", half_then_fail)
    else:
        monkeypatch.setattr(pd.DataFrame, "to_parquet", half_then_fail)
    with pytest.raises(Exception, match="disk full"):
        dataset.save(NEW)
    assert path.read_bytes() == before
    assert stray_temporaries(tmp_path) == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_kill_9_mid_write_leaves_the_previous_file_whole(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"predictions{suffix}"
    TableDataset(filepath=str(path)).save(OLD)
    before = path.read_bytes()
    # The child writes half a file, says so and waits to be killed.
    script = textwrap.dedent(
        f"""
        import sys, time
        import pandas as pd, pyarrow.csv as pa_csv
        from customer_purchase_prediction.datasets import TableDataset

        def stall(*args, **kwargs):
            file = next(a for a in (*args, *kwargs.values()) if hasattr(a, "write"))
            file.write(b"customer_id,note\\n" * 1000)
            file.flush()
            print("writing", flush=True)
            time.sleep(60)

        pa_csv.write_csv = stall
        pd.DataFrame.to_parquet = stall
        TableDataset(filepath={str(path)!r}).save(pd.DataFrame({{"a": [1]}}))
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "writing"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert path.read_bytes() == before
    pd.testing.assert_frame_equal(
        TableDataset(filepath=str(path)).load().astype(str), OLD.astype(str)
    )


def test_a_save_into_a_folder_is_refused_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "out.csv"
    folder.mkdir()
    with pytest.raises(Exception, match="it is a folder") as caught:
        TableDataset(filepath=str(folder)).save(OLD)
    assert isinstance(caught.value.__cause__ or caught.value, OutputPathError)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_nested_passthrough_columns_save_and_leave_no_empty_file(
    tmp_path: Path, suffix: str
) -> None:
    frame = OLD.assign(tags=[["a"], ["b", "c"]], meta=[{"k": 1}, {"k": 2}])
    path = tmp_path / f"predictions{suffix}"
    TableDataset(filepath=str(path)).save(frame)
    assert path.stat().st_size > 0
    loaded = TableDataset(filepath=str(path)).load()
    assert len(loaded) == len(frame)


def test_a_saved_table_reads_back_the_same(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {ID_COLUMN: [1, 2, 3], "p": [0.1, 1 / 3, 2e-17], "band": ["a", None, "c"]}
    )
    path = tmp_path / "predictions.csv"
    TableDataset(filepath=str(path)).save(frame)
    loaded = TableDataset(filepath=str(path)).load()
    assert loaded["p"].astype(float).tolist() == frame["p"].tolist()  # same bits
    assert loaded["band"].isna().tolist() == [False, True, False]


def test_bad_rows_of_a_file_reach_the_rejects_through_the_dataset(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sessions.csv"
    header = ",".join(SESSION_COLUMNS)
    path.write_bytes(
        f"{header}\n1,2.5,3,10.0,Mobile,New\n2,2.5,3\n3,2.5,3,10.0,Mobile,New\n".encode()
    )
    raw = load_unwrapped(TableDataset(filepath=str(path)))
    assert raw.attrs["source"] == str(path)
    result = validate_sessions(raw, labelled=False, source=str(path))
    assert result.rows_in == 3
    assert result.valid[ID_COLUMN].tolist() == [1, 3]
    assert result.rejects["reject_reason"].tolist() == [
        "line 3 has 3 fields but the header has 6; check that line's delimiters "
        "and quotes"
    ]
    assert list(result.rejects.columns[: len(SESSION_COLUMNS)]) == list(SESSION_COLUMNS)
    assert result.rejects[ID_COLUMN].tolist() == ["2"]


def test_an_unreadable_file_is_one_message_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "sessions.csv"
    path.write_bytes(b"\x00" * 10)
    with pytest.raises(datasets.SessionsFileError, match=str(path)):
        load_unwrapped(TableDataset(filepath=str(path)))


def test_a_training_run_rejects_each_unreadable_row_and_counts_it(
    project_dir: Path,
) -> None:
    """The data_processing pipeline on a file with one row of each bad kind."""
    header = ",".join(TRAINING_COLUMNS).encode()
    good = [f"{n},2.5,3,10.0,Mobile,New,{n % 2}".encode() for n in range(1, 41)]
    bad = {
        41: b"41,2.5,3,10.0,Mobile,New,0,extra",
        42: b"42,2.5",
        43: b'43,2.5,3,10.0,"Mobile,New,0',
        44: b"44,2.5,3,10.0,Mob\xefle,New,0",
        45: b"45,2.5,3,10.0,Mobile,New," + b"9" * (2 * MAX_ROW_BYTES),
    }
    path = project_dir / "damaged.csv"
    path.write_bytes(b"\n".join([header, *good, *bad.values()]) + b"\n")
    run_project(
        project_dir, pipeline="data_processing", params={"raw_sessions_path": str(path)}
    )
    report = json.loads(Path("data/08_reporting/data_quality_report.json").read_text())
    rows = report["rows"]
    assert (rows["in"], rows["rejected"]) == (45, 5)
    rejects = pd.read_csv("data/02_intermediate/rejected_sessions.csv", dtype=str)
    assert rejects["source_row"].astype(int).tolist() == [41, 42, 43, 44, 45]
    lines = [reason.split(" ", 2)[1] for reason in rejects["reject_reason"]]
    assert lines == ["42", "43", "44", "45", "46"]
    assert set(report["rejects_by_rule"]) == {
        "row:field_count",
        "row:unterminated_quote",
        "row:not_utf8",
        "row:too_long",
    }


MIXED = pd.DataFrame(
    {
        ID_COLUMN: [2**70, 1, None],
        "price": [Decimal("1.50"), 2.5, None],
        "when": [datetime(2026, 1, 2), "soon", None],
        "empty": [{}, {}, None],
        "tags": [["a"], "b", None],
    }
)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_columns_of_mixed_python_values_are_written_as_their_text(
    tmp_path: Path, suffix: str
) -> None:
    path = tmp_path / f"rejects{suffix}"
    TableDataset(filepath=str(path)).save(MIXED)
    loaded = TableDataset(filepath=str(path)).load()
    assert loaded[ID_COLUMN].tolist()[:2] == [str(2**70), "1"]  # exact, not rounded
    assert loaded["price"].tolist()[:2] == ["1.50", "2.5"]
    assert loaded["when"].tolist()[:2] == ["2026-01-02 00:00:00", "soon"]
    assert loaded["tags"].tolist()[:2] == ['["a"]', "b"]
    assert pd.isna(loaded["price"].iloc[2])


cells = any_value(nan_decimals=False)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries({name: cells for name in ("a", "b", "c")}),
        min_size=1,
        max_size=6,
    )
)
def test_any_frame_is_written_in_both_formats_and_reads_back_every_row(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, object]]
) -> None:
    frame = pd.DataFrame(rows)
    folder = tmp_path_factory.mktemp("any")
    for suffix in (".csv", ".parquet"):
        path = folder / f"out{suffix}"
        TableDataset(filepath=str(path)).save(frame)
        loaded = TableDataset(filepath=str(path)).load()
        assert len(loaded) == len(frame)
        assert "unreadable_rows" not in loaded.attrs
