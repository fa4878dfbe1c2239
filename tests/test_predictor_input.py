"""PurchasePredictor's input: no key ignored, no silent imputation, clear refusals.

Keys and columns are matched as a file's headers are (``contract.normalise_name``);
a key outside the contract and the declared ``passthrough`` is refused naming the
nearest column; every kind of input that is not a record, a list of records or a
DataFrame gets a message saying what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customer_purchase_prediction import PurchasePredictor
from customer_purchase_prediction.columns import (
    BASKET_VALUE,
    ID_COLUMN,
    LABEL_COLUMN,
    SESSION_COLUMNS,
    TIME_SPENT,
    example_record,
)
from customer_purchase_prediction.contract import normalise_name
from customer_purchase_prediction.datasets import TableDataset
from customer_purchase_prediction.errors import InvalidRecordError, SessionsFileError

RECORD = example_record()
EXTRA = "email"


@pytest.fixture(scope="module")
def predictor(trained_model: object) -> PurchasePredictor:
    return PurchasePredictor(trained_model)


def proba(predictor: PurchasePredictor, data: Any, **options: Any) -> Any:
    return predictor.predict(data, return_probabilities=True, **options)


def spelt(record: dict[str, Any], spell: Any) -> dict[str, Any]:
    return {spell(key): value for key, value in record.items()}


SPELLINGS = [str.upper, str.title, lambda k: f"  {k} ", lambda k: f"\ufeff{k.upper()}"]


# --- keys are normalised as CSV headers are ---------------------------------------


@pytest.mark.parametrize("spell", SPELLINGS)
def test_record_keys_are_matched_like_headers(
    predictor: PurchasePredictor, spell: Any
) -> None:
    record = {**RECORD, TIME_SPENT: 60}
    assert proba(predictor, spelt(record, spell)) == proba(predictor, record)


def test_a_misspelt_feature_is_not_imputed_silently(
    predictor: PurchasePredictor,
) -> None:
    """The issue's example: Time_Spent=60 used to be dropped and imputed."""
    record = {**RECORD, TIME_SPENT: 60}
    imputed = proba(predictor, {**RECORD, TIME_SPENT: None})
    assert proba(predictor, spelt(record, str.title)) != imputed
    assert proba(predictor, spelt(record, str.title)) == proba(predictor, record)


@pytest.mark.parametrize("spell", SPELLINGS)
def test_frames_and_lists_with_other_case_columns_are_scored(
    predictor: PurchasePredictor, spell: Any
) -> None:
    rows = [RECORD, {**RECORD, ID_COLUMN: 2, TIME_SPENT: 3.25}]
    expected = proba(predictor, rows).predictions
    frame = pd.DataFrame(rows).rename(columns=spell)
    scored, rejects = proba(predictor, frame)
    assert rejects.empty
    assert scored.to_dict(orient="records") == expected
    assert proba(predictor, [spelt(r, spell) for r in rows]).predictions == expected


def test_records_may_spell_a_column_differently(predictor: PurchasePredictor) -> None:
    rows = [spelt(RECORD, str.upper), {**RECORD, ID_COLUMN: 2}]
    scored, rejects = proba(predictor, rows)
    assert rejects == []
    assert (
        scored[0]["purchase_probability"]
        == proba(predictor, RECORD)["purchase_probability"]
    )


def test_the_label_is_a_contract_key_and_is_ignored(
    predictor: PurchasePredictor,
) -> None:
    assert proba(predictor, {**RECORD, LABEL_COLUMN: 1}) == proba(predictor, RECORD)


# --- unknown keys are refused, naming the nearest column ---------------------------


@pytest.mark.parametrize(
    ("key", "nearest"),
    [
        ("time_spnt", TIME_SPENT),
        ("Time Spent", TIME_SPENT),
        ("basket", BASKET_VALUE),
        ("time_spent.1", TIME_SPENT),
        ("customerid", ID_COLUMN),
    ],
)
def test_an_unknown_key_is_refused_naming_the_nearest_column(
    predictor: PurchasePredictor, key: str, nearest: str
) -> None:
    message = f"unknown key '{normalise_name(key)}'.*did you mean '{nearest}'"
    with pytest.raises(InvalidRecordError, match=message):
        predictor.predict({**RECORD, key: 1})
    with pytest.raises(InvalidRecordError, match=f"record 2 of the batch.*{nearest}"):
        predictor.predict([RECORD, {**RECORD, key: 1}])
    with pytest.raises(InvalidRecordError, match=f"unknown column.*'{nearest}'"):
        predictor.predict(pd.DataFrame([{**RECORD, key: 1}]))
    with pytest.raises(InvalidRecordError, match="passthrough"):
        predictor.validate_input_data([{**RECORD, key: 1}])


