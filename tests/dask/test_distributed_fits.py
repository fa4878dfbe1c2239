"""The xgboost.dask refit on a cluster of two worker processes."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from typing import Any

import dask.dataframe as dd
import pandas as pd
import pytest
from distributed import Client

from customer_purchase_prediction.distributed_fits import boosted_dask_fit
from tests.conftest import modelling_params, train_in_memory

RELEASE_WAIT_S = 10


@pytest.fixture(scope="module")
def xgboost_pipeline(small_sessions: pd.DataFrame) -> Any:
    """XGBoost fitted on the sample as the pandas path fits it (alone)."""
    params = modelling_params(
        candidates={
            name: {"enabled": False}
            for name in ("logistic_regression", "random_forest", "ensemble")
        }
    )
    _, catalog = train_in_memory(small_sessions, params, keep=True)
    return catalog.load("candidate_models")["xgboost"]


@pytest.fixture
def no_cyclic_gc() -> Iterator[None]:
    """Python's cyclic collector off, so only what the code releases is freed."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def held_keys(client: Client) -> set[str]:
    return {key for keys in client.has_what().values() for key in keys}


def test_the_refit_leaves_no_data_on_the_workers(
    process_cluster: Client,
    xgboost_pipeline: Any,
    small_sessions: pd.DataFrame,
    no_cyclic_gc: None,
) -> None:
    # A DaskDMatrix refers to itself: unless the refit drops its partitions,
    # the model matrix of every training row stays on the workers until the
    # cyclic collector happens to run (at 10M rows: until the cluster closed).
    rows = dd.from_pandas(small_sessions, npartitions=3, sort=False)
    refit = boosted_dask_fit(
        xgboost_pipeline.named_steps["model"],
        rows,
        xgboost_pipeline.named_steps["features"],
    )
    assert refit.fitted_rows_ == len(small_sessions)
    deadline = time.monotonic() + RELEASE_WAIT_S
    while held_keys(process_cluster) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert held_keys(process_cluster) == set()
