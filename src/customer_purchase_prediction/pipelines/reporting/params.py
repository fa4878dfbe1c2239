"""Typed parameters of the reporting pipeline (``reporting:`` key).

Kept next to the pipeline that reads them; validated by Kedro when the run starts,
so ``--params=reporting.top_features=0`` stops before any work, naming the key. The
business assumptions (contact cost, conversion value, currency) are the shared
``business:`` section (``business.py``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BootstrapParams(_Params):
    """Percentile bootstrap of the test metrics over the test rows."""

    n_resamples: int = Field(1000, ge=100, le=100_000)
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    seed: int = 42


class PermutationParams(_Params):
    """Permutation importance on the test part (drop in ROC AUC when shuffled)."""

    n_repeats: int = Field(10, ge=1, le=100)
    seed: int = 42
    max_rows: int = Field(
        20_000,
        ge=100,
        description="Shuffle a random sample of at most this many test rows.",
    )


class ReportingParams(_Params):
    """Knobs of the reporting pipeline (``reporting:`` key)."""

    calibration_bins: int = Field(10, ge=2, le=50)
    top_features: int = Field(15, ge=1, le=100)
    bootstrap: BootstrapParams = Field(default_factory=BootstrapParams)
    permutation: PermutationParams = Field(default_factory=PermutationParams)
    data_note: str = Field(
        "",
        description="What the training data is, quoted in the model card's "
        "training data and limitations sections.",
    )
