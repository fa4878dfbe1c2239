"""Reasons per customer: exact contributions, given back to the six inputs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logit
from sklearn.pipeline import Pipeline

from customer_purchase_prediction.candidates import (
    Candidate,
    blend_contributions,
    get_candidate,
    register,
    unregister,
)
from customer_purchase_prediction.columns import (
    BASKET_VALUE,
    FEATURE_COLUMNS,
    ID_COLUMN,
    PAGES_VIEWED,
    SPEC,
    TIME_SPENT,
)
from customer_purchase_prediction.contract import validate_sessions
from customer_purchase_prediction.errors import ExplanationError
from customer_purchase_prediction.explain import (
    MAX_REASONS,
    NO_PROFILE,
    REASON_COLUMNS,
    _phrases,
    _ranks,
    explain,
    formatted,
    model_contributions,
)
from customer_purchase_prediction.features import SOURCES, SessionFeatures
from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.scoring import Scorer
from customer_purchase_prediction.synthetic import generate_sessions
from tests.conftest import validated_sessions

BASIC = ("logistic_regression", "random_forest", "xgboost")


def fitted_model(
    name: str, sessions: pd.DataFrame, estimator: Any = None
) -> PurchaseModel:
    """A PurchaseModel of candidate ``name`` fitted on ``sessions`` (small settings)."""
    candidate = get_candidate(name)
    features = SessionFeatures().fit(sessions)
    if estimator is None:
        small = {"n_estimators": 30} if candidate.trees is not None else {}
        estimator = candidate.build(
            {**candidate.defaults, **small}, seed=1, n_jobs=1, positive_share=0.3
        ).fit(features.transform(sessions), sessions["purchase"])
    return PurchaseModel(
        Pipeline([("features", features), ("model", estimator)]),
        threshold=0.5,
        confidence_margins=(0.3, 0.1),
        metadata={"model_name": name},
    )


@pytest.fixture(scope="module")
def training() -> pd.DataFrame:
    return validated_sessions(500, seed=11)


@pytest.fixture(scope="module")
def models(training: pd.DataFrame) -> dict[str, PurchaseModel]:
    return {name: fitted_model(name, training) for name in BASIC}


@pytest.fixture(scope="module")
def new_sessions() -> pd.DataFrame:
    raw, _ = generate_sessions(300, seed=12, labelled=False, messy_fraction=0.0)
    return validate_sessions(raw, labelled=False).valid


class _BlendScorer(Scorer):
    def batch(self, estimator: Any, matrix: np.ndarray) -> np.ndarray:
        return sum(
            weight * get_candidate(name).scorer.batch(member, matrix)
            for (name, member), weight in zip(
                estimator.estimators_, estimator.weights_, strict=True
            )
        )


class _Blend:
    """The ensemble's interface: fitted (candidate, estimator) pairs and weights."""

    def __init__(self, members: list[tuple[str, Any]], weights: list[float]) -> None:
        self.estimators_ = members
        self.weights_ = np.asarray(weights)


@pytest.fixture
def blend_candidate() -> Iterator[str]:
    register(
        Candidate(
            name="test_blend",
            display_name="Test blend",
            estimator=Pipeline,
            library="sklearn",
            scorer=_BlendScorer(),
            contributions=blend_contributions,
        )
    )
    yield "test_blend"
    unregister("test_blend")


@pytest.mark.parametrize("name", BASIC)
def test_contributions_add_up_to_the_probability(
    models: dict[str, PurchaseModel], new_sessions: pd.DataFrame, name: str
) -> None:
    model = models[name]
    explanation = explain(model, new_sessions)
    probability = model.predict_proba(new_sessions)
    # The explanation's probability is the model's own, bit for bit.
    assert np.array_equal(explanation.probability, probability)
    total = explanation.base + explanation.contributions.sum(axis=1)
    np.testing.assert_allclose(total, probability, rtol=0, atol=1e-12)
    assert explanation.contributions.shape == (len(new_sessions), len(FEATURE_COLUMNS))


