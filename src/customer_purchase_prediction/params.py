"""Typed parameters: a wrong value stops ``kedro run`` before any work, naming the key.

Kedro validates every ``params:`` node input whose type hint is one of these models
when the run starts. ``extra="forbid"`` makes a misspelt key an error, not a no-op.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataProcessingParams(_Params):
    """Knobs of the data_processing pipeline (``data_processing:`` key)."""

    outlier_iqr_multiplier: float = Field(
        3.0,
        gt=0,
        description="Tukey fence multiplier k: outliers lie beyond Q1 - k*IQR or "
        "Q3 + k*IQR of the kept rows (3.0 flags only far-out values).",
    )
    max_outlier_examples: int = Field(
        10, ge=0, description="How many outlying customer_ids the report lists."
    )
