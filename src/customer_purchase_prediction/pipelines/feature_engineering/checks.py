"""What training data must hold for the split, cross-validation and the transformer.

Every requirement is derived from the parameters and from the functions that
later use the data: the stratified split is run on the labels alone (the same
function the split node calls), so the counts it checks are the counts the
training run would get. A shortfall stops the run with one ``TrainingDataError``
saying what the data lacks and what the parameters require, before any model
is fitted, instead of a scikit-learn traceback later on (or, worse, a model
trained on a dozen rows).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from customer_purchase_prediction.columns import BY_NAME, FEATURE_COLUMNS, LABEL_COLUMN
from customer_purchase_prediction.errors import TrainingDataError
from customer_purchase_prediction.params import ModellingParams, SplitParams
from customer_purchase_prediction.tuning import stratified_subsample

# The column-spec missing rules that learn a statistic from the training rows.
LEARNED_FILLS = ("median", "mean_rounded")
CLASS_NAMES = {0: "non-buyers", 1: "buyers"}
TOP_REASONS = 3
# The smallest class size tried is 2 (stratifying needs two rows of a class);
# the search stops here, far above what any valid split and fold count need.
_MAX_MINIMUM = 10_000


class SplitPositions(NamedTuple):
    """Row positions of the train, validation and test parts."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def split_positions(labels: np.ndarray, split: SplitParams) -> SplitPositions:
    """The stratified train/validation/test split of rows with these labels.

    Raises:
        ValueError: scikit-learn cannot stratify the labels (too few rows).
    """
    positions = np.arange(len(labels))
    rest, test = train_test_split(
        positions, test_size=split.test, stratify=labels, random_state=split.seed
    )
    train, validation = train_test_split(
        rest,
        test_size=split.validation / (split.train + split.validation),
        stratify=labels[rest],
        random_state=split.seed,
    )
    return SplitPositions(train, validation, test)


def split_name(split: SplitParams) -> str:
    """``"70/15/15"``: the split fractions in percent."""
    parts = (split.train, split.validation, split.test)
    return "/".join(f"{round(part * 100, 2):g}" for part in parts)


def minimum_per_class(params: ModellingParams) -> int:
    """Rows of each class the split and ``cv_folds``-fold CV need, at least."""
    split = params.split
    return _minimum_per_class(
        split.train, split.validation, split.test, split.seed, params.cv_folds
    )


@functools.lru_cache(maxsize=64)
def _minimum_per_class(
    train: float, validation: float, test: float, seed: int, folds: int
) -> int:
    split = SplitParams(train=train, validation=validation, test=test, seed=seed)
    for count in range(2, _MAX_MINIMUM):
        labels = np.repeat(np.array([0, 1], dtype=np.int8), count)
        if _shortfall(labels, split, folds, max_rows=len(labels), seed=seed) is None:
            return count
    return _MAX_MINIMUM  # pragma: no cover - no valid parameters get here


def _shortfall(
    labels: np.ndarray, split: SplitParams, folds: int, *, max_rows: int, seed: int
) -> str | None:
    """Which part of the split lacks rows of a class, or ``None`` if none does."""
    try:
        parts = split_positions(labels, split)
    except ValueError as exc:
        return f"the stratified split cannot be made ({exc})"
    train_labels = stratified_subsample(
        pd.DataFrame({LABEL_COLUMN: labels[parts.train]}), max_rows, seed
    )[LABEL_COLUMN].to_numpy()
    needs = (
        ("training part", train_labels, folds, f"{folds}-fold cross-validation"),
        ("validation part", labels[parts.validation], 1, "tuning the threshold"),
        ("test part", labels[parts.test], 1, "the test metrics"),
    )
    for part, held, need, purpose in needs:
        for label, name in CLASS_NAMES.items():
            count = int((held == label).sum())
            if count < need:
                return (
                    f"the {part} would hold {count} {name}; {purpose} needs at "
                    f"least {need}"
                )
    return None