def test_an_unknown_key_without_a_near_column_lists_the_columns(
    predictor: PurchasePredictor,
) -> None:
    with pytest.raises(InvalidRecordError) as raised:
        predictor.predict({**RECORD, "zzz": 1})
    message = str(raised.value)
    assert "unknown key 'zzz'" in message
    assert "did you mean" not in message
    assert ", ".join(SESSION_COLUMNS) in message


# --- passthrough: extra keys declared, carried, never scored -----------------------


def test_a_declared_passthrough_key_is_carried_into_the_prediction(
    predictor: PurchasePredictor,
) -> None:
    record = {**RECORD, "Email": "a@b.example"}
    one = proba(predictor, record, passthrough=[EXTRA])
    assert one.pop(EXTRA) == "a@b.example"
    assert one == proba(predictor, RECORD)
    assert proba(predictor, record, passthrough=EXTRA)[EXTRA] == "a@b.example"


def test_passthrough_columns_follow_their_rows_in_a_batch(
    predictor: PurchasePredictor,
) -> None:
    rows = [
        {**RECORD, EXTRA: "first"},
        {**RECORD, ID_COLUMN: 2, TIME_SPENT: -1, EXTRA: "second"},
        {**RECORD, ID_COLUMN: 3, EXTRA: "third"},
    ]
    scored, rejects = proba(predictor, rows, passthrough=[EXTRA])
    assert [(p[ID_COLUMN], p[EXTRA]) for p in scored] == [
        (RECORD[ID_COLUMN], "first"),
        (3, "third"),
    ]
    assert [(r[ID_COLUMN], r[EXTRA]) for r in rejects] == [(2, "second")]
    frame_scored, frame_rejects = proba(
        predictor, pd.DataFrame(rows), passthrough=[EXTRA.upper()]
    )
    assert frame_scored[EXTRA].tolist() == ["first", "third"]
    assert frame_rejects[EXTRA].tolist() == ["second"]
    assert frame_scored["purchase_probability"].tolist() == [
        p["purchase_probability"] for p in scored
    ]


@pytest.mark.parametrize("name", [TIME_SPENT, "purchase_probability", "reject_reason"])
def test_passthrough_may_not_name_a_column_predict_owns(
    predictor: PurchasePredictor, name: str
) -> None:
    with pytest.raises(InvalidRecordError, match=f"'{name}' is .*passthrough"):
        predictor.predict(RECORD, passthrough=[name.upper()])


# --- two keys that are one column ----------------------------------------------------


def test_two_keys_of_one_column_are_refused_naming_both(
    predictor: PurchasePredictor,
) -> None:
    both = {**RECORD, "Time_Spent": 60}
    pattern = "'time_spent' and 'Time_Spent' are the same key 'time_spent'"
    with pytest.raises(InvalidRecordError, match=pattern):
        predictor.predict(both)
    with pytest.raises(InvalidRecordError, match=f"{pattern}.*record 2 of the batch"):
        predictor.predict([RECORD, both])
    frame = pd.DataFrame([RECORD]).assign(Time_Spent=60)
    with pytest.raises(InvalidRecordError, match="'time_spent' and 'Time_Spent'"):
        predictor.predict(frame)
    repeated = pd.DataFrame(
        [[1, 2.0, 3.0]], columns=[ID_COLUMN, TIME_SPENT, TIME_SPENT]
    )
    with pytest.raises(InvalidRecordError, match="'time_spent' appears 2 times"):
        predictor.predict(repeated)


def test_colliding_headers_in_a_file_are_refused_naming_both(
    predictor: PurchasePredictor, tmp_path: Path
) -> None:
    header = ",".join(SESSION_COLUMNS)
    row = "1,2.5,3,4.0,Mobile,New"
    collide = tmp_path / "collide.csv"
    collide.write_text(f"{header},Time_Spent\n{row},99\n")
    with pytest.raises(SessionsFileError, match="'time_spent' and 'Time_Spent'"):
        predictor.predict_from_csv(collide)
    repeated = tmp_path / "repeated.csv"
    repeated.write_text(f"{header},time_spent\n{row},99\n")
    with pytest.raises(SessionsFileError, match="'time_spent' appears"):
        predictor.predict_from_csv(repeated)
    parquet = tmp_path / "collide.parquet"
    pd.DataFrame([RECORD]).assign(TIME_SPENT=1.0).to_parquet(parquet)
    with pytest.raises(SessionsFileError, match="'time_spent' and 'TIME_SPENT'"):
        predictor.predict_from_csv(parquet)


