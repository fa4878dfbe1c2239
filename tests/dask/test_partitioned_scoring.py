"""Partitioned scoring on a real cluster in miniature: the pandas path's bits.

The same rows, read as three partitions and scored on two worker processes
(or two threads), give the pandas path's valid rows, rejects (ids repeated
across partitions included) and probabilities, bit for bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask
import numpy as np
import pandas as pd
import pytest

from customer_purchase_prediction.columns import ID_COLUMN
from customer_purchase_prediction.contract import validate_sessions
from customer_purchase_prediction.partitioned import (
    SOURCE_FILE,
    partition_files,
    read_partition,
    read_sessions,
    score_sessions,
    validate_partitions,
)
from customer_purchase_prediction.pipelines.inference.nodes import (
    score_sessions as score_node,
)

CLUSTERS = ["process_cluster", "thread_cluster"]


def pandas_path(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The pandas contract on all partitions as one frame; rejects keyed by file."""
    files = partition_files(str(folder))
    parts = [read_partition(name) for name in files]
    result = validate_sessions(
        pd.concat(parts, ignore_index=True), labelled=False, source="all"
    )
    starts = np.cumsum([0] + [len(part) for part in parts])
    position = result.rejects["source_row"].to_numpy() - 1
    part = np.searchsorted(starts, position, side="right") - 1
    rejects = result.rejects.assign(
        **{
            SOURCE_FILE: np.asarray(files)[part],
            "source_row": position - starts[part] + 1,
        }
    )
    return result.valid, rejects, files


def reject_keys(rejects: pd.DataFrame) -> set[tuple[Any, ...]]:
    columns = [SOURCE_FILE, "source_row", "reject_rule", "reject_reason"]
    return set(rejects[columns].astype(str).itertuples(index=False, name=None))


def by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(ID_COLUMN, kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_partitioned_scoring_matches_the_pandas_path_bit_for_bit(
    cluster: str,
    partition_folder: Path,
    trained_model: Any,
    request: pytest.FixtureRequest,
) -> None:
    client = request.getfixturevalue(cluster)
    valid_pd, rejects_pd, _ = pandas_path(partition_folder)
    with client.as_current():
        raw = read_sessions(str(partition_folder))
        valid, rejects, rows_in = validate_partitions(
            raw, labelled=False, source=str(partition_folder)
        )
        scored = score_sessions(score_node, valid, trained_model)
        valid_dd, rejects_dd, scored_dd = dask.compute(valid, rejects, scored)

    assert raw.npartitions == 3
    # Conservation: every row is scored or rejected, none twice.
    assert rows_in == 3 * 400 == len(scored_dd) + len(rejects_dd)
    assert len(valid_dd) == len(valid_pd) and len(rejects_dd) == len(rejects_pd)
    # Ids repeated across partitions are rejected as within one file.
    duplicated = rejects_dd[rejects_dd["reject_rule"].str.contains("duplicated")]
    assert duplicated[SOURCE_FILE].nunique() == 3
    assert "(3 rows in the input)" in " ".join(duplicated["reject_reason"])
    assert reject_keys(rejects_dd) == reject_keys(rejects_pd)
    # The contract's typed rows, and the model's bits.
    pd.testing.assert_frame_equal(by_id(valid_dd), by_id(valid_pd))
    expected = by_id(trained_model.score(valid_pd))
    got = by_id(scored_dd)
    assert got[ID_COLUMN].tolist() == expected[ID_COLUMN].tolist()
    assert np.array_equal(
        got["purchase_probability"].to_numpy().view(np.int64),
        expected["purchase_probability"].to_numpy().view(np.int64),
    )
    pd.testing.assert_frame_equal(got, expected)
