"""The service's settings: where the model comes from, limits, the API key.

``kedro serve`` builds a ``ServiceSettings`` from its options, the ``serving``
parameters (``conf/base/parameters_serving.yml``) and the key, then hands it to
each uvicorn worker through environment variables (``to_environment``), which
``ServiceSettings.from_environment`` reads back. ``uvicorn --factory
customer_purchase_prediction.serving:create_app`` run inside the project takes the
same project settings, with those variables taking precedence
(``factory_settings``).

The API key comes from ``PURCHASE_API_KEY`` or from ``serving.api_key`` in the
credentials of the run environment (``conf/local/credentials.yml`` by default),
never from ``conf/base``: a key committed with the code is no secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from kedro.config import MissingConfigException, OmegaConfigLoader
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from customer_purchase_prediction.errors import (
    ModelNotFoundError,
    PurchasePredictionError,
)
from customer_purchase_prediction.output_paths import CATALOG_RESOLVERS

SECTION = "serving"
KEY_FIELD = "api_key"
ENV_PREFIX = "PURCHASE_"
API_KEY_VARIABLE = f"{ENV_PREFIX}API_KEY"
# ServiceSettings field -> the environment variable that carries it to a worker.
VARIABLES = {
    "model": f"{ENV_PREFIX}MODEL",
    "model_sha256": f"{ENV_PREFIX}MODEL_SHA256",
    "project_path": f"{ENV_PREFIX}PROJECT_PATH",
    "max_batch": f"{ENV_PREFIX}MAX_BATCH",
    "drift_window": f"{ENV_PREFIX}DRIFT_WINDOW",
    "coalesce": f"{ENV_PREFIX}COALESCE",
    "opentelemetry": f"{ENV_PREFIX}OPENTELEMETRY",
    "max_body_bytes": f"{ENV_PREFIX}MAX_BODY_BYTES",
    "api_key": API_KEY_VARIABLE,
}


class ServiceConfigError(PurchasePredictionError):
    """The service's configuration is wrong (a parameter, the key's place)."""


class ServingParameters(BaseModel):
    """The ``serving`` section of the parameters: the request limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body_bytes: int = Field(1 << 20, ge=1024)  # larger bodies get 413
    max_batch: int = Field(1000, ge=1)  # sessions per /v1/predict/batch
    drift_window: int = Field(1000, ge=1)  # sessions /v1/monitoring/drift judges
    # single-record requests that arrive together, scored in one model call
    coalesce: int = Field(64, ge=1, le=1000)
    # FastAPI's native OpenTelemetry spans, metrics and logs (for an operator
    # who configures an OpenTelemetry provider); off, a request does not ask
    # whether one is configured.
    opentelemetry: bool = False
    # kedro serve --workers N: seconds a worker may take to start (import the
    # project, load the model) and, once serving, to answer its supervisor's
    # health check before it is replaced.
    worker_timeout: int = Field(60, ge=1)


class ServiceSettings(ServingParameters):
    """What ``create_app`` needs: the limits of ``ServingParameters``, the model
    and the key; ``kedro serve`` fills it from its options."""

    # 3, champion, models:/purchase-model/3, a Kedro version or a path to an
    # artifact; None: the registry's champion.
    model: str | None = None
    model_sha256: str | None = None
    project_path: Path | None = None
    api_key: SecretStr | None = None

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None
    ) -> ServiceSettings:
        """Settings from the ``PURCHASE_*`` variables (``VARIABLES``); the
        defaults for those unset.

        Raises:
            ServiceConfigError: a variable's value is invalid, naming it.
        """
        given = environment_values(environ)
        try:
            return cls.model_validate(given)
        except ValidationError as exc:
            error = exc.errors()[0]
            variable = VARIABLES.get(str(error["loc"][0]), str(error["loc"][0]))
            shown = "***" if variable == API_KEY_VARIABLE else error.get("input")
            raise ServiceConfigError(
                f"{variable}: {error['msg']} (got {shown!r})"
            ) from None

    def to_environment(self) -> dict[str, str]:
        """The variables ``from_environment`` turns back into these settings."""
        values = {
            "model": self.model,
            "model_sha256": self.model_sha256,
            "project_path": None
            if self.project_path is None
            else str(self.project_path),
            "max_batch": str(self.max_batch),
            "drift_window": str(self.drift_window),
            "coalesce": str(self.coalesce),
            "opentelemetry": str(self.opentelemetry).lower(),
            "max_body_bytes": str(self.max_body_bytes),
            "api_key": None
            if self.api_key is None
            else self.api_key.get_secret_value(),
        }
        return {VARIABLES[name]: value for name, value in values.items() if value}


