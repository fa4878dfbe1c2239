"""Training on every row of a partitioned folder: the transformer's statistics
by Dask reductions, and XGBoost refitted with ``xgboost.dask``."""

from __future__ import annotations

import json
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customer_purchase_prediction.columns import ID_COLUMN, LABEL_COLUMN
from customer_purchase_prediction.contract import validate_sessions
from customer_purchase_prediction.features import SessionFeatures
from customer_purchase_prediction.params import FeatureParams
from customer_purchase_prediction.partitioned import (
    SKETCH_POINTS,
    sketch_quantiles,
    training_rows,
    value_sketch,
)
from customer_purchase_prediction.pipelines.feature_engineering.nodes import (
    fit_feature_transformer,
)
from customer_purchase_prediction.synthetic import generate_sessions, write_frame
from tests.conftest import run_project
from tests.dask.test_partitioned_training import SMALL_MODELLING, THREADS

# Statistics a Dask fit learns exactly as fit does while every partition
# holds at most SKETCH_POINTS rows (the quantiles then come from every value).
STATISTICS = (
    "fill_values_",
    "time_cap_",
    "pages_cap_",
    "engagement_cut_",
    "data_min_",
    "data_range_",
    "categories_",
    "level_shares_",
)


def _validated(rows: int, parts: int, *, missing: float = 0.1) -> list[pd.DataFrame]:
    frames = []
    for part in range(parts):
        raw, _ = generate_sessions(
            rows, 40 + part, messy_fraction=0.0, id_start=100_000 * (part + 1)
        )
        # Missing values, imputed by learned fills (median, rounded mean).
        rng = np.random.default_rng(part)
        raw = raw.mask(
            pd.DataFrame(
                {
                    c: rng.random(len(raw)) < missing
                    if c in ("time_spent", "pages_viewed")
                    else False
                    for c in raw.columns
                }
            )
        )
        frames.append(validate_sessions(raw, labelled=True).valid)
    return frames


def _parts(frames: list[pd.DataFrame]) -> dd.DataFrame:
    return dd.from_map(lambda i: frames[i], range(len(frames)))


def _assert_same_statistics(got: SessionFeatures, expected: SessionFeatures) -> None:
    for name in STATISTICS:
        a, b = getattr(got, name), getattr(expected, name)
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            assert a == b, name
    for name, values in expected.training_values_.items():
        np.testing.assert_array_equal(got.training_values_[name], values, name)
    np.testing.assert_allclose(got.matrix_mean_, expected.matrix_mean_, rtol=1e-12)


def test_statistics_over_partitions_are_the_pandas_fit_on_the_training_rows() -> None:
    frames = _validated(900, 3)
    whole = pd.concat(frames, ignore_index=True)
    validation, test = whole.iloc[:120], whole.iloc[120:250]
    training = whole.iloc[250:]
    params = FeatureParams()
    with dask.config.set(scheduler="synchronous"):
        got = fit_feature_transformer(
            training.iloc[:300], params, training_rows(_parts(frames), validation, test)
        )
    expected = SessionFeatures(cap_quantile=params.cap_quantile).fit(training)
    assert whole["time_spent"].isna().any()
    assert whole["pages_viewed"].isna().any()
    _assert_same_statistics(got, expected)
    assert got.statistics_rows_ == len(training)
    # The same model matrix, to the bit, on every row.
    np.testing.assert_array_equal(got.transform(whole), expected.transform(whole))


def test_the_held_out_rows_do_not_inform_the_statistics() -> None:
    frames = _validated(300, 2, missing=0.0)
    whole = pd.concat(frames, ignore_index=True)
    # A held-out row far beyond every other: the ranges must not see it.
    extreme = whole.iloc[[0]].assign(basket_value=1e9)
    frames[0] = pd.concat([extreme.assign(**{ID_COLUMN: 1}), frames[0]])
    held = frames[0].iloc[[0]]
    with dask.config.set(scheduler="synchronous"):
        rows = training_rows(_parts(frames), held, held.iloc[:0]).compute()
        got = fit_feature_transformer(
            whole, FeatureParams(), training_rows(_parts(frames), held, held)
        )
    assert len(rows) == len(whole)
    assert 1 not in set(rows[ID_COLUMN])
    assert (
        got.data_range_[2] == whole["basket_value"].max() - whole["basket_value"].min()
    )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(0, 50).map(float), min_size=0, max_size=60),
        min_size=1,
        max_size=4,
    ),
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=5),
)
def test_merged_sketches_of_small_partitions_are_numpys_quantiles(
    parts: list[list[float]], quantiles: list[float]
) -> None:
    values = np.concatenate([np.asarray(p, float) for p in parts])
    got = sketch_quantiles(
        [value_sketch(pd.Series(p, dtype=float)) for p in parts], np.array(quantiles)
    )
    if not len(values):
        assert np.isnan(got).all()
        return
    np.testing.assert_allclose(got, np.quantile(values, quantiles), rtol=0, atol=1e-9)


def test_sketches_of_large_partitions_are_close_in_rank() -> None:
    rng = np.random.default_rng(3)
    parts = [rng.lognormal(2.0, 1.0, 3 * SKETCH_POINTS) for _ in range(3)]
    values = np.sort(np.concatenate(parts))
    quantiles = np.linspace(0.01, 0.99, 25)
    got = sketch_quantiles([value_sketch(pd.Series(p)) for p in parts], quantiles)
    ranks = np.searchsorted(values, got) / len(values)
    # Within a few sketch steps of each partition (3 x 1/4001) in rank.
    assert np.abs(ranks - quantiles).max() < 3 * 3 / SKETCH_POINTS
    # Missing values are left out, as numpy's nanquantile does.
    assert value_sketch(pd.Series([np.nan, 1.0, 2.0]))[0].tolist() == [1.0, 2.0]


