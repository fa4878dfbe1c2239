"""Distributed refits of a candidate on every training row (``--env=dask``).

A candidate that can be fitted on a cluster names its function here in its
registry entry (``Candidate.distributed_fit``); the scale-out path
(``partitioned.fit_candidates``) calls it for the selected candidate. The
result is the same estimator class as the sample fit, so the artifact, its
scorer and its trusted types do not change. Dask is imported only when a
refit runs.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from customer_purchase_prediction.columns import LABEL_COLUMN
from customer_purchase_prediction.errors import PurchasePredictionError
from customer_purchase_prediction.features import SessionFeatures, session_columns

logger = logging.getLogger(__name__)

# XGBoost's default number of histogram bins (``max_bin``).
DEFAULT_BINS = 256


class DistributedFitError(PurchasePredictionError, RuntimeError):
    """A distributed refit failed for a reason the run can name."""


def lost_worker_message(rows: int, features: int, workers: dict[str, Any]) -> str:
    """What to do when ``xgboost.dask`` lost a worker during a refit."""
    share = rows * features * 4 / max(len(workers), 1) / 2**20
    limits = sorted(
        {f"{w.get('memory_limit', 0) / 2**30:.2f} GiB" for w in workers.values()}
    )
    return (
        f"the xgboost.dask refit on {rows:,} training rows lost a Dask worker, "
        "and xgboost.dask cannot recover one; most often a worker exceeded its "
        f"memory: each of the {len(workers)} workers (memory limit "
        f"{', '.join(limits) or 'unknown'}) holds about {share:,.0f} MiB of "
        "float32 model matrix, plus XGBoost's copy of it and its own start-up "
        "memory; give the workers more memory (dask.memory_limit, e.g. 2GiB) "
        "or add workers (dask.n_workers, or a larger cluster at "
        "dask.scheduler_address)"
    )


def model_matrix(part: pd.DataFrame, transformer: SessionFeatures) -> pd.DataFrame:
    """One partition's model matrix, as the artifact's pipeline computes it."""
    names = transformer.get_feature_names_out()
    matrix = transformer.transform_columns(session_columns(part))
    return pd.DataFrame(matrix, columns=names, index=part.index)


def labelled_matrix(part: pd.DataFrame, transformer: SessionFeatures) -> pd.DataFrame:
    """One partition's model matrix with its label as the last column."""
    labels = part[LABEL_COLUMN].to_numpy(dtype="int64")
    return model_matrix(part, transformer).assign(**{LABEL_COLUMN: labels})


def boosted_dask_fit(estimator: Any, rows: Any, transformer: SessionFeatures) -> Any:
    """XGBoost refitted on every row of ``rows`` with ``xgboost.dask``.

    The tuned hyper-parameters are the sample fit's (``get_xgb_params``,
    class weighting included) and the number of trees is the one its early
    stopping chose. The booster goes back into a copy of the sample's
    estimator, so the artifact holds the same class (a plain booster inside).

    Args:
        estimator: The fitted ``EarlyStoppedXGBClassifier`` of the sample.
        rows: The training rows, a Dask frame of validated sessions.
        transformer: The fitted feature transformer of the pipeline.
    """
    from distributed import get_client  # noqa: PLC0415 - dask env only
    from xgboost import dask as dxgb  # noqa: PLC0415 - dask env only

    client = get_client()
    # The matrix and the labels come from one frame, so that they have the
    # same partitions (Dask may merge partitions of a projection of a few
    # columns, which xgboost.dask refuses).
    meta = labelled_matrix(rows._meta, transformer)
    both = rows.map_partitions(labelled_matrix, transformer, meta=meta)
    matrix = both[list(transformer.get_feature_names_out())]
    labels = both[LABEL_COLUMN]
    rounds = int(estimator.get_booster().num_boosted_rounds())
    params = {**estimator.get_xgb_params(), "nthread": estimator.n_jobs or 1}
    params.pop("n_jobs", None)
    # Histogram bins built on the workers, from float32 partitions (XGBoost
    # trains on float32 anyway): a worker holds about a quarter of the
    # float64 matrix's bytes, not a DMatrix copy of it.
    train = dxgb.DaskQuantileDMatrix(
        client,
        matrix.astype("float32"),
        labels,
        max_bin=params.get("max_bin") or DEFAULT_BINS,
    )
    rows_fitted = int(labels.shape[0].compute())
    try:
        trained = dxgb.train(client, params, train, num_boost_round=rounds)
    except ValueError as exc:
        # xgboost.dask's words when a worker died and another took its place.
        if "worker" not in str(exc).lower():
            raise
        workers = client.scheduler_info().get("workers", {})
        raise DistributedFitError(
            lost_worker_message(rows_fitted, matrix.shape[1], workers)
        ) from exc
    release_matrix(train)
    del train
    booster = trained["booster"]
    # The sample fit saw a bare matrix (no column names); so does the scorer.
    booster.feature_names = None
    refit = clone(estimator)
    refit.load_model(bytearray(booster.save_raw("ubj")))
    refit.best_n_estimators_ = rounds
    refit.fitted_rows_ = rows_fitted
    logger.info(
        "Refitted %s on %d training rows with xgboost.dask (%d trees)",
        type(estimator).__name__,
        refit.fitted_rows_,
        rounds,
    )
    return refit


def release_matrix(matrix: Any) -> None:
    """Let the workers drop a Dask DMatrix's partitions now.

    A ``DaskDMatrix`` refers to itself (its ``_init`` is the matrix), so it
    and the partitions its futures keep on the workers (the model matrix of
    every training row) are freed only by Python's cyclic garbage collector,
    which may not run before the cluster closes: at 10M rows the partitions
    stayed on the workers through reporting and up to the cluster's close.
    Its futures are dropped here, so the scheduler releases them at once.
    """
    worker_map = getattr(matrix, "worker_map", None)
    if worker_map is not None:
        worker_map.clear()


def fitted_rows(estimator: Any) -> int | None:
    """Rows a distributed refit was fitted on, or None (a sample fit)."""
    rows = getattr(estimator, "fitted_rows_", None)
    return None if rows is None else int(np.asarray(rows))