def test_raw_contributions_are_exact_on_the_models_own_scale(
    models: dict[str, PurchaseModel], new_sessions: pd.DataFrame
) -> None:
    for name, model in models.items():
        matrix = model.features.transform(new_sessions)
        raw = get_candidate(name).contributions_of(
            model.estimator, matrix, model.features.matrix_mean_
        )
        probability = model.predict_proba(new_sessions)
        if raw.scale == "log-odds":
            # float32 trees (XGBoost) sum to their margin to float32 precision.
            tolerance = 1e-5 if name == "xgboost" else 1e-10
            np.testing.assert_allclose(
                raw.total(), logit(probability), rtol=0, atol=tolerance
            )
        else:
            np.testing.assert_allclose(raw.total(), probability, rtol=0, atol=1e-12)


def test_a_linear_models_base_is_the_score_of_the_mean_training_row(
    models: dict[str, PurchaseModel], new_sessions: pd.DataFrame
) -> None:
    model = models["logistic_regression"]
    mean = model.features.matrix_mean_[None, :]
    matrix = model.features.transform(new_sessions)
    raw = get_candidate("logistic_regression").contributions_of(
        model.estimator, matrix, model.features.matrix_mean_
    )
    assert np.ptp(raw.base) == 0.0
    np.testing.assert_allclose(
        raw.base[0], logit(model.predict_proba_matrix(mean)[0]), atol=1e-12
    )


def test_a_blend_is_explained_from_its_members_exactly(
    models: dict[str, PurchaseModel],
    new_sessions: pd.DataFrame,
    training: pd.DataFrame,
    blend_candidate: str,
) -> None:
    members = [(name, models[name].estimator) for name in BASIC]
    model = fitted_model(blend_candidate, training, _Blend(members, [0.5, 0.2, 0.3]))
    explanation = explain(model, new_sessions)
    total = explanation.base + explanation.contributions.sum(axis=1)
    np.testing.assert_allclose(total, model.predict_proba(new_sessions), atol=1e-12)
    # The raw blend is the weighted sum of the members' probability-scale parts.
    matrix = model.features.transform(new_sessions)
    raw = blend_contributions(model.estimator, matrix, model.features.matrix_mean_)
    assert raw.scale == "probability"
    np.testing.assert_allclose(
        raw.total(), _BlendScorer().batch(model.estimator, matrix), atol=1e-6
    )


def test_a_calibrated_probability_is_explained_exactly(
    models: dict[str, PurchaseModel], new_sessions: pd.DataFrame
) -> None:
    model = models["random_forest"]

    class Squash:
        def transform(self, p: np.ndarray) -> np.ndarray:
            return np.asarray(p) ** 2

    matrix = model.features.transform(new_sessions)
    calibrated = Squash().transform(model.predict_proba_matrix(matrix))
    original = getattr(model, "calibrator", None)
    model.calibrator = Squash()
    try:
        parts = model_contributions(model, matrix, calibrated)
    finally:
        model.calibrator = original
    np.testing.assert_allclose(parts.total(), calibrated, atol=1e-12)
    raw = get_candidate("random_forest").contributions_of(
        model.estimator, matrix, model.features.matrix_mean_
    )
    np.testing.assert_allclose(parts.base, raw.base**2)
    # The same signs: a calibrator that keeps the order keeps each direction.
    moved = np.abs(raw.values) > 1e-12
    assert np.array_equal(np.sign(parts.values[moved]), np.sign(raw.values[moved]))


def test_the_lineage_gives_each_matrix_column_to_its_declared_inputs(
    models: dict[str, PurchaseModel],
) -> None:
    features = models["xgboost"].features
    lineage = features.lineage()
    names = list(features.get_feature_names_out())
    np.testing.assert_allclose(lineage.sum(axis=1), 1.0)
    row = lineage[names.index("basket_intensity")]
    assert {FEATURE_COLUMNS[i] for i in np.flatnonzero(row)} == {
        BASKET_VALUE,
        PAGES_VIEWED,
    }
    segment = next(i for i, n in enumerate(names) if n.startswith("behavioral_segm"))
    assert set(np.flatnonzero(lineage[segment])) == {
        FEATURE_COLUMNS.index(name) for name in SOURCES["behavioral_segment"]
    }
    for name in FEATURE_COLUMNS:
        own = [i for i, n in enumerate(names) if n == name or n.startswith(name + "_")]
        assert (lineage[own, FEATURE_COLUMNS.index(name)] == 1.0).all()


