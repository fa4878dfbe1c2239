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
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

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
    # On SIGTERM or Ctrl-C: seconds the requests in flight may take to finish
    # before the connections still open are closed (a stalled client cannot
    # hold the service up for ever).
    shutdown_timeout: int = Field(30, ge=1)


class ServiceSettings(ServingParameters):
    """What ``create_app`` needs: the limits of ``ServingParameters``, the model
    and the key; ``kedro serve`` fills it from its options."""

    # 3, champion, models:/purchase-model/3, a Kedro version or a path to an
    # artifact; None: the registry's champion.
    model: str | None = None
    model_sha256: str | None = None
    project_path: Path | None = None
    api_key: SecretStr | None = None

    @field_validator("api_key")
    @classmethod
    def _sendable(cls, key: SecretStr | None) -> SecretStr | None:
        """The key as a header can carry it: no spaces around it, not blank."""
        if key is None:
            return None
        text = key.get_secret_value().strip(" \t\r\n")
        if not text:
            raise ValueError("the API key is blank")
        return SecretStr(text)

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
    section = _section(loader, "parameters")
    try:
        return ServingParameters.model_validate(section)
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
    if API_KEY_VARIABLE in environ and environ[API_KEY_VARIABLE] != "":
        return api_key(environ[API_KEY_VARIABLE], API_KEY_VARIABLE)
    where = f"{SECTION}.{KEY_FIELD} in the credentials (conf/{loader.env or 'local'})"
    credentials = _section(loader, "credentials")
    if KEY_FIELD not in credentials or credentials[KEY_FIELD] is None:
        return None
    key = credentials[KEY_FIELD]
    if not isinstance(key, str):
        raise ServiceConfigError(
            f"{where} must be text; got {type(key).__name__} (quote it: "
            f'{KEY_FIELD}: "...")'
        )
    return api_key(key, where)


def api_key(text: str, where: str) -> SecretStr:
    """A configured key, without the spaces or tabs around it (which no HTTP
    header carries: a client could never send them).

    Raises:
        ServiceConfigError: the key is blank.
    """
    key = text.strip(" \t\r\n")
    if not key:
        raise ServiceConfigError(
            f"{where} is blank: set a key, or leave it unset to serve without one"
        )
    return SecretStr(key)


def _section(loader: Any, kind: str) -> dict[str, Any]:
    """The ``serving`` section of the ``kind`` files ({} if none), readable.

    Raises:
        ServiceConfigError: the files cannot be read, or the section is no
            mapping.
    """
    try:
        content = loader[kind]
    except MissingConfigException:  # no such files: nothing configured
        return {}
    except Exception as exc:  # a YAML error, environments that cannot merge
        raise ServiceConfigError(
            f"the {kind} of {loader.conf_source} cannot be read: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    section = content.get(SECTION) if isinstance(content, Mapping) else None
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise ServiceConfigError(
            f"{SECTION} in the {kind} must be a mapping of settings; "
            f"got {type(section).__name__}"
        )
    return dict(section)


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
    project_path: Path,
    *,
    env: str | None = None,
    model: str | None = None,
    model_sha256: str | None = None,
) -> ServiceSettings:
    """The settings ``kedro serve`` runs with: the project's ``serving``
    parameters and API key (environment ``env``), and the model to serve.

    Raises:
        ServiceConfigError: a parameter is invalid, or a key is in conf/base.
    """
    conf = project_path / "conf"
    if env is not None and not (conf / env).is_dir():
        known = sorted(path.name for path in conf.iterdir() if path.is_dir())
        raise ServiceConfigError(
            f"no configuration environment {env!r}: {conf / env} is no folder "
            f"(environments: {', '.join(known) or 'none'})"
        )
    loader = OmegaConfigLoader(
        conf_source=str(conf),
        env=env,
        base_env="base",
        default_run_env="local",
        merge_strategy={"parameters": "soft"},
        custom_resolvers=CATALOG_RESOLVERS,
    )
    limits = serving_parameters(loader)
    return ServiceSettings(
        model=model,
        model_sha256=model_sha256,
        project_path=project_path,
        api_key=configured_api_key(loader),
        **limits.model_dump(),  # every parameter, as validated
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