def environment_values(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings the ``PURCHASE_*`` variables set, by field name, as text."""
    environ = os.environ if environ is None else environ
    return {
        name: environ[variable]
        for name, variable in VARIABLES.items()
        if environ.get(variable)
    }


def serving_parameters(loader: Any) -> ServingParameters:
    """The ``serving`` parameters of a project's configuration, validated.

    Raises:
        ServiceConfigError: naming the key, as ``kedro run`` would.
    """
    try:
        section = loader["parameters"].get(SECTION) or {}
    except MissingConfigException:  # no parameters at all: the defaults
        section = {}
    try:
        return ServingParameters.model_validate(dict(section))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join([SECTION, *(str(part) for part in error["loc"])])
        raise ServiceConfigError(
            f"{where}: {error['msg']} (input_value={error.get('input')!r})"
        ) from exc


def configured_api_key(
    loader: Any, environ: Mapping[str, str] | None = None
) -> SecretStr | None:
    """The API key: ``PURCHASE_API_KEY``, else the run environment's credentials.

    Raises:
        ServiceConfigError: a key is in ``conf/base`` (which is committed).
    """
    environ = os.environ if environ is None else environ
    refuse_base_key(loader)
    if environ.get(API_KEY_VARIABLE):
        return SecretStr(environ[API_KEY_VARIABLE])
    try:
        credentials = loader["credentials"]
    except MissingConfigException:  # no credentials files: no key
        return None
    key = (credentials.get(SECTION) or {}).get(KEY_FIELD)
    return SecretStr(str(key)) if key else None


def refuse_base_key(loader: Any) -> None:
    """Stop if a credentials file of ``conf/base`` holds ``serving.api_key``."""
    base = Path(str(loader.conf_source)) / loader.base_env
    patterns = loader.config_patterns.get("credentials", [])
    found = sorted({path for pattern in patterns for path in base.glob(pattern)})
    for path in found:
        if not path.is_file() or path.suffix not in {".yml", ".yaml", ".json"}:
            continue
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        section = content.get(SECTION) if isinstance(content, dict) else None
        if isinstance(section, dict) and section.get(KEY_FIELD):
            raise ServiceConfigError(
                f"{path} holds {SECTION}.{KEY_FIELD}, but conf/base is committed "
                "with the code, so that key is no secret: move it to "
                f"conf/local/credentials.yml (git-ignored) or set {API_KEY_VARIABLE}"
            )


def project_settings(
    project_path: Path, *, env: str | None = None, model: str | None = None
) -> ServiceSettings:
    """The settings ``kedro serve`` runs with: the project's ``serving``
    parameters and API key (environment ``env``), and the model to serve.

    Raises:
        ServiceConfigError: a parameter is invalid, or a key is in conf/base.
    """
    loader = OmegaConfigLoader(
        conf_source=str(project_path / "conf"),
        env=env,
        base_env="base",
        default_run_env="local",
        merge_strategy={"parameters": "soft"},
        custom_resolvers=CATALOG_RESOLVERS,
    )
    limits = serving_parameters(loader)
    return ServiceSettings(
        model=model,
        project_path=project_path,
        max_batch=limits.max_batch,
        max_body_bytes=limits.max_body_bytes,
        drift_window=limits.drift_window,
        coalesce=limits.coalesce,
        opentelemetry=limits.opentelemetry,
        api_key=configured_api_key(loader),
    )


def factory_settings() -> ServiceSettings:
    """The settings of ``uvicorn --factory ...:create_app``: as ``kedro serve``
    would use them.

    A worker of ``kedro serve`` gets every setting in ``PURCHASE_*`` variables
    (its project among them). Run by uvicorn directly, the service takes the
    project's ``serving`` parameters and API key (``conf/local/credentials.yml``
    too, so a configured key is required there as well), with any
    ``PURCHASE_*`` variable set taking precedence; outside a project, the
    variables and the defaults.
    """
    from customer_purchase_prediction.predictor import (  # noqa: PLC0415 - heavy
        project_root,
    )

    from_environment = ServiceSettings.from_environment()
    given = environment_values()
    if "project_path" in given:
        return from_environment
    try:
        root = project_root(None)
    except ModelNotFoundError:
        return from_environment
    base = project_settings(root)
    return base.model_copy(
        update={name: getattr(from_environment, name) for name in given}
    )
