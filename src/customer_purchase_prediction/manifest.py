"""``model_manifest.json``: what each training run saved, and which model is current.

The training run that saves a model version records its file, SHA-256, size and
format here (``artifact.ModelArtifactDataset``). Readers ask a
``CurrentModelSource`` which version is current: with a tracking store, the
registry's ``champion`` alias (``registry.RegistryCurrentModel``), which this
file mirrors with each promotion's reason; without one, this file's record
(``ManifestCurrentModel``, set by ``hooks.RecordCurrentModel``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field, ValidationError

from customer_purchase_prediction.atomic import write_text
from customer_purchase_prediction.errors import ModelArtifactError, ModelNotFoundError

MANIFEST_NAME = "model_manifest.json"


class ArtifactEntry(BaseModel):
    """What the training run that wrote one version recorded about it."""

    file: str  # relative to the manifest's folder
    sha256: str
    bytes: int
    format: str
    saved_at: str
    model_name: str | None = None
    selection_metric: str | None = None
    test_score: float | None = None
    training_rows: int | None = None


class CurrentChoice(BaseModel):
    """Which version is current, since when and why."""

    version: str
    since: str
    reason: str


class Manifest(BaseModel):
    """``model_manifest.json``: every recorded version and the current one."""

    schema_version: int = 1
    current: CurrentChoice | None = None
    versions: dict[str, ArtifactEntry] = Field(default_factory=dict)
    history: list[CurrentChoice] = Field(default_factory=list)


class ManifestFile:
    """Reads and updates a manifest file (each update written atomically)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self) -> Manifest:
        """The manifest; an empty one when the file does not exist yet.

        Raises:
            ModelArtifactError: the file exists but is not a manifest.
        """
        if not self.path.exists():
            return Manifest()
        try:
            return Manifest.model_validate_json(self.path.read_bytes())
        except (ValidationError, ValueError, OSError) as exc:
            raise ModelArtifactError(
                f"{self.path} is not a readable model manifest ({first_line(exc)}); "
                f"no model can be verified against it"
            ) from exc

    def record_version(self, version: str, entry: ArtifactEntry) -> None:
        """Add (or replace) what was saved as ``version``."""
        manifest = self.read()
        manifest.versions[version] = entry
        self._write(manifest)

    def set_current(self, version: str, reason: str) -> CurrentChoice:
        """Make ``version`` (already recorded) the current model.

        Raises:
            ModelNotFoundError: no such version in the manifest.
        """
        manifest = self.read()
        if version not in manifest.versions:
            raise ModelNotFoundError(
                f"model version '{version}' is not recorded in {self.path}; recorded "
                f"versions: {', '.join(manifest.versions) or 'none'}"
            )
        choice = CurrentChoice(version=version, since=now(), reason=reason)
        manifest.current = choice
        manifest.history.append(choice)
        self._write(manifest)
        return choice

    def _write(self, manifest: Manifest) -> None:
        write_text(self.path, manifest.model_dump_json(indent=2) + "\n")


class CurrentModelSource(Protocol):
    """Where the choice of the current model comes from (the manifest, a registry)."""

    def current_version(self) -> str | None:
        """The current version, or ``None`` if no model was chosen yet."""

    def make_current(self, version: str, reason: str) -> None:
        """Record ``version`` as the current model."""


class ManifestCurrentModel:
    """The current model as the manifest records it."""

    def __init__(self, manifest: ManifestFile) -> None:
        self.manifest = manifest

    def current_version(self) -> str | None:
        """The version the manifest names as current."""
        current = self.manifest.read().current
        return current.version if current else None

    def make_current(self, version: str, reason: str) -> None:
        """Record ``version`` as current in the manifest."""
        self.manifest.set_current(version, reason)


def first_line(exc: BaseException) -> str:
    """The first line of an error's message, at most 200 characters."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no detail"


def now() -> str:
    """The time now, UTC, to the second, as the manifest records times."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def describe_versions(manifest: ManifestFile) -> Iterable[dict[str, Any]]:
    """One row per recorded version (for ``kedro model list``), oldest first."""
    recorded = manifest.read()
    current = recorded.current.version if recorded.current else None
    for version in sorted(recorded.versions):
        entry = recorded.versions[version]
        yield {
            "version": version,
            "current": version == current,
            **json.loads(entry.model_dump_json()),
        }
