"""The model registry: ``purchase-model`` versions, the ``champion`` alias, the gate.

Every successful training run registers its model as a new version of
``purchase-model`` in the MLflow registry of the tracking store (a local SQLite
file by default, ``tracking.py``). The ``champion`` alias is "the current model":
inference, ``PurchasePredictor()``, ``kedro serve`` and the reports load the Kedro
version the champion's tags name, and that file is checked against the SHA-256
the training run recorded (``artifact.py``), whichever store it came from.

A new version becomes ``champion`` only if it is at least as good as the current
champion on the selection metric, both scored on the same rows (the new run's
test part), or if there is no champion yet; otherwise it is the ``challenger``
(``gate_decision``). ``registry.promote: always|never`` overrides the gate.

MLflow is imported where it is used: scoring from Python needs it only to look
a version up.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kedro.io.core import VersionNotFoundError
from pydantic import BaseModel, ConfigDict, Field

from customer_purchase_prediction.atomic_datasets import JSONDataset
from customer_purchase_prediction.errors import (
    ModelNotFoundError,
    PurchasePredictionError,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from customer_purchase_prediction.manifest import ManifestFile

logger = logging.getLogger(__name__)

MODEL_NAME = "purchase-model"
TRACKING_SECTION = "tracking"
CHAMPION = "champion"
CHALLENGER = "challenger"
# Tags each registered version carries: where its file is and what it must hash to.
KEDRO_VERSION_TAG = "kedro_version"
SHA256_TAG = "sha256"
ARTIFACT_TAG = "artifact_file"
TRACKING_URI_VARIABLE = "MLFLOW_TRACKING_URI"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
MLFLOW_PATTERNS = ["mlflow*", "mlflow*/**", "**/mlflow*"]
# A Kedro save version, e.g. 2026-12-01T19.04.26.123Z.
KEDRO_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z$")
ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")  # champion, challenger, ...
MODELS_URI = re.compile(
    r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>.+))$"
)


class TrackingError(PurchasePredictionError):
    """The tracking store or the registry cannot be used as configured."""


class TrackingParams(BaseModel):
    """The ``tracking`` parameters: whether a training run must be tracked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # True: a store that cannot be written stops training before any work.
    # False: a warning, and the run trains untracked (and unregistered).
    required: bool = True
    timeout_seconds: float = Field(3.0, gt=0, le=60)