@pytest.mark.parametrize("name", BASIC)
def test_reasons_name_inputs_in_words_with_the_direction_of_their_effect(
    models: dict[str, PurchaseModel], new_sessions: pd.DataFrame, name: str
) -> None:
    explanation = explain(models[name], new_sessions)
    frame = explanation.frame()
    assert list(frame.columns) == list(REASON_COLUMNS)
    words = {column.replace("_", " "): column for column in FEATURE_COLUMNS}
    for row, reasons in enumerate(explanation.reason_lists()):
        assert 1 <= len(reasons) <= MAX_REASONS
        effects = []
        for text in reasons:
            column = next(w for w in words if text.startswith(w + " "))
            contribution = explanation.contributions[
                row, FEATURE_COLUMNS.index(words[column])
            ]
            assert text.endswith(
                "raises the chance" if contribution > 0 else "lowers the chance"
            )
            effects.append(abs(contribution))
        assert effects == sorted(effects, reverse=True)  # the largest effect first


def test_a_number_is_compared_with_the_training_sessions(
    models: dict[str, PurchaseModel],
    training: pd.DataFrame,
    new_sessions: pd.DataFrame,
) -> None:
    # The basket values the model was trained on, a missing one imputed as 0.
    seen = training[BASKET_VALUE].fillna(0.0).to_numpy()
    checked = 0
    for model in models.values():
        explanation = explain(model, new_sessions)
        for row, reasons in enumerate(explanation.reason_lists()):
            value = float(new_sessions[BASKET_VALUE].iloc[row])
            texts = [text for text in reasons if text.startswith("basket value")]
            if not texts or not value > 0 or np.isnan(value):
                continue
            below, above = (seen < value).mean(), (seen > value).mean()
            side, share = ("higher", below) if below >= above else ("lower", above)
            effect = "raises" if texts[0].endswith("raises the chance") else "lowers"
            assert texts[0] == (
                f"basket value {value:.2f}, {side} than {round(100 * share)}% of "
                f"training sessions, {effect} the chance"
            )
            checked += 1
    assert checked > 10


def test_a_missing_value_is_reasoned_as_imputed(
    models: dict[str, PurchaseModel], new_sessions: pd.DataFrame
) -> None:
    model = models["random_forest"]
    row = new_sessions.iloc[:1].assign(**{TIME_SPENT: np.nan, BASKET_VALUE: np.nan})
    explanation = explain(model, row)
    texts = " | ".join(explanation.reason_lists()[0])
    fill = model.features.fill_values_[TIME_SPENT]
    if "time spent" in texts:
        assert f"time spent not given (taken as {fill:.2f} minutes)" in texts
    if "basket value" in texts:
        assert "basket value not given (taken as 0.00)" in texts


def test_a_row_gets_the_same_reasons_alone_or_in_a_batch(
    models: dict[str, PurchaseModel], new_sessions: pd.DataFrame
) -> None:
    for model in models.values():
        batch = explain(model, new_sessions)
        for row in (0, 7, len(new_sessions) - 1):
            alone = explain(model, new_sessions.iloc[[row]])
            assert alone.reason_lists()[0] == batch.reason_lists()[row]
            # The same bits: a few rows take another path to the same leaves.
            assert np.array_equal(alone.contributions[0], batch.contributions[row])


