"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# Scoring and monitoring run on demand (``kedro run --pipelines=inference``,
# ``--pipelines=monitoring``), never as training.
NOT_TRAINING = frozenset({"inference", "monitoring"})


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines; ``__default__`` is the training run."""
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = sum(
        (pipe for name, pipe in pipelines.items() if name not in NOT_TRAINING),
        start=Pipeline([]),
    )
    return pipelines
