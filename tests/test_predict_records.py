"""``PurchasePredictor.predict_records``: many independent records in one
call, each answered exactly as ``predict(record)`` answers it alone."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customer_purchase_prediction.columns import (
    BASKET_VALUE,
    CATEGORICAL_COLUMNS,
    ID_COLUMN,
    PAGES_VIEWED,
    SESSION_COLUMNS,
    SPEC,
    example_record,
)
from customer_purchase_prediction.errors import InvalidRecordError
from customer_purchase_prediction.predictor import PurchasePredictor
from customer_purchase_prediction.records import column_arrays, one_value
from tests.strategies import any_value


@pytest.fixture(scope="module")
def predictor(trained_model: Any) -> PurchasePredictor:
    return PurchasePredictor(trained_model)


def alone(predictor: PurchasePredictor, record: dict[str, Any], **options: Any) -> Any:
    """What ``predict(record)`` gives: the prediction or the error it raises."""
    try:
        return predictor.predict(record, **options)
    except InvalidRecordError as exc:
        return exc


def same(answer: Any, expected: Any) -> bool:
    if isinstance(expected, InvalidRecordError):
        return type(answer) is type(expected) and str(answer) == str(expected)
    return answer == expected


def column_value(column: Any) -> st.SearchStrategy[Any]:
    """Mostly the column's example (valid), else any value, or absent."""
    return st.one_of(st.just(column.example), any_value(), st.just(None))


records = st.fixed_dictionaries({column.name: column_value(column) for column in SPEC})


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records, min_size=1, max_size=12), st.booleans())
def test_every_record_is_answered_as_it_would_be_alone(
    predictor: PurchasePredictor, batch: list[dict[str, Any]], with_proba: bool
) -> None:
    answers = predictor.predict_records(batch, return_probabilities=with_proba)
    assert len(answers) == len(batch)
    for record, answer in zip(batch, answers, strict=True):
        expected = alone(predictor, record, return_probabilities=with_proba)
        assert same(answer, expected), (record, answer, expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(records, min_size=1, max_size=12))
def test_the_columns_hold_each_value_as_one_value_holds_it_alone(
    batch: list[dict[str, Any]],
) -> None:
    columns = column_arrays(batch)
    for name in SESSION_COLUMNS:
        alone = [one_value(name, record.get(name)) for record in batch]
        column = columns[name]
        plain = all(part.dtype == float for part in alone)
        assert column.dtype == (float if plain else object)
        assert len(column) == len(batch)
        for record, got, held in zip(batch, column, alone, strict=True):
            if held.dtype == float:  # a plain number: the same float64 bits
                assert type(got) is np.float64
                assert got.tobytes() == held[0].tobytes()
            else:  # anything else: the very value sent
                assert got is record.get(name)


def test_the_same_customer_twice_is_two_predictions_not_duplicates(
    predictor: PurchasePredictor,
) -> None:
    record = example_record()
    single = predictor.predict(record, return_probabilities=True)
    answers = predictor.predict_records([record] * 3, return_probabilities=True)
    assert answers == [single] * 3


def test_unknown_keys_and_broken_rules_are_answered_in_place(
    predictor: PurchasePredictor,
) -> None:
    good = example_record()
    misspelt = {**good, "time_spnt": 3}
    negative = {**good, SESSION_COLUMNS[1]: -1}
    answers = predictor.predict_records(
        [misspelt, good, negative, {**good, ID_COLUMN: 7}], return_probabilities=True
    )
    for record, answer in zip(
        [misspelt, good, negative, {**good, ID_COLUMN: 7}], answers, strict=True
    ):
        assert same(answer, alone(predictor, record, return_probabilities=True))
    assert isinstance(answers[0], InvalidRecordError)
    assert "time_spnt" in str(answers[0])
    assert isinstance(answers[2], InvalidRecordError)
    assert answers[3][ID_COLUMN] == 7
    assert answers[3]["purchase_probability"] == answers[1]["purchase_probability"]


def test_explained_records_carry_the_reasons_predict_gives(
    predictor: PurchasePredictor,
) -> None:
    batch = [example_record(), {**example_record(), ID_COLUMN: 2, PAGES_VIEWED: 1}]
    answers = predictor.predict_records(batch, explain=True, passthrough=())
    assert answers == [predictor.predict(record, explain=True) for record in batch]