XGBOOST_ONLY = {
    **SMALL_MODELLING,
    "candidates": {
        **SMALL_MODELLING["candidates"],
        "logistic_regression": {"enabled": False},
        "random_forest": {"enabled": False},
    },
}


@pytest.mark.slow
def test_kedro_run_refits_xgboost_on_every_training_row(trained_copy: Path) -> None:
    from customer_purchase_prediction import PurchasePredictor

    for part in range(2):
        frame = generate_sessions(1500, part, id_start=100_000 * (part + 1))[0]
        write_frame(frame, trained_copy / f"data/01_raw/train_parts/part-{part}.csv")
    run_project(
        trained_copy,
        env="dask",
        params={
            "raw_sessions_path": "data/01_raw/train_parts",
            "dask": THREADS,
            "modelling": XGBOOST_ONLY,
        },
    )
    metrics = json.loads(
        (trained_copy / "data/08_reporting/model_metrics.json").read_text()
    )
    assert metrics["selected_model"] == "xgboost"
    # This run's artifact (registered as challenger: the champion stays).
    newest = sorted(
        trained_copy.glob("data/06_models/purchase_model.skops/*/purchase_model.skops")
    )[-1]
    model = PurchasePredictor(newest).model
    fitted = model.metadata["fitted_on"]
    validation = pd.read_parquet(
        trained_copy / "data/05_model_input/validation_sessions.parquet"
    )
    test = pd.read_parquet(trained_copy / "data/05_model_input/test_sessions.parquet")
    kept = model.metadata["data_quality"]["rows"]["kept"]
    assert fitted["model_refit"] is True
    assert fitted["statistics_rows"] == kept - len(validation) - len(test)
    assert fitted["model_rows"] == fitted["statistics_rows"] > 2000
    estimator = model.pipeline.named_steps["model"]
    assert estimator.fitted_rows_ == fitted["model_rows"]
    # Single records and a batch score to the same bits.
    batch = model.predict_proba(test)
    single = np.array(
        [model.predict_proba(test.iloc[[i]])[0] for i in range(len(test))]
    )
    np.testing.assert_array_equal(single, batch)
    card = (trained_copy / "data/08_reporting/model_card.md").read_text()
    assert (
        f"refitted with `xgboost.dask` on all {fitted['model_rows']:,} training rows"
        in card
    )


@pytest.mark.parametrize(
    ("refit", "sentence"),
    [
        (
            False,
            "**Fitted on:** the model on a stratified sample of 420 of 9,600,000 "
            "training rows; the feature statistics on all 9,600,000",
        ),
        (
            True,
            "**Fitted on:** the model refitted with `xgboost.dask` on all "
            "9,600,000 training rows",
        ),
    ],
)
def test_the_card_says_which_rows_the_model_was_fitted_on(
    refit: bool, sentence: str
) -> None:
    from customer_purchase_prediction.business import BusinessParams
    from customer_purchase_prediction.pipelines.reporting import nodes
    from customer_purchase_prediction.pipelines.reporting.params import (
        ReportingParams,
    )
    from tests.pipelines.reporting.inputs import (
        fitted_model,
        importance_table,
        model_metrics,
        predictions,
    )

    business = BusinessParams()
    impact = nodes.assess_business_impact(predictions(), business)[0]
    fitted_on = {
        "statistics_rows": 9_600_000,
        "model_rows": 9_600_000 if refit else 420,
        "model_refit": refit,
        "sample_rows": 420,
    }
    args = (model_metrics(selected="logistic_regression"), impact, importance_table())
    text = nodes.write_model_card(
        *args, fitted_model(fitted_on=fitted_on), ReportingParams(), business
    )
    assert sentence in text
    assert "medians and quantiles approximate" in text
    pandas_card = nodes.write_model_card(
        *args, fitted_model(), ReportingParams(), business
    )
    assert "**Fitted on:**" not in pandas_card


@settings(max_examples=8, deadline=None)
@given(st.lists(st.integers(40, 400), min_size=1, max_size=5), st.integers(100, 500))
def test_the_training_sample_never_exceeds_its_bound(
    sizes: list[int], max_rows: int
) -> None:
    from customer_purchase_prediction.params import ModellingParams
    from customer_purchase_prediction.partitioned import training_sample_rows
    from customer_purchase_prediction.pipelines.feature_engineering.checks import (
        split_positions,
    )
    from customer_purchase_prediction.pipelines.feature_engineering.nodes import (
        check_training_data,
    )

    frames = [frame.iloc[:size] for frame, size in zip(_FRAMES, sizes, strict=False)]
    params = ModellingParams.model_validate(
        {"search": {"max_rows": max_rows}, "min_training_rows": 1, "cv_folds": 2}
    )
    with dask.config.set(scheduler="synchronous"):
        sample = _sample(check_training_data, frames, params)
    if sample is None:
        return
    assert len(sample) <= training_sample_rows(params)
    train = split_positions(sample[LABEL_COLUMN].to_numpy(), params.split).train
    assert len(train) <= max_rows


_FRAMES = _validated(400, 5, missing=0.0)


def _sample(check, frames, params):
    from customer_purchase_prediction.errors import TrainingDataError

    try:
        return check(_parts(frames), {}, params)
    except TrainingDataError:
        return None  # too few rows of a class for the split: not this rule
