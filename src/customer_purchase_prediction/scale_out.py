"""Scale-out on Dask: the ``dask`` environment's cluster, and the one seam to it.

``kedro run --env=dask ...`` runs Kedro's ordinary runner; Dask works inside
the nodes and the datasets (Kedro 1.7's own Dask runner recipe does not work,
and in-memory data between nodes would not reach other workers anyway):

- ``DaskCluster`` (a hook) connects to ``dask.scheduler_address`` when it is set,
  or starts a ``LocalCluster`` sized by the ``dask`` parameters, logs the
  dashboard address, and closes what it started when the run ends or fails;
- ``on_partitions`` marks a node that also accepts a Dask DataFrame: given one,
  the node runs the function of the same name in ``partitioned.py``, which
  applies the node's own pandas functions partition by partition. Given a
  pandas frame, the node runs as it always did.

This module imports no Dask unless a run asks for it, so the pandas path and
``PurchasePredictor`` pay nothing for it.
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kedro.framework.hooks import hook_impl
from kedro.io import AbstractDataset, DatasetError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from customer_purchase_prediction.errors import RunParameterError

logger = logging.getLogger(__name__)

SECTION = "dask"
PARTITIONED_MODULE = "customer_purchase_prediction.partitioned"
Function = TypeVar("Function", bound=Callable[..., Any])


class DaskParams(BaseModel):
    """The ``dask`` parameters (``conf/dask/parameters.yml``).

    Attributes:
        scheduler_address: A running scheduler (``tcp://host:8786``); ``null``
            starts a ``LocalCluster`` from the settings below.
        n_workers: Worker processes of the local cluster.
        threads_per_worker: Threads of each local worker.
        processes: Workers as processes (``false``: threads of this process).
        memory_limit: Memory of each local worker, e.g. ``1GiB``; the worker
            spills to disk, then pauses, before it would exceed it.
        host: The address the local cluster binds (loopback by default).
        dashboard_address: Where the local cluster serves its dashboard
            (``127.0.0.1:0`` a free loopback port, ``null`` no dashboard).
        close_timeout: Seconds the run waits for the client, then for the
            local cluster, to close at its end; one that does not close in
            time (or fails to) is logged, and the run's outcome stands.
    """

    model_config = ConfigDict(extra="forbid")

    scheduler_address: str | None = None
    n_workers: int = Field(default=2, ge=1)
    threads_per_worker: int = Field(default=1, ge=1)
    processes: bool = True
    memory_limit: str = "1GiB"
    host: str = "127.0.0.1"
    dashboard_address: str | None = "127.0.0.1:0"
    close_timeout: float = Field(default=30.0, gt=0)


def dask_params(section: Any) -> DaskParams:
    """The ``dask`` section as ``DaskParams``.

    Raises:
        RunParameterError: naming the first bad key, e.g. ``dask.n_workers``.
    """
    try:
        return DaskParams.model_validate(section)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join([SECTION, *map(str, error["loc"])])
        raise RunParameterError(
            f"{key}: {error['msg']} (got {error.get('input')!r}); see "
            f"conf/dask/parameters.yml for the keys and their defaults"
        ) from exc


def is_partitioned(data: object) -> bool:
    """Whether ``data`` is a Dask DataFrame (without importing Dask)."""
    frames = sys.modules.get("dask.dataframe")
    return frames is not None and isinstance(data, frames.DataFrame)


def on_partitions(node_function: Function) -> Function:
    """A node that runs ``partitioned.<its name>`` when given a Dask DataFrame.

    The partitioned function receives the node's own (pandas) function first,
    then the node's arguments, so it can apply that very function to each
    partition: no second implementation.
    """

    @functools.wraps(node_function)
    def node(*args: Any, **kwargs: Any) -> Any:
        if not any(map(is_partitioned, (*args, *kwargs.values()))):
            return node_function(*args, **kwargs)
        partitioned = importlib.import_module(PARTITIONED_MODULE)
        implementation = getattr(partitioned, node_function.__name__)
        return implementation(node_function, *args, **kwargs)

    return node  # type: ignore[return-value]


class NotPartitioned(AbstractDataset[None, None]):
    """An input only the ``dask`` environment reads: ``None`` elsewhere.

    ``training_rows`` (every training row of the partitions) is declared so in
    ``conf/base/catalog.yml`` and as a Dask frame in ``conf/dask/catalog.yml``:
    the pandas path gets ``None`` for it and reads no file.
    """

    def __init__(self, *, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata

    def load(self) -> None:
        """Nothing: the pandas path does not read partitions."""
        return None

    def save(self, data: None) -> None:
        """Never written: it is an input."""
        raise DatasetError(
            "a NotPartitioned input is never written; the dask environment "
            "reads it (conf/dask/catalog.yml)"
        )

    def _describe(self) -> dict[str, Any]:
        return {}


def discard_run_data(catalog: Any) -> None:
    """Remove what datasets of the run kept for this run only (``per_run``)."""
    for dataset in catalog.values():
        discard = getattr(dataset, "discard_run_data", None)
        if callable(discard):
            discard()


def start_client(params: DaskParams) -> tuple[Any, Any]:
    """A Dask client for ``params``, and the local cluster it started (or None)."""
    from distributed import Client, LocalCluster  # noqa: PLC0415 - dask env only

    if params.scheduler_address:
        client = Client(params.scheduler_address)
        logger.info(
            "Dask: connected to %s (%d workers); dashboard %s",
            params.scheduler_address,
            len(client.scheduler_info().get("workers", {})),
            client.dashboard_link,
        )
        return client, None
    cluster = LocalCluster(
        n_workers=params.n_workers,
        threads_per_worker=params.threads_per_worker,
        processes=params.processes,
        memory_limit=params.memory_limit,
        # Threads of this process talk in-process, with no address to bind.
        **({"host": params.host} if params.processes else {}),
        dashboard_address=params.dashboard_address,
    )
    client = Client(cluster)
    logger.info(
        "Dask: local cluster %s, %d workers x %d threads, %s each; dashboard %s",
        cluster.scheduler_address,
        params.n_workers,
        params.threads_per_worker,
        params.memory_limit,
        client.dashboard_link if params.dashboard_address is not None else "off",
    )
    return client, cluster


class DaskCluster:
    """Starts (or joins) the Dask cluster of a run in the ``dask`` environment.

    A run whose parameters have no ``dask`` section (every environment but
    ``dask``) is left alone.
    """

    def __init__(self) -> None:
        self._params: DaskParams | None = None
        self._client: Any = None
        self._cluster: Any = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Read the run's ``dask`` parameters, run-time values included."""
        section = context.params.get(SECTION)
        self._params = None if section is None else dask_params(section)

    @hook_impl
    def before_pipeline_run(self) -> None:
        """Connect to the cluster, or start the local one, before any node."""
        if self._params is not None and self._client is None:
            self._client, self._cluster = start_client(self._params)

    @hook_impl
    def after_pipeline_run(self, catalog: Any) -> None:
        """Remove the run's data between nodes; close the client, and the local
        cluster if this run started it."""
        discard_run_data(catalog)
        self.close()

    @hook_impl
    def on_pipeline_error(self, catalog: Any) -> None:
        """The same on a failed run."""
        discard_run_data(catalog)
        self.close()

    def close(self) -> None:
        """Close the client, then the cluster this hook started (idempotent).

        Each is given ``dask.close_timeout`` seconds. Closing happens after the
        pipeline's outputs are written, so a client or cluster that does not
        close in time, or fails to, is logged as a warning and does not change
        the run's outcome: a run that succeeded still exits 0, and a failed
        run still raises its own error.
        """
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        timeout = (self._params or DaskParams()).close_timeout
        if client is not None:
            close_quietly("client", client.close, timeout)
        if cluster is not None:
            close_quietly("local cluster", cluster.close, timeout)


def close_quietly(what: str, close: Callable[..., Any], timeout: float) -> None:
    """``close(timeout=timeout)``, logged; a failure is a warning, not an error."""
    logger.info("Dask: closing the %s (at most %.0f s)", what, timeout)
    started = time.perf_counter()
    try:
        close(timeout=timeout)
    except Exception as exc:  # the pipeline has ended: its outcome stands
        logger.warning(
            "Dask: the %s did not close cleanly after %.1f s (%s: %s); the "
            "pipeline had ended, so the run's outcome stands; a local "
            "cluster's worker processes end with this process",
            what,
            time.perf_counter() - started,
            type(exc).__name__,
            exc,
        )
        return
    logger.info("Dask: %s closed in %.1f s", what, time.perf_counter() - started)
