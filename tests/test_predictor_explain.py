"""``PurchasePredictor.predict(..., explain=True)``: reasons, the same bits."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from customer_purchase_prediction import PurchasePredictor
from customer_purchase_prediction.columns import TIME_SPENT, example_record
from customer_purchase_prediction.explain import MAX_REASONS, REASON_COLUMNS
from customer_purchase_prediction.synthetic import generate_sessions


@pytest.fixture(scope="module")
def predictor(trained_model: Any) -> PurchasePredictor:
    return PurchasePredictor(trained_model)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    raw, _ = generate_sessions(120, seed=31, labelled=False)
    return raw


def test_a_record_gets_up_to_three_reasons_and_the_same_probability(
    predictor: PurchasePredictor,
) -> None:
    record = example_record()
    plain = predictor.predict(record, return_probabilities=True)
    explained = predictor.predict(record, return_probabilities=True, explain=True)
    assert explained["purchase_probability"] == plain["purchase_probability"]
    assert {k: explained[k] for k in plain} == plain
    reasons = [explained[name] for name in REASON_COLUMNS]
    given = [text for text in reasons if text is not None]
    assert 1 <= len(given) <= MAX_REASONS
    assert reasons[: len(given)] == given  # the missing ones come last
    assert all(text.endswith(" the chance") for text in given)
    without = predictor.predict(record, explain=True)
    assert "purchase_probability" not in without
    assert [without[name] for name in REASON_COLUMNS] == reasons


def test_a_batch_gets_each_records_own_reasons_and_bits(
    predictor: PurchasePredictor, frame: pd.DataFrame
) -> None:
    plain, _ = predictor.predict(frame, return_probabilities=True)
    scored, rejects = predictor.predict(frame, return_probabilities=True, explain=True)
    assert len(rejects) > 0  # messy rows are still rejected, not explained
    assert list(scored.columns) == [*plain.columns, *REASON_COLUMNS]
    assert np.array_equal(
        scored["purchase_probability"].to_numpy(),
        plain["purchase_probability"].to_numpy(),
    )
    records, _ = predictor.predict(
        frame.to_dict(orient="records"), return_probabilities=True, explain=True
    )
    for position in (0, 5, len(records) - 1):
        row = records[position]
        alone = predictor.predict(
            {
                key: value
                for key, value in frame.iloc[
                    int(np.flatnonzero(frame["customer_id"] == row["customer_id"])[0])
                ]
                .to_dict()
                .items()
                if not (isinstance(value, float) and np.isnan(value))
            },
            return_probabilities=True,
            explain=True,
        )
        assert alone["purchase_probability"] == row["purchase_probability"]
        for name in REASON_COLUMNS:
            expected = alone[name]
            got = row[name]
            assert got == expected or (expected is None and pd.isna(got))


def test_a_missing_value_is_reasoned_as_imputed(predictor: PurchasePredictor) -> None:
    record = {**example_record(), TIME_SPENT: None}
    explained = predictor.predict(record, explain=True)
    texts = [explained[name] for name in REASON_COLUMNS if explained[name]]
    spent = [text for text in texts if text.startswith("time spent")]
    assert all("not given (taken as" in text for text in spent)
