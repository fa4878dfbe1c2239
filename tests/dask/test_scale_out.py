"""The dask environment's cluster hook, its parameters, the seam and the datasets."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dask
import dask.dataframe as dd
import pandas as pd
import pytest
from distributed import Client
from kedro.io import DataCatalog, DatasetError

from customer_purchase_prediction.errors import RunParameterError
from customer_purchase_prediction.partitioned import PartitionedParquetDataset
from customer_purchase_prediction.pipelines.inference.nodes import rank_predictions
from customer_purchase_prediction.scale_out import (
    DaskCluster,
    dask_params,
    is_partitioned,
)

THREADS = {"processes": False, "n_workers": 1, "dashboard_address": None}


def hook_with(section: dict[str, Any]) -> DaskCluster:
    hook = DaskCluster()
    hook.after_context_created(SimpleNamespace(params={"dask": section}))
    return hook


@pytest.mark.parametrize(
    ("section", "key"),
    [({"n_workers": 0}, "dask.n_workers"), ({"n_worker": 2}, "dask.n_worker")],
)
def test_a_bad_dask_parameter_stops_the_run_naming_the_key(
    section: dict[str, Any], key: str
) -> None:
    with pytest.raises(RunParameterError, match=key.replace(".", r"\.")):
        dask_params(section)


def test_a_run_without_dask_parameters_starts_no_cluster() -> None:
    hook = DaskCluster()
    hook.after_context_created(SimpleNamespace(params={"modelling": {}}))
    hook.before_pipeline_run()
    assert hook._client is None


def test_the_hook_starts_a_local_cluster_and_closes_it_at_the_end() -> None:
    hook = hook_with(THREADS)
    hook.before_pipeline_run()
    client, cluster = hook._client, hook._cluster
    try:
        assert client.submit(sum, [1, 2]).result(timeout=30) == 3
        assert len(client.scheduler_info()["workers"]) == 1
    finally:
        hook.after_pipeline_run(DataCatalog())
    assert client.status == "closed"
    assert cluster.status.name == "closed"


def test_a_failed_run_closes_the_cluster_too() -> None:
    hook = hook_with(THREADS)
    hook.before_pipeline_run()
    client = hook._client
    hook.on_pipeline_error(DataCatalog())
    assert client.status == "closed"


class Closing:
    """A client or cluster stand-in that records its close, or fails it."""

    def __init__(self, name: str, calls: list[tuple[str, float]], fail: bool) -> None:
        self.name, self.calls, self.fail = name, calls, fail

    def close(self, *, timeout: float) -> None:
        self.calls.append((self.name, timeout))
        if self.fail:
            raise TimeoutError(f"{self.name} still closing after {timeout:g} s")


@pytest.mark.parametrize("failing", [None, "client", "cluster"])
def test_the_client_closes_first_then_the_cluster_and_a_close_failure_is_logged(
    failing: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    hook = hook_with({**THREADS, "close_timeout": 7})
    calls: list[tuple[str, float]] = []
    hook._client = Closing("client", calls, fail=failing == "client")
    hook._cluster = Closing("cluster", calls, fail=failing == "cluster")
    with caplog.at_level("INFO", logger="customer_purchase_prediction.scale_out"):
        hook.after_pipeline_run(DataCatalog())  # a succeeded run: no error
    assert calls == [("client", 7), ("cluster", 7)]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    if failing is None:
        assert warnings == []
    else:
        (warning,) = warnings
        assert "did not close cleanly" in warning
        assert f"{failing} still closing after 7 s" in warning
    hook.close()  # idempotent: nothing left to close
    assert len(calls) == 2


def test_a_close_timeout_must_be_positive() -> None:
    with pytest.raises(RunParameterError, match=r"dask\.close_timeout"):
        dask_params({"close_timeout": 0})


def test_the_hook_joins_a_running_scheduler_and_leaves_it_running(
    thread_cluster: Client,
) -> None:
    hook = hook_with({"scheduler_address": thread_cluster.scheduler.address})
    hook.before_pipeline_run()
    joined = hook._client
    assert hook._cluster is None
    assert joined.submit(sum, [2, 3]).result(timeout=30) == 5
    hook.after_pipeline_run(DataCatalog())
    assert joined.status == "closed"
    # The cluster someone else started is still there.
    assert thread_cluster.submit(sum, [1, 1]).result(timeout=30) == 2


def test_a_node_given_pandas_runs_as_before_and_given_dask_per_partition() -> None:
    scored = pd.DataFrame(
        {
            "customer_id": [3, 1, 2, 4],
            "purchase_prediction": [0, 1, 1, 0],
            "purchase_probability": [0.1, 0.9, 0.9, 0.2],
            "prediction_confidence": ["high", "high", "high", "medium"],
        }
    )
    ranked = rank_predictions(scored)
    assert ranked["customer_id"].tolist() == [1, 2, 4, 3]
    assert not is_partitioned(scored)
    frame = dd.from_pandas(scored, npartitions=2, sort=False)
    assert is_partitioned(frame)
    with dask.config.set(scheduler="synchronous"):
        parts = rank_predictions(frame).compute()
    # Ranked within each partition: [3, 1] and [2, 4].
    assert parts["customer_id"].tolist() == [1, 3, 2, 4]


def test_a_partitioned_output_is_replaced_whole(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    dataset = PartitionedParquetDataset(folder=str(folder))
    first = pd.DataFrame({"a": [1, 2, 3]})
    dataset.save(dd.from_pandas(first, npartitions=2))
    second = pd.DataFrame({"a": [7]})

    def broken(part: pd.DataFrame) -> pd.DataFrame:
        raise RuntimeError("a worker died")

    frame = dd.from_pandas(second, npartitions=1)
    with dask.config.set(scheduler="synchronous"), pytest.raises(DatasetError):
        dataset.save(frame.map_partitions(broken, meta=second))
    assert sorted(dataset.load().compute()["a"]) == [1, 2, 3]
    with dask.config.set(scheduler="synchronous"):
        dataset.save(frame)
        assert dataset.load().compute()["a"].tolist() == [7]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # nothing stray


def test_a_partitioned_output_refuses_a_file(tmp_path: Path) -> None:
    path = tmp_path / "out.parquet"
    path.write_text("x")
    with pytest.raises(DatasetError, match="give a folder path"):
        PartitionedParquetDataset(folder=str(path)).save(pd.DataFrame({"a": [1]}))


def test_per_run_data_lives_in_a_folder_of_its_own_until_the_run_ends(
    tmp_path: Path,
) -> None:
    one, other = (
        PartitionedParquetDataset(folder=str(tmp_path / "scored"), per_run=True)
        for _ in range(2)
    )
    with dask.config.set(scheduler="synchronous"):
        one.save(pd.DataFrame({"a": [1]}))
        other.save(pd.DataFrame({"a": [2]}))
        assert one.load().compute()["a"].tolist() == [1]
        assert other.load().compute()["a"].tolist() == [2]
    one.release()  # Kedro releases it while lazy frames still read it
    assert one.exists()
    DaskCluster().after_pipeline_run(DataCatalog({"one": one}))
    assert not one.exists()
    assert other.exists()
    output = PartitionedParquetDataset(folder=str(tmp_path / "out"))
    output.save(pd.DataFrame({"a": [3]}))
    DaskCluster().on_pipeline_error(DataCatalog({"other": other, "out": output}))
    assert list((tmp_path / "scored").iterdir()) == []
    assert output.exists()  # an output is never run data
