"""SessionFeatures honours scikit-learn's transformer contract and the data contract."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from customer_purchase_prediction.contract import check_columns
from customer_purchase_prediction.features import SessionFeatures


def sessions(**columns: list[object]) -> pd.DataFrame:
    """Validated sessions; unspecified columns get plain values."""
    n = len(next(iter(columns.values())))
    base = {
        "customer_id": list(range(1, n + 1)),
        "time_spent": [10.0] * n,
        "pages_viewed": [4] * n,
        "basket_value": [0.0] * n,
        "device_type": ["Mobile"] * n,
        "customer_type": ["New"] * n,
    }
    frame = pd.DataFrame({**base, **columns})
    return frame.astype(
        {"pages_viewed": "Int64", "time_spent": float, "basket_value": float}
    )


TRAIN = sessions(
    time_spent=[2.0, 4.0, 6.0, 100.0, None],
    pages_viewed=[1, 2, 3, None, 10],
    basket_value=[0.0, 10.0, None, 50.0, 0.0],
    device_type=["Mobile", "Desktop", None, "Mobile", "Desktop"],
    customer_type=["New", "Returning", "New", None, "Returning"],
)


def engineered(transformer: SessionFeatures, frame: pd.DataFrame) -> pd.DataFrame:
    return transformer.engineer(frame)


def test_fit_learns_imputation_values_from_the_rows_it_is_given_only() -> None:
    transformer = SessionFeatures().fit(TRAIN)
    assert transformer.fill_values_["time_spent"] == 5.0  # median of 2, 4, 6, 100
    assert transformer.fill_values_["pages_viewed"] == 4.0  # mean of 1, 2, 3, 10 = 4.0
    other = SessionFeatures().fit(TRAIN.assign(time_spent=[1.0, 1.0, 1.0, 1.0, 1.0]))
    assert other.fill_values_["time_spent"] == 1.0


def test_missing_values_are_imputed_as_the_data_contract_says() -> None:
    transformer = SessionFeatures().fit(TRAIN)
    blank = sessions(
        time_spent=[None],
        pages_viewed=[None],
        basket_value=[None],
        device_type=[None],
        customer_type=[None],
    )
    row = engineered(transformer, blank).iloc[0]
    assert row["time_spent"] == 5.0
    assert row["pages_viewed"] == 4.0
    assert row["basket_value"] == 0.0
    assert row["device_type"] == "Unknown"
    assert row["customer_type"] == "New"
    assert not np.isnan(transformer.transform(blank)).any()


def test_engineered_features_follow_their_documented_rules() -> None:
    transformer = SessionFeatures().fit(TRAIN)
    frame = sessions(
        time_spent=[1000.0, 0.0, 1000.0, 0.0],
        pages_viewed=[1000, 0, 1000, 0],
        basket_value=[30.0, 30.0, 0.0, 0.0],
    )
    table = engineered(transformer, frame)
    assert table["engagement_score"].tolist() == [
        1.0,
        0.0,
        1.0,
        0.0,
    ]  # clipped to [0, 1]
    assert table["basket_intensity"].tolist() == pytest.approx(
        [30 / 1001, 30.0, 0.0, 0.0]
    )
    assert table["behavioral_segment"].tolist() == [
        "high_engagement",
        "focused_shopper",
        "window_shopper",
        "casual_browser",
    ]


def test_output_is_scaled_to_unit_range_with_named_columns() -> None:
    transformer = SessionFeatures().fit(TRAIN)
    matrix = transformer.transform(TRAIN)
    names = transformer.get_feature_names_out().tolist()
    assert matrix.shape == (len(TRAIN), len(names))
    assert matrix.min() >= 0.0
    assert matrix.max() <= 1.0
    assert names[:5] == [
        "time_spent",
        "pages_viewed",
        "basket_value",
        "engagement_score",
        "basket_intensity",
    ]
    assert "device_type_Unknown" in names, "the imputed level is a level"
    extreme = sessions(time_spent=[1e6], basket_value=[1e6])
    assert transformer.transform(extreme).max() == 1.0, "unseen extremes are clipped"


def test_unseen_category_level_encodes_as_all_zeros() -> None:
    transformer = SessionFeatures().fit(TRAIN)  # no Tablet in training
    names = transformer.get_feature_names_out().tolist()
    matrix = transformer.transform(sessions(device_type=["Tablet"]))
    device = [i for i, name in enumerate(names) if name.startswith("device_type_")]
    assert "device_type_Tablet" not in names
    assert matrix[0, device].sum() == 0.0


def test_label_outside_the_contract_encodes_as_no_level() -> None:
    # The plain scikit-learn path takes unvalidated frames too: a label the
    # contract does not know is no level at all, never a neighbouring one.
    transformer = SessionFeatures().fit(TRAIN)
    names = transformer.get_feature_names_out().tolist()
    matrix = transformer.transform(sessions(device_type=["Smartwatch", "Desktop"]))
    device = [i for i, name in enumerate(names) if name.startswith("device_type_")]
    assert matrix[0, device].sum() == 0.0
    assert matrix[1, names.index("device_type_Desktop")] == 1.0


def test_refit_learns_the_new_levels() -> None:
    transformer = SessionFeatures().fit(TRAIN)
    transformer.transform(TRAIN)  # builds the one-hot lookup of the first fit
    tablets = sessions(device_type=["Tablet", "Mobile"])
    transformer.fit(tablets)
    names = transformer.get_feature_names_out().tolist()
    matrix = transformer.transform(tablets)
    assert matrix[0, names.index("device_type_Tablet")] == 1.0
    assert matrix.shape[1] == len(names)


def test_the_one_hot_lookup_is_a_cache_not_saved() -> None:
    transformer = SessionFeatures().fit(TRAIN)
    before = transformer.transform(TRAIN)
    restored = pickle.loads(pickle.dumps(transformer))  # noqa: S301 - our own bytes
    assert "_one_hot_cache" not in restored.__dict__
    np.testing.assert_array_equal(restored.transform(TRAIN), before)


def test_same_rows_give_the_same_output_in_any_batch() -> None:
    transformer = SessionFeatures().fit(TRAIN)
    batch = transformer.transform(TRAIN)
    np.testing.assert_array_equal(batch, transformer.transform(TRAIN))
    for i in range(len(TRAIN)):
        np.testing.assert_array_equal(
            transformer.transform(TRAIN.iloc[[i]])[0], batch[i]
        )
    reversed_rows = transformer.transform(TRAIN.iloc[::-1])
    np.testing.assert_array_equal(reversed_rows[::-1], batch)


def test_array_core_matches_the_dataframe_path() -> None:
    transformer = SessionFeatures().fit(TRAIN)
    for i in range(len(TRAIN)):
        record = TRAIN.iloc[i].to_dict()
        columns = {
            name: np.array([value], dtype=object) for name, value in record.items()
        }
        typed, problems = check_columns(columns, labelled=False)
        assert not problems
        np.testing.assert_array_equal(
            transformer.transform_columns(typed), transformer.transform(TRAIN.iloc[[i]])
        )


def test_transform_does_not_mutate_its_input() -> None:
    before = TRAIN.copy()
    SessionFeatures().fit(TRAIN).transform(TRAIN)
    pd.testing.assert_frame_equal(TRAIN, before)


def test_scikit_learn_contract_clone_and_not_fitted() -> None:
    transformer = SessionFeatures(cap_quantile=0.9)
    assert clone(transformer).get_params() == {"cap_quantile": 0.9}
    with pytest.raises(NotFittedError):
        transformer.transform(TRAIN)
    assert transformer.fit(TRAIN) is transformer


def test_missing_column_is_named() -> None:
    with pytest.raises(ValueError, match="basket_value"):
        SessionFeatures().fit(TRAIN.drop(columns="basket_value"))
