"""Dask clusters in miniature (loopback, no dashboard), and a partitioned folder.

Every cluster is closed in the fixture's teardown, and each test that uses one
is bounded in time (``cluster_timeout``).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

from customer_purchase_prediction.columns import ID_COLUMN
from customer_purchase_prediction.synthetic import generate_sessions, write_frame

# The scheduler serves HTTP (health, metrics) even without a dashboard: loopback.
CLUSTER = {"dashboard_address": "127.0.0.1:0", "threads_per_worker": 1}
PARTITION_ROWS = 400
TIME_LIMIT_S = 180


@pytest.fixture(autouse=True)
def cluster_timeout() -> Iterator[None]:
    """Fail a test of this folder that takes longer than ``TIME_LIMIT_S``."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"a Dask test took longer than {TIME_LIMIT_S} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TIME_LIMIT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def process_cluster() -> Iterator[Client]:
    """Two worker processes on loopback."""
    cluster = LocalCluster(
        n_workers=2, processes=True, host="127.0.0.1", memory_limit="1GiB", **CLUSTER
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def thread_cluster() -> Iterator[Client]:
    """Two worker threads of this process (in-process transport, no socket)."""
    cluster = LocalCluster(n_workers=2, processes=False, **CLUSTER)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def partition_frames(seed: int = 11, *, labelled: bool = False) -> list[pd.DataFrame]:
    """Three generated partitions with messy rows and ids repeated across them.

    Partition 1 repeats two ids of partition 0 (one of them a row that also
    breaks another rule) and partition 2 repeats one id three times over the
    three partitions; ids are otherwise distinct.
    """
    frames = []
    for part in range(3):
        raw, _ = generate_sessions(
            PARTITION_ROWS,
            seed + part,
            labelled=labelled,
            id_start=10_000 * (part + 1),
            messy_fraction=0.1,
        )
        frames.append(raw)
    ids = [pd.to_numeric(f[ID_COLUMN], errors="coerce") for f in frames]
    clean = [np.flatnonzero(i.notna().to_numpy()) for i in ids]
    first, second = (frames[0][ID_COLUMN].iloc[clean[0][k]] for k in (3, 7))
    frames[1].loc[frames[1].index[clean[1][0]], ID_COLUMN] = first
    frames[1].loc[frames[1].index[clean[1][1]], ID_COLUMN] = second
    frames[1].loc[frames[1].index[clean[1][1]], "time_spent"] = -4.0
    frames[2].loc[frames[2].index[clean[2][5]], ID_COLUMN] = first
    return frames


@pytest.fixture
def partition_folder(tmp_path: Path) -> Path:
    """The partitions written as files: CSV, Parquet, CSV."""
    folder = tmp_path / "new_sessions"
    for part, frame in enumerate(partition_frames()):
        write_frame(frame, folder / f"part-{part}.{'parquet' if part == 1 else 'csv'}")
    return folder