def test_passthrough_keys_come_back_on_their_own_record(
    predictor: PurchasePredictor,
) -> None:
    batch = [{**example_record(), "email": "a@example.com"}, example_record()]
    answers = predictor.predict_records(batch, passthrough="email")
    assert answers[0]["email"] == "a@example.com"
    assert "email" not in answers[1]


# ------------------------------------------------------------ one batch


def frame_answers(predictor: PurchasePredictor, batch: list[dict[str, Any]]) -> Any:
    """What ``predict(DataFrame)`` makes of the batch: per input row, its
    prediction or its (reject_rule, reject_reason)."""
    # Object columns hold each value as sent (a frame built from records would
    # turn an int beside a float into a float, and show it as one).
    frame = pd.DataFrame(
        {
            name: pd.Series([record.get(name) for record in batch], dtype=object)
            for name in SESSION_COLUMNS
        }
    )
    scored, rejected = predictor.predict(frame, return_probabilities=True)
    answers: list[Any] = [None] * len(batch)
    for reject in rejected.to_dict(orient="records"):
        answers[int(reject["source_row"]) - 1] = (
            reject["reject_rule"],
            reject["reject_reason"],
        )
    predictions = iter(scored.to_dict(orient="records"))
    return [next(predictions) if a is None else a for a in answers]


ids = st.sampled_from([1, 2, 3, 2**53 + 1])
batch_records = st.fixed_dictionaries(
    {
        **{column.name: column_value(column) for column in SPEC},
        ID_COLUMN: st.one_of(ids, any_value()),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(batch_records, min_size=1, max_size=12))
def test_one_batch_is_answered_as_the_dataframe_path_answers_its_rows(
    predictor: PurchasePredictor, batch: list[dict[str, Any]]
) -> None:
    """Repeated ids are duplicates (every copy refused), broken rules are
    refused with the DataFrame path's rule and reason, and the rest get its
    predictions to the last bit."""
    answers = predictor.predict_records(
        batch, return_probabilities=True, one_batch=True
    )
    expected = frame_answers(predictor, batch)
    assert len(answers) == len(batch)
    for record, answer, wanted in zip(batch, answers, expected, strict=True):
        if isinstance(wanted, tuple):
            assert isinstance(answer, InvalidRecordError), (record, answer, wanted)
            rules = ";".join(rule for rule, _ in answer.problems)
            reasons = "; ".join(reason for _, reason in answer.problems)
            assert (rules, reasons) == wanted
        else:
            assert answer == wanted, (record, answer, wanted)


def test_in_one_batch_every_copy_of_an_id_is_a_duplicate(
    predictor: PurchasePredictor,
) -> None:
    record = example_record()
    other = {**record, ID_COLUMN: record[ID_COLUMN] + 1}
    answers = predictor.predict_records(
        [record, other, record], return_probabilities=True, one_batch=True
    )
    assert isinstance(answers[0], InvalidRecordError)
    assert isinstance(answers[2], InvalidRecordError)
    assert [rule for rule, _ in answers[0].problems] == [f"{ID_COLUMN}:duplicated"]
    assert answers[1] == predictor.predict(other, return_probabilities=True)


@pytest.mark.parametrize("number", [10**15, -(10**15), 2**53 - 1, 2**53 + 1])
def test_a_large_whole_number_reads_alike_in_a_record_and_a_frame(
    predictor: PurchasePredictor, number: int
) -> None:
    # An int in a label column stays as sent; in a number column it becomes a
    # float, which a reason shows as the same integer (to 2**53).
    record = {
        **example_record(),
        ID_COLUMN: None,
        BASKET_VALUE: -abs(number),
        CATEGORICAL_COLUMNS[0]: number,
    }
    (answer,) = predictor.predict_records([record], one_batch=True)
    assert isinstance(answer, InvalidRecordError)
    wanted = frame_answers(predictor, [record])[0]
    rules = ";".join(rule for rule, _ in answer.problems)
    reasons = "; ".join(reason for _, reason in answer.problems)
    assert (rules, reasons) == wanted
    assert f"got {number}" in reasons