# --- what is not a record ------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        ("hello", "got str 'hello'"),
        (None, "got None"),
        (b"customer_id", "got bytes b'customer_id'"),
        (42, "got int 42"),
        (pd.Series(RECORD), "row.to_dict()"),
        (np.array([[1, 2]]), "no column names"),
    ],
)
def test_input_that_is_not_records_says_what_was_expected(
    predictor: PurchasePredictor, data: Any, shown: str
) -> None:
    expected = "predict takes a session record .*, a list of records or a DataFrame"
    with pytest.raises(InvalidRecordError, match=f"{expected}; .*{shown}"):
        predictor.predict(data)
    with pytest.raises(InvalidRecordError, match=shown):
        predictor.validate_input_data(data)


@pytest.mark.parametrize(
    ("item", "shown"),
    [(None, "None"), (7, "int 7"), ("abc", "str 'abc'"), ([1], r"list \[1\]")],
)
def test_an_item_that_is_not_a_record_is_named_by_position(
    predictor: PurchasePredictor, item: Any, shown: str
) -> None:
    pattern = f"record 2 of the batch is {shown}.*must be a dict of column values"
    with pytest.raises(InvalidRecordError, match=pattern):
        predictor.predict([RECORD, item])


def test_an_empty_batch_gives_empty_results(predictor: PurchasePredictor) -> None:
    assert predictor.predict([]) == ([], [])
    assert predictor.predict(iter([])) == ([], [])
    frame = pd.DataFrame(columns=list(SESSION_COLUMNS))
    scored, rejects = proba(predictor, frame)
    assert scored.empty
    assert list(scored.columns) == list(proba(predictor, pd.DataFrame([RECORD]))[0])
    assert rejects.empty
    assert {"reject_reason", *SESSION_COLUMNS} <= set(rejects.columns)
    result = predictor.validate_input_data([])
    assert result.valid.empty
    assert result.rejects.empty


def test_a_batch_of_only_bad_rows_is_all_rejects(predictor: PurchasePredictor) -> None:
    scored, rejects = proba(predictor, pd.DataFrame([{**RECORD, TIME_SPENT: -1}]))
    assert scored.empty
    assert rejects["reject_rule"].tolist() == ["time_spent:negative"]


def test_a_list_in_a_record_field_is_one_bad_value(
    predictor: PurchasePredictor,
) -> None:
    with pytest.raises(
        InvalidRecordError, match=r"time_spent must be a number; got \["
    ):
        predictor.predict({**RECORD, TIME_SPENT: [1, 2]})
    with pytest.raises(InvalidRecordError, match="device_type must be one of"):
        predictor.predict({**RECORD, "device_type": ["Mobile"]})


# --- ids above 2^53 ------------------------------------------------------------------


@pytest.mark.parametrize("big", [2**53 + 1, 2**63 - 1, str(2**53 + 1)])
def test_a_large_id_comes_back_exactly(predictor: PurchasePredictor, big: Any) -> None:
    assert predictor.predict({**RECORD, ID_COLUMN: big})[ID_COLUMN] == int(big)


def test_large_ids_one_apart_are_not_duplicates(predictor: PurchasePredictor) -> None:
    rows = [{**RECORD, ID_COLUMN: 2**53 + 1}, {**RECORD, ID_COLUMN: 2**53 + 2}]
    scored, rejects = predictor.predict(rows)
    assert rejects == []
    assert [p[ID_COLUMN] for p in scored] == [2**53 + 1, 2**53 + 2]
    frame_scored, _ = predictor.predict(pd.DataFrame(rows))
    assert frame_scored[ID_COLUMN].tolist() == [2**53 + 1, 2**53 + 2]


@pytest.mark.parametrize("other", [None, 7.0, "8"])
def test_a_large_id_stays_exact_beside_a_missing_or_float_one(
    predictor: PurchasePredictor, other: object
) -> None:
    rows = [
        {**RECORD, ID_COLUMN: 2**53 + 1},
        {**RECORD, ID_COLUMN: other},
        {**RECORD, ID_COLUMN: 2**53},
    ]
    scored, rejects = predictor.predict(rows)
    kept = [p[ID_COLUMN] for p in scored]
    assert kept[0] == 2**53 + 1 and kept[-1] == 2**53  # not rounded into duplicates
    assert len(scored) + len(rejects) == len(rows)


def test_an_id_beyond_int64_is_refused_shown_exactly(
    predictor: PurchasePredictor,
) -> None:
    with pytest.raises(InvalidRecordError, match=f"at most {2**63 - 1}; got {2**64}"):
        predictor.predict({**RECORD, ID_COLUMN: 2**64})


# --- one row, the same bits on every path --------------------------------------------


