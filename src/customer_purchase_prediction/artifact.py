"""The model artifact: a format that runs no code, a recorded hash, a recorded choice.

Three guarantees, each checked on every load:

- **No code runs.** Models are saved with skops (``skops.io``), which stores
  objects as data and rebuilds only the types it is told to trust: this
  project's own classes and the types the candidate registry declares
  (``Candidate.artifact_types``). A file holding anything else is refused before
  any object is built. Pickle is never used for anything a run loads.
- **The file is the one training wrote.** The training run records each saved
  version's SHA-256 and size in a manifest beside the artifacts
  (``data/06_models/model_manifest.json``). A file whose hash, size or format does
  not match (tampered, replaced, truncated by a crash mid-save) is refused with
  one line, naming the file and what is wrong.
- **The current model is a recorded choice.** It is the model registry's
  ``champion`` alias (``registry.RegistryCurrentModel``, set by the gate once a
  training run succeeded, ``tracking.py``), or, without a tracking store, the
  version the manifest names (``hooks.RecordCurrentModel``); inference,
  ``PurchasePredictor()`` and the reports load that one, not the
  highest-sorting folder. Where the choice comes from is a
  ``CurrentModelSource``; the readers are the same either way.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import skops
import skops.io as sio
from kedro.io import AbstractDataset, AbstractVersionedDataset, Version
from kedro.io.core import get_filepath_str, get_protocol_and_path

from customer_purchase_prediction.atomic import write_bytes
from customer_purchase_prediction.calibration import ProbabilityCalibrator
from customer_purchase_prediction.candidates import registry
from customer_purchase_prediction.errors import ModelArtifactError, ModelNotFoundError
from customer_purchase_prediction.features import SessionFeatures
from customer_purchase_prediction.manifest import (
    MANIFEST_NAME,
    ArtifactEntry,
    CurrentModelSource,
    ManifestCurrentModel,
    ManifestFile,
    first_line,
    now,
)
from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.registry import (
    ModelReference,
    RegisteredModel,
    RegistryCurrentModel,
    download_artifact,
)

logger = logging.getLogger(__name__)

MODEL_DATASET = "purchase_model"  # the catalog entry of the artifact
ARTIFACT_FORMAT = f"skops {skops.__version__}"
# The project's own types every artifact may hold.
_PROJECT_TYPES: tuple[type, ...] = (
    PurchaseModel,
    SessionFeatures,
    ProbabilityCalibrator,
)


def type_name(kind: type) -> str:
    """``module.QualifiedName``, as skops names a type."""
    return f"{kind.__module__}.{kind.__qualname__}"


def trusted_types() -> list[str]:
    """Every type an artifact may hold beyond skops' own defaults.

    The project's classes, each registered candidate's estimator class and the
    types it declares in ``artifact_types``. Read from the registry at call time,
    so a candidate registered later is trusted too.
    """
    names = {type_name(kind) for kind in _PROJECT_TYPES}
    for candidate in registry().values():
        names.add(type_name(candidate.estimator))
        names.update(
            kind if isinstance(kind, str) else type_name(kind)
            for kind in candidate.artifact_types
        )
    return sorted(names)


def dumps(obj: Any) -> bytes:
    """``obj`` as skops bytes.

    Raises:
        ModelArtifactError: ``obj`` holds a type nobody declared trusted, so
            the artifact could not be loaded back; raised at training time
            rather than at the first scoring run.
    """
    data = sio.dumps(obj, compression=zipfile.ZIP_DEFLATED)
    unknown = sorted(set(sio.get_untrusted_types(data=data)) - set(trusted_types()))
    if unknown:
        raise ModelArtifactError(
            f"the artifact would hold types no candidate declares trusted: "
            f"{', '.join(unknown)}; add them to the candidate's artifact_types "
            f"in candidates.py"
        )
    return data


def loads(data: bytes, source: str) -> Any:
    """Rebuild an object from skops bytes, trusting only ``trusted_types()``.

    Raises:
        ModelArtifactError: the bytes are not a skops file, are cut short, or
            hold a type that is not trusted; the message names ``source``.
    """
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ModelArtifactError(
            f"{source} is not a model artifact of this project: not a skops file "
            f"({_describe_bytes(data)}); refusing to load it"
        )
    try:
        untrusted = set(sio.get_untrusted_types(data=data)) - set(trusted_types())
        if untrusted:
            raise ModelArtifactError(
                f"{source} holds types this project does not trust "
                f"({', '.join(sorted(untrusted))}); refusing to load it"
            )
        return sio.loads(data, trusted=trusted_types())
    except ModelArtifactError:
        raise
    except Exception as exc:  # any parse failure is one answer: unreadable
        raise ModelArtifactError(
            f"{source} is not a readable model artifact "
            f"({type(exc).__name__}: {first_line(exc)}); refusing to load it"
        ) from exc


def sha256(data: bytes) -> str:
    """The SHA-256 of ``data``, as hex."""
    return hashlib.sha256(data).hexdigest()


def _describe_bytes(data: bytes) -> str:
    if not data:
        return "the file is empty"
    if data[:2] == b"PK":
        return "a zip archive cut short or damaged"
    if data[:1] == b"\x80":
        return "it looks like a pickle, which this project never loads"
    return f"{len(data):,} bytes starting {data[:16]!r}"


# ------------------------------------------------------------------- datasets
def _local_path(filepath: str) -> Path:
    protocol, path = get_protocol_and_path(filepath)
    if protocol != "file":
        raise ModelArtifactError(
            f"{filepath}: model artifacts are kept on the local file system; "
            f"'{protocol}://' is not supported"
        )
    return Path(path)


class SkopsDataset(AbstractDataset[Any, Any]):
    """An intermediate training object (transformer, fitted candidates) as skops.

    Loaded with the same trusted types as the model artifact, so nothing a
    training run reads back can run code planted in its place.
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None):
        self._path = _local_path(filepath)
        self.metadata = metadata

    def load(self) -> Any:
        """The object, rebuilt from trusted types only."""
        if not self._path.exists():
            raise ModelNotFoundError(f"{self._path} does not exist")
        return loads(self._path.read_bytes(), str(self._path))

    def save(self, data: Any) -> None:
        """Write the object atomically."""
        write_bytes(self._path, dumps(data))

    def _exists(self) -> bool:
        return self._path.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path), "format": ARTIFACT_FORMAT}