def test_a_deep_forest_finds_the_same_leaves_for_a_few_rows_as_for_a_batch(
    training: pd.DataFrame, new_sessions: pd.DataFrame
) -> None:
    candidate = get_candidate("random_forest")
    features = SessionFeatures().fit(training)
    forest = candidate.build(
        {"n_estimators": 40, "min_samples_leaf": 1, "max_features": 0.5},
        seed=3,
        n_jobs=1,
    ).fit(features.transform(training), training["purchase"])
    model = fitted_model("random_forest", training, forest)
    matrix = model.features.transform(new_sessions)
    batch = candidate.contributions_of(forest, matrix, features.matrix_mean_)
    for start in range(0, 60, 7):
        few = candidate.contributions_of(
            forest, matrix[start : start + 5], features.matrix_mean_
        )
        assert np.array_equal(few.values, batch.values[start : start + 5])
        assert np.array_equal(few.base, batch.base[start : start + 5])
    np.testing.assert_allclose(
        batch.total(), model.predict_proba(new_sessions), atol=1e-12
    )


def test_an_artifact_without_a_training_profile_still_explains_and_says_so(
    training: pd.DataFrame,
    new_sessions: pd.DataFrame,
    caplog: pytest.LogCaptureFixture,
) -> None:
    model = fitted_model("xgboost", training)
    for name in ("training_values_", "level_shares_", "matrix_mean_"):
        delattr(model.features, name)
    with caplog.at_level(logging.WARNING):
        explanation = explain(model, new_sessions.iloc[:5])
    assert caplog.text.count(NO_PROFILE) == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        explain(model, new_sessions.iloc[5:9])
    assert NO_PROFILE not in caplog.text  # said once per model, not per call
    for reasons in explanation.reason_lists():
        assert reasons
        assert not any("training sessions" in text for text in reasons)


def test_a_candidate_without_contributions_cannot_be_explained(
    training: pd.DataFrame, new_sessions: pd.DataFrame, models: dict[str, Any]
) -> None:
    register(
        Candidate(
            name="test_opaque",
            display_name="Opaque",
            estimator=Pipeline,
            library="sklearn",
            scorer=get_candidate("xgboost").scorer,
        )
    )
    try:
        model = fitted_model("test_opaque", training, models["xgboost"].estimator)
        with pytest.raises(ExplanationError, match="'test_opaque' cannot be explained"):
            explain(model, new_sessions)
    finally:
        unregister("test_opaque")


@settings(max_examples=30, deadline=None)
@given(
    time=st.one_of(st.none(), st.floats(0, 500)),
    pages=st.one_of(st.none(), st.integers(0, 300)),
    basket=st.one_of(st.none(), st.floats(0, 5000)),
    device=st.sampled_from(["Mobile", "Desktop", "Tablet", "Unknown", None]),
    kind=st.sampled_from(["New", "Returning", None]),
    name=st.sampled_from(BASIC),
)
def test_every_session_is_explained_exactly(
    models: dict[str, PurchaseModel],
    time: float | None,
    pages: int | None,
    basket: float | None,
    device: str | None,
    kind: str | None,
    name: str,
) -> None:
    raw = pd.DataFrame(
        {
            ID_COLUMN: [1],
            TIME_SPENT: [time],
            PAGES_VIEWED: [pages],
            BASKET_VALUE: [basket],
            FEATURE_COLUMNS[3]: [device],
            FEATURE_COLUMNS[4]: [kind],
        }
    )
    sessions = validate_sessions(raw, labelled=False).valid
    model = models[name]
    explanation = explain(model, sessions)
    total = explanation.base + explanation.contributions.sum(axis=1)
    np.testing.assert_allclose(total, model.predict_proba(sessions), atol=1e-12)
    reasons = explanation.reason_lists()[0]
    assert len(reasons) <= MAX_REASONS
    assert all(re.search(r", (raises|lowers) the chance$", text) for text in reasons)


NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=1e6),
    # Values on or next to a rounding tie of the second decimal.
    st.integers(min_value=0, max_value=10**7).map(lambda n: (n + 0.5) / 100),
    st.integers(min_value=0, max_value=10**7).map(lambda n: n / 200),
)


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(NUMBERS, min_size=1, max_size=50), decimals=st.sampled_from((0, 2))
)
def test_numbers_are_formatted_exactly_as_python_formats_them(
    values: list[float], decimals: int
) -> None:
    for many in (values, np.resize(values, 64)):  # a few, and a table's worth
        texts = formatted(np.array(many), decimals, prefix="x ")
        assert texts.tolist() == [
            f"x {value:.{decimals}f}" if abs(value) < 1e16 else f"x {value:.6g}"
            for value in many
        ]