def test_the_same_row_scores_the_same_bits_on_every_path(
    predictor: PurchasePredictor, tmp_path: Path
) -> None:
    record = {**RECORD, TIME_SPENT: 37.123456789, ID_COLUMN: 2**60 + 7}
    messy = spelt(record, str.upper)
    one = proba(predictor, messy)["purchase_probability"]
    assert proba(predictor, [messy]).predictions[0]["purchase_probability"] == one
    frame = pd.DataFrame([messy])
    assert proba(predictor, frame).predictions["purchase_probability"][0] == one
    csv = tmp_path / "one.csv"
    frame.to_csv(csv, index=False)
    from_csv = predictor.predict_from_csv(csv).predictions
    assert from_csv["purchase_probability"][0] == one
    assert from_csv[ID_COLUMN][0] == 2**60 + 7


# --- properties ----------------------------------------------------------------------

keys = st.one_of(
    st.sampled_from([*SESSION_COLUMNS, LABEL_COLUMN]).flatmap(
        lambda name: st.tuples(
            st.text(" \t", max_size=2),
            st.lists(st.booleans(), min_size=len(name), max_size=len(name)),
            st.text(" ", max_size=2),
        ).map(
            lambda parts, name=name: (
                parts[0]
                + "".join(
                    c.upper() if up else c for c, up in zip(name, parts[1], strict=True)
                )
                + parts[2]
            )
        )
    ),
    st.text(max_size=12),
)
settings_ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@settings_
@given(st.dictionaries(keys, st.one_of(st.none(), st.integers(0, 50)), max_size=8))
def test_every_key_is_used_or_refused_never_ignored(
    predictor: PurchasePredictor, record: dict[str, Any]
) -> None:
    """A record is scored only if each key names a contract column."""
    names = [normalise_name(key) for key in record]
    known = {*SESSION_COLUMNS, LABEL_COLUMN}
    record = {ID_COLUMN: 1, **record}
    try:
        result = proba(predictor, record)
    except InvalidRecordError as error:
        message = str(error)
        assert (
            ("unknown key" in message)
            or ("same key" in message)
            or ("invalid session record" in message)
            or ("appears" in message)
        )
        return
    assert set(names) <= known
    assert len(set(names)) == len(names)
    canonical = {normalise_name(key): value for key, value in record.items()}
    assert result == proba(predictor, canonical)


@settings_
@given(
    st.lists(
        st.tuples(st.sampled_from(SPELLINGS[:3]), st.integers(0, 2**63 - 1)),
        min_size=1,
        max_size=6,
        unique_by=lambda pair: pair[1],
    )
)
def test_spelling_and_large_ids_never_change_a_batch(
    predictor: PurchasePredictor, rows: list[tuple[Any, int]]
) -> None:
    plain = [{**RECORD, ID_COLUMN: customer} for _, customer in rows]
    messy = [
        spelt(record, spell) for (spell, _), record in zip(rows, plain, strict=True)
    ]
    scored, rejects = proba(predictor, messy)
    assert rejects == []
    assert scored == proba(predictor, plain).predictions
    assert [p[ID_COLUMN] for p in scored] == [customer for _, customer in rows]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_nested_passthrough_values_can_be_written(
    predictor: PurchasePredictor, tmp_path: Path, suffix: str
) -> None:
    rows = pd.DataFrame(
        [
            {**RECORD, "tags": [1, 2]},
            {**RECORD, ID_COLUMN: 2, TIME_SPENT: -1, "tags": {"a": 1}},
            {**RECORD, ID_COLUMN: 3, "tags": "plain"},
        ]
    )
    scored, rejects = proba(predictor, rows, passthrough=["tags"])
    assert scored["tags"].tolist() == ["[1, 2]", "plain"]
    assert rejects["tags"].tolist() == ['{"a": 1}']
    for name, table in (("predictions", scored), ("rejects", rejects)):
        out = tmp_path / f"{name}{suffix}"
        TableDataset(filepath=str(out)).save(table)
        assert len(TableDataset(filepath=str(out)).load()) == len(table)


def test_a_parquet_file_with_nested_columns_is_scored_and_its_rejects_written(
    predictor: PurchasePredictor, tmp_path: Path
) -> None:
    source = tmp_path / "nested.parquet"
    pd.DataFrame(
        [
            {**RECORD, "tags": [1, 2], "profile": {"a": 1}},
            {
                **RECORD,
                ID_COLUMN: 2,
                TIME_SPENT: -1.0,
                "tags": [3],
                "profile": {"a": 2},
            },
        ]
    ).to_parquet(source)
    out = tmp_path / "out.csv"
    scored, rejects = predictor.predict_from_csv(source, out)
    assert len(scored) == 1
    assert len(rejects) == 1
    written = pd.read_csv(tmp_path / "out_rejected.csv")
    assert written["tags"].tolist() == ["[3]"]
    assert written["profile"].tolist() == ['{"a": 2}']