class ModelArtifactDataset(AbstractVersionedDataset[PurchaseModel, PurchaseModel]):
    """The versioned ``PurchaseModel``: skops file, recorded hash, recorded choice.

    Save writes ``<filepath>/<version>/<name>`` atomically and records its hash
    in the manifest. Load takes the version given with ``--load-versions`` (or
    ``PurchasePredictor(version=...)``), else the version this dataset saved in
    this run, else the current one; it checks the file against the manifest,
    rebuilds it from trusted types only and sets the model's ``version``.

    Args:
        filepath: The artifact's path (versions are folders under it).
        version: Kedro's load and save versions.
        manifest: The manifest file; ``model_manifest.json`` beside the
            artifact's folder when omitted.
    """

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        manifest: str | None = None,
        model: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        path = _local_path(filepath)
        super().__init__(filepath=PurePosixPath(path.as_posix()), version=version)
        self._manifest = ManifestFile(manifest or path.parent / MANIFEST_NAME)
        self._current: CurrentModelSource = ManifestCurrentModel(self._manifest)
        self._saved_version: str | None = None
        # --params=model=...: a registry version, an alias, models:/... or a
        # Kedro version; None: the current model (the champion).
        self._model = str(model) if model not in (None, "") else None
        self.metadata = metadata

    def use_current_source(self, source: CurrentModelSource) -> None:
        """Take the current model from ``source`` (the registry's champion)."""
        self._current = source

    @property
    def current_source(self) -> CurrentModelSource:
        """Where the choice of the current model comes from."""
        return self._current

    @property
    def saved_version(self) -> str | None:
        """The version this dataset saved in this run, if any."""
        return self._saved_version

    def file_path(self, version: str) -> Path:
        """The artifact file of ``version``."""
        return Path(get_filepath_str(self._get_versioned_path(version), "file"))

    @property
    def manifest(self) -> ManifestFile:
        """The manifest this dataset records to and verifies against."""
        return self._manifest

    def resolve_load_version(self) -> str | None:
        """Asked for, else saved by this run, else the recorded current version.

        Raises:
            ModelNotFoundError: none was asked for and none is current yet.
        """
        if self._version is not None and self._version.load:
            return self._version.load
        if self._saved_version is not None:
            return self._saved_version
        if self._model is not None:
            return self._referenced_version(self._model)
        current = self._current.current_version()
        if current is None:
            raise ModelNotFoundError(
                f"no current model recorded in {self._manifest.path}; run 'kedro run' "
                f"first to train one (or name a version with "
                f"--load-versions=purchase_model:<version>)"
            )
        return current

    def referenced_version(self, text: str) -> str:
        """The Kedro version a reference names (see ``registry.ModelReference``).

        Raises:
            ModelNotFoundError: nothing registered or recorded answers to it.
        """
        return self._referenced_version(text)

    def _referenced_version(self, text: str) -> str:
        """The Kedro version ``--params=model=...`` names."""
        reference = ModelReference.parse(text)
        if reference.kedro_version is not None:
            return reference.kedro_version
        if not isinstance(self._current, RegistryCurrentModel):
            raise ModelNotFoundError(
                f"model={text} names a registered version, but this run has no "
                f"model registry (tracking is off); name a Kedro version instead "
                f"(kedro model list): {', '.join(self.available_versions()) or 'none'}"
            )
        return self._current.registry.resolve(reference).kedro_version

    def load(self) -> PurchaseModel:
        """The recorded, verified model of the resolved version.

        With the registry as the current-model source, the model's ``artifact``
        mapping names its registry version and aliases too; a version registered
        elsewhere (a shared server) whose file is not here is downloaded from
        the registry and checked against the SHA-256 it was registered with.
        """
        version = self.resolve_load_version()
        assert version is not None  # noqa: S101 - versioned: never None
        registered = self._registered(version)
        source = self._current
        if (
            registered is not None
            and isinstance(source, RegistryCurrentModel)
            and version not in self._manifest.read().versions
        ):
            model = load_artifact_file(
                download_artifact(source.registry, registered),
                expected_sha256=registered.sha256,
            )
            model.artifact = {"sha256": registered.sha256}
        else:
            model = self.load_verified(version)
        model.version = version
        if registered is not None:
            model.artifact = {**(model.artifact or {}), **registered.describe()}
        return model

    def _registered(self, version: str) -> RegisteredModel | None:
        if not isinstance(self._current, RegistryCurrentModel):
            return None
        registry = self._current.registry
        return next(
            (m for m in registry.versions() if m.kedro_version == version), None
        )

    def load_verified(self, version: str) -> PurchaseModel:
        """The model saved as ``version``, checked against its manifest entry.

        Raises:
            ModelNotFoundError: the version was never recorded, or its file is gone.
            ModelArtifactError: the file is not the one recorded (hash, size,
                format) or is not a ``PurchaseModel``.
        """
        entry = self._manifest.read().versions.get(version)
        path = Path(get_filepath_str(self._get_versioned_path(version), "file"))
        if entry is None:
            known = ", ".join(self.available_versions()) or "none"
            raise ModelNotFoundError(
                f"model version '{version}' was not recorded by a training run in "
                f"{self._manifest.path}; refusing {path}. Recorded versions: {known}"
            )
        if not path.is_file():
            raise ModelNotFoundError(
                f"model version '{version}' is recorded but its file {path} is missing"
            )
        return verified_model(path.read_bytes(), entry, str(path))

    def save(self, data: PurchaseModel) -> None:
        """Write the artifact atomically, then record its hash in the manifest."""
        version = self.resolve_save_version()
        assert version is not None  # noqa: S101 - versioned: never None
        payload = dumps(data)
        path = Path(get_filepath_str(self._get_versioned_path(version), "file"))
        write_bytes(path, payload)
        metadata = data.metadata
        metric = metadata.get("selection_metric")
        self._manifest.record_version(
            version,
            ArtifactEntry(
                file=_relative(path, self._manifest.path.parent),
                sha256=sha256(payload),
                bytes=len(payload),
                format=ARTIFACT_FORMAT,
                saved_at=now(),
                model_name=data.name,
                selection_metric=metric,
                test_score=(metadata.get("test") or {}).get(metric),
                training_rows=metadata.get("training_rows"),
            ),
        )
        self._saved_version = version

    def make_current(self, version: str | None = None, *, reason: str) -> str:
        """Record ``version`` (by default the one this dataset saved) as current."""
        chosen = version or self._saved_version or self.resolve_save_version()
        assert chosen is not None  # noqa: S101 - versioned: never None
        self._current.make_current(chosen, reason)
        logger.info(
            "Current model is now version %s (recorded in %s)",
            chosen,
            self._manifest.path,
        )
        return chosen

    def available_versions(self) -> list[str]:
        """Versions the manifest records, oldest first."""
        return sorted(self._manifest.read().versions)

    def current_version(self) -> str | None:
        """The recorded current version (``None`` before the first training run)."""
        return self._current.current_version()

    def _exists(self) -> bool:
        try:
            version = self.resolve_load_version()
        except ModelNotFoundError:
            return False
        return version in self._manifest.read().versions

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": str(self._filepath),
            "version": self._version,
            "manifest": str(self._manifest.path),
            "format": ARTIFACT_FORMAT,
        }


