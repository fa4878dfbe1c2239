"""PurchasePredictor: one code path with the pipeline, nothing lost, nothing guessed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customer_purchase_prediction import PurchasePredictor
from customer_purchase_prediction.artifact import dumps, sha256
from customer_purchase_prediction.atomic import write_bytes
from customer_purchase_prediction.errors import (
    InvalidRecordError,
    ModelNotFoundError,
    SessionsFileError,
)
from customer_purchase_prediction.synthetic import generate_sessions

RECORD = {
    "customer_id": 12345,
    "time_spent": 12.5,
    "pages_viewed": 8,
    "basket_value": 40.0,
    "device_type": "Mobile",
    "customer_type": "Returning",
}


@pytest.fixture(scope="module")
def predictor(trained_model: object) -> PurchasePredictor:
    return PurchasePredictor(trained_model)


@pytest.fixture(scope="module")
def new_sessions() -> pd.DataFrame:
    """200 unlabelled generated sessions with a few messy rows, as text."""
    raw, _ = generate_sessions(200, 7, labelled=False)
    return raw.astype(object).where(raw.notna(), None).astype(str).replace("None", "")


def test_predict_one_record(predictor: PurchasePredictor) -> None:
    result = predictor.predict(RECORD, return_probabilities=True)
    assert set(result) == {
        "customer_id",
        "purchase_prediction",
        "purchase_probability",
        "prediction_confidence",
    }
    assert result["customer_id"] == 12345
    assert 0.0 <= result["purchase_probability"] <= 1.0
    assert result["purchase_prediction"] == int(
        result["purchase_probability"] >= predictor.model.threshold
    )
    assert result["prediction_confidence"] in {"high", "medium", "low"}
    assert "purchase_probability" not in predictor.predict(RECORD)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("time_spent", -2, "time_spent must be >= 0; got -2"),
        ("pages_viewed", "lots", "pages_viewed must be a whole number; got 'lots'"),
        ("basket_value", float("inf"), "basket_value must be finite; got inf"),
        ("device_type", "SmartTV", "device_type must be one of .*; got 'SmartTV'"),
        (
            "customer_type",
            "VIP",
            "customer_type must be one of New, Returning; got 'VIP'",
        ),
        ("customer_id", None, "customer_id is missing"),
        ("customer_id", "abc", "customer_id must be a whole number; got 'abc'"),
        ("pages_viewed", True, "pages_viewed must be a whole number; got True"),
    ],
)
def test_a_bad_record_raises_naming_field_and_value(
    predictor: PurchasePredictor, field: str, value: object, message: str
) -> None:
    with pytest.raises(InvalidRecordError, match=message):
        predictor.predict({**RECORD, field: value})


def test_missing_fields_are_imputed_not_rejected(predictor: PurchasePredictor) -> None:
    sparse = predictor.predict({"customer_id": 7}, return_probabilities=True)
    explicit = predictor.predict(
        {"customer_id": 7, **dict.fromkeys(list(RECORD)[1:])}, return_probabilities=True
    )
    assert sparse == explicit
    assert not np.isnan(sparse["purchase_probability"])


def test_labels_are_normalised(predictor: PurchasePredictor) -> None:
    messy = {**RECORD, "device_type": " mobile", "customer_type": "RETURNING "}
    assert predictor.predict(messy, return_probabilities=True) == predictor.predict(
        RECORD, return_probabilities=True
    )


def test_batch_returns_good_rows_scored_and_bad_rows_rejected(
    predictor: PurchasePredictor,
) -> None:
    records = [
        RECORD,
        {**RECORD, "customer_id": 2, "time_spent": "12 min"},
        {"customer_id": 3},
    ]
    predictions, rejects = predictor.predict(records, return_probabilities=True)
    assert [p["customer_id"] for p in predictions] == [12345, 3]
    assert [r["customer_id"] for r in rejects] == [2]
    assert rejects[0]["reject_reason"] == "time_spent must be a number; got '12 min'"


def test_same_rows_same_probabilities_on_every_path(
    predictor: PurchasePredictor, new_sessions: pd.DataFrame, tmp_path: Path
) -> None:
    frame_scored, frame_rejects = predictor.predict(
        new_sessions, return_probabilities=True
    )
    assert len(frame_scored) + len(frame_rejects) == len(new_sessions)
    by_frame = frame_scored.set_index("customer_id")["purchase_probability"]

    records = new_sessions.to_dict(orient="records")
    for record in records:
        if (
            int(record["customer_id"]) in by_frame.index
            and not (frame_rejects["customer_id"] == record["customer_id"]).any()
        ):
            one = predictor.predict(record, return_probabilities=True)
            assert one["purchase_probability"] == by_frame[one["customer_id"]]

    csv = tmp_path / "new.csv"
    new_sessions.to_csv(csv, index=False)
    from_csv, csv_rejects = predictor.predict_from_csv(csv, tmp_path / "out.csv")
    assert len(from_csv) + len(csv_rejects) == len(new_sessions)
    pd.testing.assert_series_equal(
        from_csv.set_index("customer_id")["purchase_probability"].sort_index(),
        by_frame.sort_index(),
    )
    written = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_array_equal(
        written["purchase_probability"].to_numpy(),
        from_csv["purchase_probability"].to_numpy(),
    )
    assert written["purchase_probability"].is_monotonic_decreasing
    assert len(pd.read_csv(tmp_path / "out_rejected.csv")) == len(csv_rejects)


def test_predict_from_parquet(
    predictor: PurchasePredictor, new_sessions: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "new.parquet"
    new_sessions.to_parquet(source)
    scored, rejects = predictor.predict_from_csv(source, tmp_path / "out.parquet")
    assert len(scored) + len(rejects) == len(new_sessions)
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == len(scored)


def test_a_file_that_is_not_sessions_stops_with_its_name(
    predictor: PurchasePredictor, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"customer_id": [1]}).to_csv(bad, index=False)
    with pytest.raises(
        SessionsFileError, match=f"columns 'time_spent'.* missing from {bad}"
    ):
        predictor.predict_from_csv(bad)
    with pytest.raises(SessionsFileError, match="does not exist"):
        predictor.predict_from_csv(tmp_path / "nope.csv")


def test_model_info_describes_the_artifact(predictor: PurchasePredictor) -> None:
    info = predictor.get_model_info()
    assert info["model_name"] == predictor.model.name
    assert info["threshold"] == predictor.model.threshold
    assert {"accuracy", "precision", "recall", "f1", "roc_auc"} <= set(info["test"])
    assert info["input_columns"][0] == "customer_id"


def test_validate_input_data_reports_without_scoring(
    predictor: PurchasePredictor,
) -> None:
    result = predictor.validate_input_data(
        [RECORD, {**RECORD, "customer_id": 9, "basket_value": -1}]
    )
    assert result.valid["customer_id"].tolist() == [12345]
    assert result.rejects["reject_reason"].tolist() == [
        "basket_value must be >= 0; got -1"
    ]


def test_model_not_found_says_to_train_first(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "conf" / "base").mkdir(parents=True)
    (project / "conf" / "local").mkdir()
    (project / "conf" / "base" / "catalog.yml").write_text(
        "purchase_model:\n"
        "  type: customer_purchase_prediction.artifact.ModelArtifactDataset\n"
        "  filepath: data/06_models/purchase_model.skops\n  versioned: true\n"
    )
    with pytest.raises(ModelNotFoundError, match="run 'kedro run' first"):
        PurchasePredictor(project_path=project)
    with pytest.raises(ModelNotFoundError, match="no model artifact at"):
        PurchasePredictor(tmp_path / "missing.pkl")


def test_a_model_file_path_can_be_given(trained_model: object, tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    write_bytes(path, dumps(trained_model))
    expected = PurchasePredictor(trained_model).predict(RECORD)
    assert PurchasePredictor(path).predict(RECORD) == expected
    digest = sha256(path.read_bytes())
    assert PurchasePredictor(path, sha256=digest).predict(RECORD) == expected


cells = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-3, 300),
    st.sampled_from(
        ["", " 4 ", "abc", "Mobile", " tablet", "new", "Returning", "NA", "1e2"]
    ),
)
messy_records = st.lists(
    st.fixed_dictionaries(
        {"customer_id": st.one_of(st.integers(1, 15), cells)},
        optional={name: cells for name in list(RECORD)[1:]},
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(messy_records)
def test_rows_in_equal_rows_scored_plus_rejected_never_nan(
    predictor: PurchasePredictor, records: list[dict[str, object]]
) -> None:
    predictions, rejects = predictor.predict(records, return_probabilities=True)
    assert len(predictions) + len(rejects) == len(records)
    assert all(0.0 <= p["purchase_probability"] <= 1.0 for p in predictions)
    assert all(r["reject_reason"] for r in rejects)
    frame_predictions, frame_rejects = predictor.predict(
        pd.DataFrame(records), return_probabilities=True
    )
    assert len(frame_predictions) + len(frame_rejects) == len(records)
