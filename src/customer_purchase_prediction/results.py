"""Typed results that pass between nodes, saved as JSON by ``TypedJSONDataset``.

Modelling produces ``TuningSummary`` (per candidate), ``Selection`` and the test
metrics; reporting reads them. Each is a frozen pydantic model, so a node gets
attributes (``selection.thresholds[name]``) instead of string lookups, and the JSON
files keep the shape they always had.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, RootModel


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MeanStd(_Result):
    """A metric's mean and standard deviation over cross-validation folds."""

    mean: float
    std: float


Metrics = dict[str, float]
CVMetrics = dict[str, MeanStd]


class TuningSummary(_Result):
    """The chosen configuration of one candidate and how it cross-validated."""

    params: dict[str, Any]
    cv_threshold: float
    selection_score: float
    cv: CVMetrics

    def cv_dict(self) -> dict[str, dict[str, float]]:
        """The CV metrics as plain ``{metric: {"mean": ..., "std": ...}}``."""
        return {metric: value.model_dump() for metric, value in self.cv.items()}


class CandidateTuning(RootModel[dict[str, TuningSummary]]):
    """Every tuned candidate's ``TuningSummary``, by candidate name, in order."""

    model_config = ConfigDict(frozen=True)

    def __getitem__(self, name: str) -> TuningSummary:
        return self.root[name]

    def __iter__(self) -> Any:  # names, like a dict
        return iter(self.root)

    def items(self) -> Any:
        """``(name, summary)`` pairs, in order."""
        return self.root.items()


class Selection(_Result):
    """Which candidate was selected, by what, and each candidate's threshold."""

    selected_model: str
    selection_metric: str
    selection_scores: dict[str, float]
    contenders: list[str]
    thresholds: dict[str, float]
    validation: dict[str, Metrics]
    tie_break: str = "roc_auc"  # the CV metric that chose among the contenders


class CandidateTestMetrics(RootModel[dict[str, Metrics]]):
    """Each candidate's metrics on the test part, at its own threshold."""

    model_config = ConfigDict(frozen=True)

    def __getitem__(self, name: str) -> Metrics:
        return self.root[name]

    def __iter__(self) -> Any:
        return iter(self.root)

    def items(self) -> Any:
        """``(name, metrics)`` pairs, in order."""
        return self.root.items()