def _relative(path: Path, folder: Path) -> str:
    """``path`` as the manifest records it: relative to the manifest's folder."""
    return Path(os.path.relpath(path.resolve(), folder.resolve())).as_posix()


def verified_model(data: bytes, entry: ArtifactEntry, source: str) -> PurchaseModel:
    """The ``PurchaseModel`` in ``data``, if ``data`` is exactly what ``entry`` records.

    Raises:
        ModelArtifactError: size or hash differ, or the file is not a model.
    """
    if len(data) != entry.bytes or sha256(data) != entry.sha256:
        problem = (
            f"it is {len(data):,} bytes, the training run wrote {entry.bytes:,} "
            "(cut short by a crash, or replaced)"
            if len(data) != entry.bytes
            else "its SHA-256 differs from the one the training run recorded "
            "(modified or replaced)"
        )
        raise ModelArtifactError(
            f"{source} is not the artifact training saved: {problem}; "
            f"refusing to load it"
        )
    model = checked_model(loads(data, source), source)
    model.artifact = {"path": source, **entry.model_dump()}
    return model


def checked_model(obj: Any, source: str) -> PurchaseModel:
    """``obj`` if it is a ``PurchaseModel``.

    Raises:
        ModelArtifactError: it is something else.
    """
    if not isinstance(obj, PurchaseModel):
        raise ModelArtifactError(
            f"{source} holds a {type(obj).__name__}, not a PurchaseModel"
        )
    return obj


