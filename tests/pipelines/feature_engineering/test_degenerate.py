"""Degenerate training data stops before modelling, saying what it lacks.

All rows rejected (``yes``/``no`` labels among them), one class only, fewer rows
than ``modelling.min_training_rows`` or than the split and CV need, a column
whose imputation statistic has nothing to learn from: one ``TrainingDataError``
each, never a scikit-learn traceback, and no model is written.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.model_selection import StratifiedKFold, train_test_split

from customer_purchase_prediction.columns import (
    BY_NAME,
    FEATURE_COLUMNS,
    LABEL_COLUMN,
    TIME_SPENT,
)
from customer_purchase_prediction.contract import validate_sessions
from customer_purchase_prediction.errors import TrainingDataError
from customer_purchase_prediction.params import DataProcessingParams
from customer_purchase_prediction.pipelines.data_processing.nodes import (
    build_data_quality_report,
    validate_training_sessions,
)
from customer_purchase_prediction.pipelines.feature_engineering.checks import (
    minimum_per_class,
)
from customer_purchase_prediction.pipelines.feature_engineering.nodes import (
    check_training_data,
    split_sessions,
)
from customer_purchase_prediction.synthetic import generate_sessions
from tests.conftest import TRAINING, modelling_params, run_project, write_csv


def _clean(rows: int, seed: int = 1) -> pd.DataFrame:
    raw, _ = generate_sessions(rows, seed, messy_fraction=0.0, missing_fraction=0.0)
    return raw


def _checked(raw: pd.DataFrame, **overrides: Any) -> pd.DataFrame:
    """The data_processing nodes, then the check, as the pipeline runs them."""
    raw = raw.copy()
    raw.attrs["source"] = "train.csv"
    sessions, rejects, summary = validate_training_sessions(raw)
    report = build_data_quality_report(
        sessions, rejects, summary, DataProcessingParams()
    )
    return check_training_data(sessions, report, modelling_params(**overrides))


def _with_classes(buyers: int, others: int, seed: int = 1) -> pd.DataFrame:
    raw = _clean(4 * (buyers + others) + 400, seed)
    labels = raw[LABEL_COLUMN].astype(int)
    return pd.concat(
        [raw[labels == 1].head(buyers), raw[labels == 0].head(others)],
        ignore_index=True,
    )


def test_enough_clean_data_passes_unchanged() -> None:
    raw = _clean(300)
    checked = _checked(raw)
    assert len(checked) == 300


def test_yes_no_labels_are_all_rejected_and_the_message_gives_the_top_reasons() -> None:
    raw = _clean(150)
    raw[LABEL_COLUMN] = np.where(raw[LABEL_COLUMN].astype(int) == 1, "yes", "no")
    with pytest.raises(TrainingDataError) as caught:
        _checked(raw)
    message = str(caught.value)
    assert message.startswith("all 150 rows of train.csv were rejected")
    assert f"{LABEL_COLUMN}:not_binary (150 rows)" in message
    assert f"{LABEL_COLUMN} must be 0 or 1" in message


def test_all_rows_rejected_for_other_reasons_names_those_reasons() -> None:
    raw = _clean(120)
    raw[TIME_SPENT] = -1.0
    with pytest.raises(TrainingDataError, match=r"all 120 rows .* time_spent:negative"):
        _checked(raw)


def test_one_class_only_says_which() -> None:
    raw = _with_classes(buyers=0, others=150)
    with pytest.raises(
        TrainingDataError,
        match=rf"needs both buyers .* every valid row of train.csv has "
        rf"{LABEL_COLUMN}=0 \(150 rows\)",
    ):
        _checked(raw)


def test_a_dozen_rows_cannot_train_a_model() -> None:
    raw = _clean(12)
    with pytest.raises(TrainingDataError) as caught:
        _checked(raw)
    assert "at least 100 valid rows (modelling.min_training_rows)" in str(caught.value)
    assert "train.csv has 12" in str(caught.value)


def test_the_floor_is_a_parameter() -> None:
    assert len(_checked(_clean(60), min_training_rows=50)) == 60
    with pytest.raises(TrainingDataError, match="at least 80 valid rows"):
        _checked(_clean(60), min_training_rows=80)


def test_too_few_of_a_class_names_the_minimum_the_parameters_require() -> None:
    raw = _with_classes(buyers=3, others=200)
    params = modelling_params(cv_folds=5)
    minimum = minimum_per_class(params)
    with pytest.raises(TrainingDataError) as caught:
        _checked(raw, cv_folds=5)
    assert str(caught.value).startswith(
        f"training needs at least {minimum} rows of each class for a 70/15/15 "
        f"split and 5-fold CV; train.csv has 3 buyers ({LABEL_COLUMN}=1) and 200 "
        f"non-buyers ({LABEL_COLUMN}=0)"
    )


@pytest.mark.parametrize(
    ("split", "folds"),
    [
        ({"train": 0.7, "validation": 0.15, "test": 0.15}, 5),
        ({"train": 0.7, "validation": 0.15, "test": 0.15}, 3),
        ({"train": 0.8, "validation": 0.1, "test": 0.1}, 10),
        ({"train": 0.5, "validation": 0.25, "test": 0.25}, 2),
    ],
)
def test_the_minimum_grows_with_the_folds_and_shrinking_parts(
    split: dict[str, float], folds: int
) -> None:
    params = modelling_params(split=split, cv_folds=folds)
    minimum = minimum_per_class(params)
    # Each class needs cv_folds rows in the training part, one in each other part.
    assert minimum >= folds + 2
    assert minimum <= 2 * (folds + 2) / split["train"]


@pytest.mark.parametrize("column", [c for c in FEATURE_COLUMNS])
def test_a_column_without_values_is_named_if_its_fill_is_learned(column: str) -> None:
    raw = _clean(200).assign(**{column: None})
    if BY_NAME[column].missing in ("median", "mean_rounded"):
        with pytest.raises(TrainingDataError) as caught:
            _checked(raw)
        assert str(caught.value).startswith(
            f"{column} has no value in any valid row of train.csv"
        )
        assert f"Fill {column}" in str(caught.value)
    else:  # a constant fill needs no value
        assert len(_checked(raw)) == 200


def test_a_column_whose_only_values_miss_the_training_part_is_named() -> None:
    raw = _clean(200)
    sessions = validate_sessions(raw, labelled=True).valid
    train, _, _ = split_sessions(sessions, modelling_params())
    outside = ~sessions.index.isin(train.index)
    values = sessions[TIME_SPENT].where(outside & (np.arange(len(sessions)) % 9 == 0))
    raw[TIME_SPENT] = values.to_numpy()
    with pytest.raises(
        TrainingDataError,
        match=rf"time_spent has no value in the {len(train)} rows of the training "
        r"part \(only [2-9] rows of 200 valid ones have one\) of train.csv",
    ):
        _checked(raw)


def test_the_split_is_the_one_it_always_was() -> None:
    sessions = validate_sessions(_clean(300, seed=4), labelled=True).valid
    params = modelling_params()
    rest, test = train_test_split(
        sessions,
        test_size=0.15,
        stratify=sessions[LABEL_COLUMN],
        random_state=params.split.seed,
    )
    train, validation = train_test_split(
        rest,
        test_size=0.15 / 0.85,
        stratify=rest[LABEL_COLUMN],
        random_state=params.split.seed,
    )
    for got, expected in zip(
        split_sessions(sessions, params), (train, validation, test), strict=True
    ):
        pd.testing.assert_frame_equal(got, expected)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    buyers=st.integers(0, 40),
    others=st.integers(0, 120),
    folds=st.integers(2, 6),
    test=st.sampled_from([0.1, 0.15, 0.2, 0.3]),
    validation=st.sampled_from([0.1, 0.15, 0.2]),
    seed=st.integers(0, 3),
)
def test_data_the_check_passes_can_be_split_and_cross_validated(
    buyers: int, others: int, folds: int, test: float, validation: float, seed: int
) -> None:
    """Either one TrainingDataError, or every part and every fold has both classes."""
    labels = np.array([1] * buyers + [0] * others, dtype=np.int8)
    sessions = pd.DataFrame(
        {
            TIME_SPENT: np.linspace(1.0, 2.0, len(labels)),
            BY_NAME["pages_viewed"].name: 3.0,
            LABEL_COLUMN: labels,
        }
    )
    params = modelling_params(
        cv_folds=folds,
        min_training_rows=1,
        split={"train": 1 - test - validation, "validation": validation, "test": test},
        seed=seed,
    )
    report = {"source": "memory", "rows": {"in": len(labels), "kept": len(labels)}}
    try:
        check_training_data(sessions, report, params)
    except TrainingDataError:
        return
    train, valid, held_out = split_sessions(sessions, params)
    for part in (valid, held_out):
        assert set(part[LABEL_COLUMN]) == {0, 1}
    y = train[LABEL_COLUMN].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "least populated class" would be a warning
        cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
        for _, fold in cv.split(np.zeros(len(y)), y):
            assert set(y[fold]) == {0, 1}


def _models(project: Path) -> list[Path]:
    folder = project / "data" / "06_models"
    return sorted(p for p in folder.rglob("*") if "purchase_model" in p.name)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("dozen", "training needs at least 100 valid rows"),
        (
            "yes_no",
            "all 120 rows of {file} were rejected, so there is nothing to train on",
        ),
        ("one_class", "training needs both buyers"),
        (
            "three_buyers",
            "training needs at least 5 rows of each class for a "
            "70/15/15 split and 3-fold CV; {file} has 3 buyers",
        ),
        ("no_time_spent", "time_spent has no value in any valid row of {file}"),
    ],
)
def test_kedro_run_stops_before_modelling_and_writes_no_model(
    project_dir: Path, rows: str, message: str
) -> None:
    from tests.test_cli import kedro_run

    raw = {
        "dozen": _clean(12),
        "yes_no": _clean(120).assign(
            **{LABEL_COLUMN: lambda d: np.where(d[LABEL_COLUMN] == 1, "yes", "no")}
        ),
        "one_class": _with_classes(0, 150),
        "three_buyers": _with_classes(3, 150),
        "no_time_spent": _clean(150).assign(**{TIME_SPENT: None}),
    }[rows]
    file = write_csv(project_dir / f"{rows}.csv", raw)
    code, output = kedro_run(
        project_dir, "--env=test", f"--params=raw_sessions_path={file}"
    )
    assert code == 1, output
    flat = re.sub(r"\s+", " ", output)
    assert f"Error: {message.format(file=file)}" in flat
    assert "Traceback" not in output
    assert _models(project_dir) == []


@pytest.mark.slow
def test_a_session_run_raises_the_project_error(project_dir: Path) -> None:
    file = write_csv(project_dir / "dozen.csv", _clean(12))
    with pytest.raises(Exception) as caught:  # kedro may wrap node errors
        run_project(
            project_dir, pipeline=TRAINING, params={"raw_sessions_path": str(file)}
        )
    error: BaseException | None = caught.value
    while error is not None and not isinstance(error, TrainingDataError):
        error = error.__cause__ or error.__context__
    assert isinstance(error, TrainingDataError)
    assert _models(project_dir) == []