class RegistryParams(BaseModel):
    """The ``registry`` parameters: how a new version's alias is decided."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # gate: champion only if at least as good as the champion on the same rows.
    promote: Literal["gate", "always", "never"] = "gate"


# ------------------------------------------------------------------ references
@dataclass(frozen=True)
class ModelReference:
    """What a user asked for: a registry version, an alias, or a Kedro version."""

    registry_version: str | None = None
    alias: str | None = None
    kedro_version: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelReference:
        """``3``, ``champion``, ``models:/purchase-model/3``, ``models:/...@alias``
        or a Kedro version (``2026-12-01T19.04.26.123Z``).

        Raises:
            ModelNotFoundError: a ``models:/`` URI names another model.
        """
        text = text.strip()
        match = MODELS_URI.match(text)
        if match:
            if match["name"] != MODEL_NAME:
                raise ModelNotFoundError(
                    f"{text} names the registered model '{match['name']}'; this "
                    f"project registers '{MODEL_NAME}' (e.g. models:/{MODEL_NAME}/1)"
                )
            return cls(registry_version=match["version"], alias=match["alias"])
        if text.isdigit():
            return cls(registry_version=text)
        if KEDRO_VERSION.match(text):
            return cls(kedro_version=text)
        return cls(alias=text)


@dataclass(frozen=True)
class RegisteredModel:
    """One registered version: its number, aliases, Kedro version and hash."""

    version: str
    kedro_version: str
    sha256: str
    aliases: tuple[str, ...] = ()
    source: str | None = None
    run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """What the run summary and ``get_model_info()`` say of it."""
        return {
            "registered_model": MODEL_NAME,
            "registry_version": self.version,
            "aliases": list(self.aliases),
            "uri": f"models:/{MODEL_NAME}/{self.version}",
            "run_id": self.run_id,
        }


# ------------------------------------------------------------------ the gate
def gate_decision(
    metric: str,
    new_score: float,
    champion_score: float | None,
    champion_version: str | None,
    params: RegistryParams,
) -> dict[str, Any]:
    """Whether a new version becomes ``champion`` or ``challenger``, and why.

    Both scores are of the same rows (the new run's test part). A champion with
    no score (NaN: one class only) never blocks a new version.
    """
    delta = None
    if champion_score is not None and not math.isnan(champion_score):
        delta = float(new_score - champion_score)
    if params.promote == "always":
        alias, reason = CHAMPION, "registry.promote=always"
    elif params.promote == "never":
        alias, reason = CHALLENGER, "registry.promote=never"
    elif champion_version is None:
        alias, reason = CHAMPION, "there is no champion yet"
    elif delta is None or delta >= 0:
        alias, reason = CHAMPION, f"at least as good as champion {champion_version}"
    else:
        alias, reason = CHALLENGER, f"worse than champion {champion_version}"
    return {
        "alias": alias,
        "reason": reason,
        "metric": metric,
        "new_score": float(new_score),
        "champion_version": champion_version,
        "champion_score": None if champion_score is None else float(champion_score),
        "delta": delta,
        "promote": params.promote,
    }


# ------------------------------------------------------------------ the store
def absolute_uri(uri: str, root: Path) -> str:
    """``uri`` with a relative SQLite or file path made relative to ``root``."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
        return prefix + (root / uri[len(prefix) :]).as_posix()
    if "://" not in uri and not Path(uri).is_absolute():
        return (root / uri).as_uri()
    return uri


def configured_uri(configured: str | None = None) -> str:
    """The tracking URI: ``MLFLOW_TRACKING_URI`` if set, else ``configured``.

    ``${tracking_uri:DEFAULT}`` in ``mlflow.yml`` (``TRACKING_RESOLVERS``), so
    that kedro-mlflow, which prefers the file to the variable, takes it too.
    """
    return os.environ.get(TRACKING_URI_VARIABLE) or configured or DEFAULT_TRACKING_URI


TRACKING_RESOLVERS = {"tracking_uri": configured_uri}


def tracking_config(root: Path, env: str | None = None) -> dict[str, Any]:
    """A project's ``mlflow.yml`` (base, then ``env`` or ``local``), resolved."""
    from kedro.config import MissingConfigException, OmegaConfigLoader  # noqa: PLC0415

    from customer_purchase_prediction.output_paths import (  # noqa: PLC0415
        CATALOG_RESOLVERS,
    )

    loader = OmegaConfigLoader(
        conf_source=str(root / "conf"),
        env=env,
        base_env="base",
        default_run_env="local",
        config_patterns={"mlflow": MLFLOW_PATTERNS},
        custom_resolvers={**CATALOG_RESOLVERS, **TRACKING_RESOLVERS},
    )
    try:
        return dict(loader["mlflow"])
    except MissingConfigException:
        return {}


def tracking_uri(config: dict[str, Any], root: Path) -> str:
    """The tracking URI ``mlflow.yml`` names, relative paths under ``root``."""
    server = config.get("server") or {}
    return absolute_uri(configured_uri(server.get("mlflow_tracking_uri")), root)


def registry_uri(config: dict[str, Any], root: Path) -> str | None:
    """The registry URI ``mlflow.yml`` names, if other than the tracking URI."""
    uri = (config.get("server") or {}).get("mlflow_registry_uri")
    return absolute_uri(uri, root) if uri else None


def project_registry(root: Path, env: str | None = None) -> ModelRegistry:
    """The registry of a project's ``mlflow.yml`` (``MLFLOW_TRACKING_URI`` first)."""
    config = tracking_config(root, env)
    return ModelRegistry(tracking_uri(config, root), registry_uri(config, root))


def existing_registry(root: Path, env: str | None = None) -> ModelRegistry | None:
    """The project's registry, or ``None`` if its local SQLite store does not
    exist yet (no tracked run so far: the manifest is then the record). Reading
    never creates a store."""
    registry = project_registry(root, env)
    prefix = "sqlite:///"
    uri = registry.registry_uri
    if uri.startswith(prefix) and not Path(uri[len(prefix) :]).is_file():
        return None
    return registry


class ModelRegistry:
    """``purchase-model`` in one MLflow registry."""

    def __init__(self, tracking_uri: str, registry_uri: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri
        self._client: MlflowClient | None = None

    @property
    def client(self) -> MlflowClient:
        """The MLflow client, made on first use."""
        if self._client is None:
            from mlflow import MlflowClient  # noqa: PLC0415 - heavy, on demand

            self._client = MlflowClient(
                tracking_uri=self.tracking_uri, registry_uri=self.registry_uri
            )
        return self._client

    def versions(self) -> list[RegisteredModel]:
        """Every registered version, oldest first (none before the first run)."""
        found = self._call(
            lambda: self.client.search_model_versions(f"name='{MODEL_NAME}'")
        )
        if not found:
            return []
        # A search leaves a version's aliases out; the registered model has them.
        aliases: dict[str, list[str]] = {}
        model = self._call(lambda: self.client.get_registered_model(MODEL_NAME))
        for alias, version in dict(getattr(model, "aliases", None) or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        return sorted(
            (
                self._entry(v, tuple(sorted(aliases.get(str(v.version), []))))
                for v in found
            ),
            key=lambda m: int(m.version),
        )

    def by_alias(self, alias: str) -> RegisteredModel | None:
        """The version ``alias`` points to, or ``None``."""
        from mlflow.exceptions import MlflowException  # noqa: PLC0415

        try:
            found = self.client.get_model_version_by_alias(MODEL_NAME, alias)
        except MlflowException as exc:
            if _missing(exc):
                return None
            raise self._error(exc) from exc
        except Exception as exc:
            raise self._error(exc) from exc
        return self._entry(found)

    def champion(self) -> RegisteredModel | None:
        """The current champion, or ``None`` before the first promotion."""
        return self.by_alias(CHAMPION)

    def resolve(self, reference: ModelReference) -> RegisteredModel:
        """The registered version a reference names.

        Raises:
            ModelNotFoundError: no such version or alias, naming those there are.
        """
        if reference.alias is not None:
            found = self.by_alias(reference.alias)
        else:
            wanted = reference.registry_version or ""
            found = next(
                (
                    m
                    for m in self.versions()
                    if m.version == wanted
                    or (reference.kedro_version == m.kedro_version)
                ),
                None,
            )
        if found is None:
            raise ModelNotFoundError(
                f"no {_shown(reference)} in the registry {self.tracking_uri}; "
                f"registered versions: {self.summary()}. See 'kedro model list'"
            )
        return found

    def summary(self) -> str:
        """``1, 2 (champion), 3 (challenger)`` or ``none``."""
        shown = [
            m.version + (f" ({', '.join(m.aliases)})" if m.aliases else "")
            for m in self.versions()
        ]
        return ", ".join(shown) or "none"

    def register(
        self, model_uri: str, *, run_id: str | None, tags: dict[str, str]
    ) -> RegisteredModel:
        """A new version of ``purchase-model`` from a logged model."""

        def create() -> Any:
            from mlflow.exceptions import MlflowException  # noqa: PLC0415

            try:
                self.client.get_registered_model(MODEL_NAME)
            except MlflowException as exc:
                if not _missing(exc):
                    raise
                self.client.create_registered_model(
                    MODEL_NAME, description="Customer purchase probability"
                )
            return self.client.create_model_version(
                MODEL_NAME, model_uri, run_id=run_id, tags=tags
            )

        return self._entry(self._call(create))

    def set_alias(self, alias: str, version: str) -> None:
        """Point ``alias`` at ``version``."""
        self._call(
            lambda: self.client.set_registered_model_alias(MODEL_NAME, alias, version)
        )

    def _entry(
        self, version: Any, aliases: tuple[str, ...] | None = None
    ) -> RegisteredModel:
        tags = dict(version.tags or {})
        return RegisteredModel(
            version=str(version.version),
            kedro_version=tags.get(KEDRO_VERSION_TAG, ""),
            sha256=tags.get(SHA256_TAG, ""),
            aliases=tuple(version.aliases or ()) if aliases is None else aliases,
            source=version.source,
            run_id=version.run_id,
            tags=tags,
        )

    def _call(self, action: Any) -> Any:
        from mlflow.exceptions import MlflowException  # noqa: PLC0415

        try:
            return action()
        except MlflowException as exc:
            if _missing(exc):
                return []
            raise self._error(exc) from exc
        except Exception as exc:
            raise self._error(exc) from exc

    def _error(self, exc: BaseException) -> TrackingError:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return TrackingError(
            f"the model registry at {self.tracking_uri} cannot be used "
            f"({type(exc).__name__}: {first}); check the tracking URI "
            f"({TRACKING_URI_VARIABLE} or conf/local/mlflow.yml)"
        )


def _missing(exc: Any) -> bool:
    code = getattr(exc, "error_code", "")
    return code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc).lower()


def _shown(reference: ModelReference) -> str:
    if reference.alias is not None:
        return f"alias '{reference.alias}' of {MODEL_NAME}"
    if reference.registry_version is not None:
        return f"version {reference.registry_version} of {MODEL_NAME}"
    return f"version of {MODEL_NAME} trained as Kedro version {reference.kedro_version}"


# ------------------------------------------------------------------ current model
class RegistryCurrentModel:
    """The current model is the registry's ``champion`` (a ``CurrentModelSource``).

    The manifest keeps a mirror of each promotion (``current`` and ``history``),
    so a reader can see what was champion when; the registry decides.
    """

    def __init__(self, registry: ModelRegistry, manifest: ManifestFile) -> None:
        self.registry = registry
        self.manifest = manifest

    def current_version(self) -> str | None:
        """The Kedro version of the champion, or ``None`` if there is none yet."""
        champion = self.registry.champion()
        return champion.kedro_version if champion else None

    def make_current(self, version: str, reason: str) -> None:
        """Make the registered version trained as Kedro ``version`` the champion."""
        found = self.registry.resolve(ModelReference(kedro_version=version))
        self.promote(found, reason)

    def promote(self, found: RegisteredModel, reason: str) -> None:
        """Point ``champion`` at ``found`` and mirror it in the manifest."""
        self.registry.set_alias(CHAMPION, found.version)
        if found.kedro_version in self.manifest.read().versions:
            self.manifest.set_current(
                found.kedro_version,
                f"{reason} (registry version {found.version} is {CHAMPION})",
            )


def download_artifact(registry: ModelRegistry, registered: RegisteredModel) -> Path:
    """The skops file of a registered version, fetched from ``registry``'s store."""
    import mlflow  # noqa: PLC0415

    uri = f"models:/{MODEL_NAME}/{registered.version}"
    try:
        source = registry.client.get_model_version_download_uri(
            MODEL_NAME, registered.version
        )
        folder = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=source, tracking_uri=registry.tracking_uri
            )
        )
    except Exception as exc:
        raise ModelNotFoundError(
            f"{uri} is registered in {registry.tracking_uri} but its files cannot "
            f"be fetched ({type(exc).__name__}: {exc})"
        ) from exc
    name = registered.tags.get(ARTIFACT_TAG, "")
    found = sorted(folder.rglob(name)) if name else []
    if not found:
        raise ModelNotFoundError(f"{uri} holds no artifact file named '{name}'")
    return found[0]


class GateDecisionDataset(JSONDataset):
    """The gate's decision of a training run (crash-safe JSON, versioned), or
    ``None`` for a model version whose run made none (trained before the
    registry existed), so that its reports can still be recreated."""

    def load(self) -> dict[str, Any] | None:
        """The decision, or ``None`` if this version has none."""
        try:
            found = self._exists()
        except VersionNotFoundError:
            found = False
        return super().load() if found else None