def load_artifact_file(
    path: str | Path, *, expected_sha256: str | None = None
) -> PurchaseModel:
    """A model from an artifact file given by path (``PurchasePredictor(path)``).

    The file is checked against the manifest of the project folder it sits in
    when it is a recorded version (``.../purchase_model.skops/<version>/...``),
    or against ``expected_sha256`` when given; otherwise only its format is
    checked (it is still rebuilt from trusted types only, so it runs no code),
    and a warning says it was not verified.

    Raises:
        ModelNotFoundError: no file at ``path``.
        ModelArtifactError: the file is not a recorded, intact artifact.
    """
    file = Path(path)
    if not file.is_file():
        raise ModelNotFoundError(
            f"no model artifact at {file}"
            + (" (it is a folder)" if file.is_dir() else "")
        )
    data = file.read_bytes()
    source = str(file)
    if expected_sha256 is not None:
        if sha256(data) != expected_sha256.lower():
            raise ModelArtifactError(
                f"{source} is not the expected artifact: its SHA-256 is "
                f"{sha256(data)}, expected {expected_sha256}; refusing to load it"
            )
        return checked_model(loads(data, source), source)
    manifest_path, entry, version = _recorded_entry(file)
    if manifest_path is not None and entry is None:
        raise ModelArtifactError(
            f"{source} sits beside the model manifest {manifest_path} but no "
            f"training run recorded it; refusing to load it"
        )
    if entry is None:
        logger.warning(
            "%s is not recorded in a model manifest: format checked, hash not verified",
            source,
        )
        return checked_model(loads(data, source), source)
    model = verified_model(data, entry, source)
    model.version = version
    return model


def is_recorded_artifact(path: str | Path) -> bool:
    """Whether a training run recorded the file at ``path`` in the manifest of
    its project (so loading it checks its hash without being told one)."""
    return _recorded_entry(Path(path))[1] is not None


def _recorded_entry(
    file: Path,
) -> tuple[Path | None, ArtifactEntry | None, str | None]:
    """The manifest of ``<root>/<artifact>/<version>/<name>`` and its entry, if any."""
    resolved = file.resolve()
    for folder in resolved.parents[:3]:
        manifest_path = folder / MANIFEST_NAME
        if not manifest_path.is_file():
            continue
        manifest = ManifestFile(manifest_path).read()
        for version, entry in manifest.versions.items():
            if (folder / entry.file).resolve() == resolved:
                return manifest_path, entry, version
        return manifest_path, None, None
    return None, None, None


class CurrentModelDataset(ModelArtifactDataset):
    """The current model (the champion) as it was before this run, or ``None``.

    The registry gate's comparison reads it: the version asked for with
    ``--load-versions`` or saved by this run does not count here.
    """

    def load(self) -> PurchaseModel | None:  # type: ignore[override]
        """The current model, or ``None`` if there is none yet."""
        version = self._current.current_version()
        if version is None:
            return None
        model = self.load_verified(version)
        model.version = version
        registered = self._registered(version)
        if registered is not None:
            model.artifact = {**(model.artifact or {}), **registered.describe()}
        return model

    def save(self, data: PurchaseModel) -> None:
        """Refused: the current model is chosen, never written, here."""
        raise ModelArtifactError("the current model is read-only in a run")