def check_training_sessions(
    sessions: pd.DataFrame,
    data_quality_report: Mapping[str, Any],
    params: ModellingParams,
) -> None:
    """Stop, saying what the data lacks, if these sessions cannot train a model.

    Raises:
        TrainingDataError: every row was rejected; one class only; fewer rows
            than ``modelling.min_training_rows`` or than the split and CV need;
            a column whose missing values are imputed has no value to learn from.
    """
    source = data_quality_report.get("source", "the training sessions")
    rows = data_quality_report.get("rows", {})
    if sessions.empty:
        raise TrainingDataError(_nothing_kept(source, rows, data_quality_report))
    labels = sessions[LABEL_COLUMN].to_numpy(dtype=np.int8)
    counts = {label: int((labels == label).sum()) for label in CLASS_NAMES}
    got = _counts_text(counts)
    present = [label for label, count in counts.items() if count]
    if len(present) == 1:
        raise TrainingDataError(
            f"training needs both buyers ({LABEL_COLUMN}=1) and non-buyers "
            f"({LABEL_COLUMN}=0); every valid row of {source} has {LABEL_COLUMN}="
            f"{present[0]} ({_rows(len(sessions))})"
        )
    if len(sessions) < params.min_training_rows:
        raise TrainingDataError(
            f"training needs at least {params.min_training_rows} valid rows "
            f"(modelling.min_training_rows); {source} has {len(sessions)} ({got}, "
            f"{rows.get('rejected', 0)} rejected). Train on more sessions, or lower "
            "modelling.min_training_rows"
        )
    minimum = minimum_per_class(params)
    plan = f"a {split_name(params.split)} split and {params.cv_folds}-fold CV"
    if min(counts.values()) < minimum:
        raise TrainingDataError(
            f"training needs at least {minimum} rows of each class for {plan}; "
            f"{source} has {got}. Train on more sessions, or lower "
            "modelling.cv_folds"
        )
    shortfall = _shortfall(
        labels,
        params.split,
        params.cv_folds,
        max_rows=params.search.max_rows,
        seed=params.seed,
    )
    if shortfall is not None:
        raise TrainingDataError(
            f"{source} has {got}, too few of one class for {plan}: {shortfall}. "
            "Train on more sessions of that class, or change modelling.split, "
            "modelling.cv_folds or modelling.search.max_rows"
        )
    _check_learned_fills(sessions, labels, params.split, source)


def _check_learned_fills(
    sessions: pd.DataFrame, labels: np.ndarray, split: SplitParams, source: str
) -> None:
    """A column imputed by a training statistic needs values in the training part."""
    train = split_positions(labels, split).train
    for column in FEATURE_COLUMNS:
        rule = BY_NAME[column].missing
        if rule not in LEARNED_FILLS:
            continue
        present = sessions[column].notna().to_numpy()
        if present[train].any():
            continue
        where = (
            "in any valid row"
            if not present.any()
            else f"in the {len(train)} rows of the training part (only "
            f"{_rows(int(present.sum()))} of {len(sessions)} valid ones "
            f"{'has' if present.sum() == 1 else 'have'} one)"
        )
        raise TrainingDataError(
            f"{column} has no value {where} of {source}: its missing values are "
            f"imputed with the training {rule.replace('_', ' ')}, which needs "
            f"values to learn from. Fill {column} in the file"
        )


def _nothing_kept(
    source: str, rows: Mapping[str, Any], report: Mapping[str, Any]
) -> str:
    rejected = int(rows.get("rejected", 0))
    if not rejected:
        return f"{source} has no valid rows to train on"
    by_rule = sorted(
        report.get("rejects_by_rule", {}).items(), key=lambda item: (-item[1], item[0])
    )
    reasons = ", ".join(
        f"{rule} ({_rows(count)})" for rule, count in by_rule[:TOP_REASONS]
    )
    because = f"; most common reasons: {reasons}" if reasons else ""
    if any(rule.startswith(f"{LABEL_COLUMN}:") for rule, _ in by_rule):
        because += (
            f" ({LABEL_COLUMN} must be 0 or 1; yes/no or true/false are not read)"
        )
    return (
        f"all {rejected} rows of {source} were rejected, so there is nothing to "
        f"train on{because}. The rejected rows (rejected_sessions) give each "
        "row's reason"
    )


def _counts_text(counts: Mapping[int, int]) -> str:
    return " and ".join(
        f"{counts[label]} {name} ({LABEL_COLUMN}={label})"
        for label, name in sorted(CLASS_NAMES.items(), reverse=True)
    )


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"
