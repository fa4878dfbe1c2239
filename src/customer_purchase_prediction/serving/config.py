"""The service's settings: where the model comes from, limits, the API key."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class ServiceSettings(BaseModel):
    """What ``create_app`` needs; ``kedro serve`` fills it from its options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = None  # a version, or a path to an artifact; None: current
    model_sha256: str | None = None
    project_path: Path | None = None
    max_batch: int = Field(1000, ge=1)
    max_body_bytes: int = Field(1 << 20, ge=1024)
    api_key: SecretStr | None = None

    @classmethod
    def from_environment(cls) -> ServiceSettings:
        """Settings for ``uvicorn --factory``: the defaults, the key from the
        environment (``PURCHASE_API_KEY``)."""
        key = os.environ.get("PURCHASE_API_KEY")
        return cls(api_key=SecretStr(key) if key else None)
