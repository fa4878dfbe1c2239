"""The benchmark's generator writes partition by partition, with distinct ids."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pandas as pd
import psutil

from customer_purchase_prediction.columns import ID_COLUMN
from customer_purchase_prediction.dask_benchmark import peak_tree_rss, write_partitions


def test_partitions_are_written_one_by_one_with_their_own_id_ranges(
    tmp_path: Path,
) -> None:
    files = write_partitions(tmp_path, 2_500, partition_rows=1_000)
    assert [f.name for f in files] == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    parts = [pd.read_parquet(f) for f in files]
    assert [len(p) for p in parts] == [1_000, 1_000, 500]
    ids = [set(pd.to_numeric(p[ID_COLUMN], errors="coerce").dropna()) for p in parts]
    assert not ids[0] & ids[1] and not ids[1] & ids[2]


def test_the_peak_memory_covers_the_process() -> None:
    stop = threading.Event()
    peak = peak_tree_rss(psutil.Process(), stop)
    time.sleep(0.5)
    stop.set()
    assert peak[0] >= psutil.Process().memory_info().rss // 2


def test_training_partitions_carry_the_label(tmp_path: Path) -> None:
    from customer_purchase_prediction.columns import LABEL_COLUMN

    files = write_partitions(tmp_path, 1_500, partition_rows=1_000, labelled=True)
    parts = [pd.read_parquet(f) for f in files]
    assert [len(p) for p in parts] == [1_000, 500]
    assert all(LABEL_COLUMN in p.columns for p in parts)
    assert LABEL_COLUMN not in pd.read_parquet(write_partitions(tmp_path / "u", 10)[0])


def test_node_seconds_are_the_gaps_between_completed_lines() -> None:
    from customer_purchase_prediction.dask_benchmark import node_seconds, phase_seconds

    lines = [
        (1.0, "INFO Dask: local cluster tcp://127.0.0.1:1"),
        (
            10.0,
            "[12/02/26] INFO     Completed node: validate_training_sessions  x.py:1",
        ),
        (12.5, "INFO Completed 1 out of 3 tasks"),
        (40.0, "INFO     Completed node: tune_candidates"),
        (41.0, "INFO     Completed node: write_model_card"),
    ]
    nodes = node_seconds(lines)
    assert nodes == {
        "validate_training_sessions": 10.0,
        "tune_candidates": 30.0,
        "write_model_card": 1.0,
    }
    phases = phase_seconds(nodes)
    assert phases["validation"] == 10.0
    assert phases["search"] == 30.0
    assert phases["reporting"] == 1.0
    assert phases["refit"] == 0.0
    assert sum(phases.values()) == sum(nodes.values())


def test_a_failed_run_says_how_it_ended() -> None:
    from customer_purchase_prediction.dask_benchmark import exit_status

    assert exit_status(1) == "exit 1"
    assert exit_status(-9) == "killed by SIGKILL"
    assert exit_status(-6) == "killed by SIGABRT"
