"""``kedro serve``: settings from the project, the binding checked, uvicorn started.

One worker serves an app built here around a model loaded (and hash-checked)
once. Several workers each build the app from the import string
``customer_purchase_prediction.serving:create_app`` (uvicorn's ``factory=True``)
and read their settings from the ``PURCHASE_*`` variables; the model is loaded
here first, so a missing or damaged model stops the command before a worker
starts, and every worker is pinned to that same version.
"""

from __future__ import annotations

import copy
import errno
import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from customer_purchase_prediction.predictor import is_model_reference
from customer_purchase_prediction.serving.app import create_app, load_predictor
from customer_purchase_prediction.serving.config import (
    API_KEY_VARIABLE,
    ServiceConfigError,
    ServiceSettings,
    project_settings,
)
from customer_purchase_prediction.serving.observability import (
    MULTIPROCESS_VARIABLE,
    SERVICE_LOGGERS,
    use_service_logging,
)
from customer_purchase_prediction.serving.security import is_loopback
from customer_purchase_prediction.serving.supervision import SUPERVISOR_VARIABLE

logger = logging.getLogger(__name__)

APP_FACTORY = "customer_purchase_prediction.serving:create_app"


def check_binding(host: str, settings: ServiceSettings, *, insecure: bool) -> None:
    """Refuse a non-loopback address without an API key, unless ``insecure``.

    Raises:
        ServiceConfigError: saying how to set a key or to pass ``--insecure``.
    """
    if settings.api_key is not None or insecure or is_loopback(host):
        if insecure and settings.api_key is None and not is_loopback(host):
            logger.warning("Serving %s without an API key (--insecure)", host)
        return
    raise ServiceConfigError(
        f"refusing to serve on {host} without an API key: anyone who can reach "
        f"that address could use the model. Set {API_KEY_VARIABLE}, or "
        "serving.api_key in conf/local/credentials.yml, or bind 127.0.0.1; "
        "--insecure serves without a key anyway"
    )


def log_config() -> dict[str, Any]:
    """uvicorn's logging, plus the package's logs and the JSON access lines."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    for name, make in SERVICE_LOGGERS.items():
        config["handlers"][name] = {"()": f"{make.__module__}.{make.__name__}"}
        config["loggers"][name] = {
            "handlers": [name],
            "level": "INFO",
            "propagate": False,
        }
    return config


METRICS_PREFIX = "purchase-metrics-"  # then the supervisor's process id


def remove_stale_metrics(folder: str | None = None) -> None:
    """Remove the metrics folders of supervisors that no longer run (one
    killed outright cannot remove its own)."""
    for path in Path(folder or tempfile.gettempdir()).glob(f"{METRICS_PREFIX}*-*"):
        owner = path.name.removeprefix(METRICS_PREFIX).split("-", 1)[0]
        if owner.isdigit() and path.is_dir() and not _running(int(owner)):
            shutil.rmtree(path, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def check_port(host: str, port: int) -> None:
    """Stop if ``host:port`` cannot be listened on (another server has it).

    Raises:
        ServiceConfigError: naming the address and the system's reason.
    """
    if port == 0:  # any free port
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            return  # any other fault uvicorn reports as it binds
        raise ServiceConfigError(
            f"cannot listen on {host}:{port}: the address is already in use "
            "(another server has it; choose another --port)"
        ) from None


def serve(
    settings: ServiceSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    insecure: bool = False,
    loop: str = "uvloop",
) -> None:
    """Load the model, then serve it until interrupted.

    ``loop`` is uvicorn's event loop, ``uvloop`` by default: with
    ``--workers N`` asyncio accepts a burst of connections in whichever worker
    wakes first, so one worker served all of them (docs/performance.md, the
    load benchmark, measured both).

    Raises:
        ServiceConfigError: the binding is refused (see ``check_binding``).
        PurchasePredictionError: the model is missing or not the recorded file.
    """
    # The address as checked is the address bound: " 127.0.0.1" or "[::1]"
    # would pass the loopback check and then fail in uvicorn.
    host = host.strip().removeprefix("[").removesuffix("]")
    check_binding(host, settings, insecure=insecure)
    check_port(host, port)  # before the model loads, not after
    # From here on, the package's lines go where uvicorn's will (stderr), not
    # through the command line's handler to stdout, which holds access lines.
    use_service_logging()
    predictor = load_predictor(settings)
    model = predictor.model
    logger.info(
        "Loaded %s version %s (sha256 %s)",
        model.name,
        model.version,
        (model.artifact or {}).get("sha256"),
    )
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_config": log_config(),
        "access_log": False,  # the app writes its own access lines
        "server_header": False,
        "loop": loop,
        "timeout_graceful_shutdown": settings.shutdown_timeout,
    }
    if workers == 1:
        uvicorn.run(create_app(predictor, settings=settings), **options)
        return
    pinned = settings
    # The champion (an alias) is pinned to its Kedro version: every worker
    # serves the version loaded here, even if another is promoted meanwhile.
    if settings.model is None or is_model_reference(settings.model):
        pinned = settings.model_copy(update={"model": model.version})
    remove_stale_metrics()
    metrics_dir = tempfile.mkdtemp(prefix=f"{METRICS_PREFIX}{os.getpid()}-")
    os.environ.update(pinned.to_environment())
    os.environ[MULTIPROCESS_VARIABLE] = metrics_dir
    os.environ[SUPERVISOR_VARIABLE] = str(os.getpid())  # workers end with it
    try:
        # uvicorn's default of 5 s killed workers still importing the project
        # on a busy machine, and their replacements, over and over.
        config = NoDelayConfig(
            APP_FACTORY,
            factory=True,
            workers=workers,
            timeout_worker_healthcheck=settings.worker_timeout,
            **options,
        )
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


class NoDelayConfig(uvicorn.Config):
    """uvicorn's settings, with Nagle's algorithm off on the workers' socket.

    For several workers uvicorn binds one socket (``socket.socket(family)``,
    protocol 0) and hands it to them; asyncio then does not set
    ``TCP_NODELAY`` on the connections it accepts, and a response written in
    two parts waits for the client's delayed ACK: 40 ms a request. Set on the
    listening socket, Linux passes it to every accepted connection.
    """

    def bind_socket(self) -> socket.socket:
        """The listening socket, with ``TCP_NODELAY``."""
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


__all__ = ["ServiceConfigError", "check_binding", "project_settings", "serve"]