@pytest.mark.parametrize("value", [0.125, 0.375, 1.005, 2.675, 0.5, 2.5, -0.0, -1e-9])
def test_a_number_on_a_tie_is_rounded_as_python_rounds_it(value: float) -> None:
    for many in (np.array([value, 1.0]), np.resize([value, 1.0], 64)):
        assert formatted(many, 2)[0] == f"{value:.2f}"
        assert formatted(many, 0)[0] == f"{value:.0f}"


def test_every_number_reason_reads_its_value_as_formatted_per_row(
    models: dict[str, PurchaseModel], new_sessions: pd.DataFrame
) -> None:
    numbers = [column for column in SPEC if column.is_number]
    checked = 0
    for model in models.values():
        explanation = explain(model, new_sessions)
        for row, reasons in enumerate(explanation.reason_lists()):
            for column in numbers:
                words = column.name.replace("_", " ")
                given = new_sessions[column.name].iloc[row]
                if pd.isna(given):
                    continue  # reasoned as imputed (tested above)
                value = float(given)
                unit = f" {column.unit}" if column.unit else ""
                spec = ".0f" if column.is_integer else ".2f"
                for text in reasons:
                    if text.startswith(words + " "):
                        assert text.startswith(f"{words} {value:{spec}}{unit}, ")
                        checked += 1
    assert checked > 100


@settings(max_examples=60, deadline=None)
@given(
    effects=st.lists(
        st.lists(
            st.sampled_from((0.0, 1e-5, 0.002, 0.03, 0.03, 0.4)), min_size=5, max_size=5
        ),
        min_size=1,
        max_size=40,
    )
)
def test_inputs_are_ranked_as_a_stable_sort_by_effect_ranks_them(
    effects: list[list[float]],
) -> None:
    table = np.array(effects)
    order = np.argsort(-table, axis=1, kind="stable")
    columns = [table[:, position] for position in range(table.shape[1])]
    for position in range(table.shape[1]):
        expected = np.argmax(order == position, axis=1)
        assert np.array_equal(_ranks(columns, position), expected)


def test_a_text_is_made_per_distinct_value_and_effect_as_per_row(
    models: dict[str, PurchaseModel],
) -> None:
    # Repeated values, both effects, missing values and a negative zero among
    # many rows: each row's text is what its own f-string gives.
    model = models["logistic_regression"]
    rng = np.random.default_rng(3)
    for size in (8, 200):  # a few rows' direct texts and a batch's table
        given = rng.choice([0.0, -0.0, 1.5, 2.25, 1.005, np.nan], size=size)
        imputed = np.where(np.isnan(given), 3.0, given)
        raises = rng.random(size) < 0.5
        texts = _phrases(TIME_SPENT, given, imputed, raises, model.features)
        for text, value, was, up in zip(texts, imputed, given, raises, strict=True):
            effect = "raises the chance" if up else "lowers the chance"
            if np.isnan(was):
                taken = f"taken as {value:.2f} minutes"
                assert text == f"time spent not given ({taken}), {effect}"
            else:
                # -0.0 reads as 0.00: a sign on zero means nothing to a reader.
                assert text.startswith(f"time spent {value + 0.0:.2f} minutes, ")
                assert not text.startswith("time spent -")
                assert text.endswith(effect)


def test_a_huge_number_reads_in_scientific_notation() -> None:
    # 1.8e308 minutes would otherwise read as its 309 digits.
    values = [1.7976931348623157e308, 1e16, 9.9e15, 12.5]
    expected = ["x 1.79769e+308", "x 1e+16", "x 9900000000000000.00", "x 12.50"]
    for many in (np.array(values), np.resize(values, 64)):  # direct, a table
        texts = formatted(many, 2, prefix="x ")
        assert texts.tolist()[:4] == expected
