"""The contract on the types users' data really has.

Decimals are numbers; dates and durations are not, in any unit or time zone;
nested values never break the rejects' writers; identifiers above 2^53 stay
exact; repeated or colliding headers are refused naming both.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customer_purchase_prediction import contract
from customer_purchase_prediction.columns import (
    BASKET_VALUE,
    ID_COLUMN,
    PAGES_VIEWED,
    SESSION_COLUMNS,
    TIME_SPENT,
    example_record,
)
from customer_purchase_prediction.contract import (
    normalise_name,
    normalised_names,
    validate_sessions,
)
from customer_purchase_prediction.datasets import TableDataset
from customer_purchase_prediction.errors import SessionsFileError
from customer_purchase_prediction.values import parse_numbers
from tests.strategies import any_value

RECORD = example_record()
UNITS = ("s", "ms", "us", "ns")


def sessions(rows: int = 3, **columns: Any) -> pd.DataFrame:
    frame = pd.DataFrame([{**RECORD, ID_COLUMN: i + 1} for i in range(rows)])
    return frame.assign(**columns)


def reasons(frame: pd.DataFrame) -> list[str]:
    return validate_sessions(frame, labelled=False).rejects["reject_reason"].tolist()


def write_parquet(path: Path, table: pa.Table) -> Path:
    pq.write_table(table, path)
    return path


def plain_table(rows: int = 2) -> dict[str, Any]:
    return {
        name: [RECORD[name]] * rows if name != ID_COLUMN else list(range(1, rows + 1))
        for name in SESSION_COLUMNS
    }


# --- decimals are numbers -------------------------------------------------------------


def test_python_decimals_are_numbers() -> None:
    frame = sessions(2, basket_value=[Decimal("1.50"), Decimal("2.25")])
    result = validate_sessions(frame, labelled=False)
    assert result.rejects.empty
    assert result.valid[BASKET_VALUE].tolist() == [1.5, 2.25]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (Decimal("-1.5"), "basket_value must be >= 0; got -1.5"),
        (Decimal("Infinity"), "basket_value must be finite; got Infinity"),
        (Decimal("NaN"), None),  # missing: imputed, not rejected
    ],
)
def test_decimal_values_follow_the_number_rules(
    value: Decimal, reason: str | None
) -> None:
    assert reasons(sessions(1, basket_value=[value])) == ([reason] if reason else [])


def test_parquet_decimal128_columns_are_numbers(tmp_path: Path) -> None:
    columns = plain_table()
    columns[TIME_SPENT] = pa.array([Decimal("1.50"), None], pa.decimal128(5, 2))
    columns[BASKET_VALUE] = pa.array([Decimal("40.00")] * 2, pa.decimal128(9, 2))
    columns[ID_COLUMN] = pa.array([Decimal(1), Decimal(2**60 + 1)], pa.decimal128(38))
    path = write_parquet(tmp_path / "decimal.parquet", pa.table(columns))
    result = validate_sessions(TableDataset(filepath=str(path)).load(), labelled=False)
    assert result.rejects.empty
    assert result.valid[TIME_SPENT].tolist()[0] == 1.5
    assert np.isnan(result.valid[TIME_SPENT].tolist()[1])
    assert result.valid[ID_COLUMN].tolist() == [1, 2**60 + 1]


# --- dates and durations are not numbers ----------------------------------------------


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("kind", ["timedelta64", "datetime64"])
def test_dates_and_durations_are_rejected_in_every_unit(unit: str, kind: str) -> None:
    values = np.array([60, 120, 180], dtype=f"{kind}[{unit}]")
    for name in (TIME_SPENT, PAGES_VIEWED, ID_COLUMN):
        found = reasons(sessions(3, **{name: values}))
        assert len(found) == 3, (name, found)
        assert all(f"{name} must be a" in reason for reason in found)
        what = "a duration" if kind == "timedelta64" else "a date and time"
        assert all(what in reason for reason in found)


@pytest.mark.parametrize("unit", UNITS)
def test_time_zone_aware_and_arrow_dates_are_rejected(unit: str) -> None:
    aware = pd.Series(pd.to_datetime([1, 2, 3], unit="s", utc=True)).dt.as_unit(unit)
    assert len(reasons(sessions(3, time_spent=aware))) == 3
    local = aware.dt.tz_convert("Europe/Paris")
    assert len(reasons(sessions(3, time_spent=local))) == 3
    for arrow in (pa.duration(unit), pa.timestamp(unit, tz="UTC"), pa.date32()):
        column = pd.Series(
            pa.array([1, 2, 3]).cast(pa.int64()).cast(arrow)
            if arrow != pa.date32()
            else pa.array([dt.date(2024, 1, day) for day in (1, 2, 3)]),
            dtype=pd.ArrowDtype(arrow),
        )
        assert len(reasons(sessions(3, time_spent=column))) == 3, arrow


def test_date_and_duration_objects_are_not_numbers() -> None:
    values = [
        np.timedelta64(5, "m"),  # numpy calls this an integer
        np.datetime64("2024-01-01T00:00"),
        pd.Timedelta(minutes=5),
        pd.Timestamp("2024-01-01", tz="UTC"),
        dt.timedelta(minutes=5),
        dt.datetime(2024, 1, 1),
        dt.date(2024, 1, 1),
    ]
    numbers, missing, not_number = parse_numbers(np.array(values, dtype=object))
    assert not_number.all()
    assert not missing.any()
    assert np.isnan(numbers).all()


def test_not_a_time_is_missing() -> None:
    values = np.array([np.timedelta64("NaT"), np.datetime64("NaT"), pd.NaT], object)
    _, missing, not_number = parse_numbers(values)
    assert missing.all()
    assert not not_number.any()
    assert parse_numbers(np.array(["NaT"], dtype="datetime64[ns]"))[1].all()


def test_parquet_duration_and_timestamp_columns_are_rejected(tmp_path: Path) -> None:
    for unit in UNITS:
        columns = plain_table()
        columns[TIME_SPENT] = pa.array([60, None], pa.duration(unit))
        columns[PAGES_VIEWED] = pa.array([1, 2], pa.timestamp(unit, tz="UTC"))
        path = write_parquet(tmp_path / f"times_{unit}.parquet", pa.table(columns))
        raw = TableDataset(filepath=str(path)).load()
        result = validate_sessions(raw, labelled=False)
        assert result.valid.empty, unit
        rules = result.rejects["reject_rule"].tolist()
        assert rules == [
            "time_spent:not_a_number;pages_viewed:not_a_number",
            "pages_viewed:not_a_number",
        ]


# --- nested values in rejects ---------------------------------------------------------


def nested_parquet(path: Path) -> Path:
    columns = plain_table(3)
    columns[ID_COLUMN] = [1, -2, 3]  # one row rejected
    columns["tags"] = pa.array([[1, 2], [3], None])
    columns["profile"] = pa.array([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, None])
    columns["scores"] = pa.array([{"k": 1.5}, {"k": 2.5}, {"k": 3.5}])
    return write_parquet(path, pa.table(columns))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_rejects_with_nested_columns_are_written(tmp_path: Path, suffix: str) -> None:
    raw = TableDataset(filepath=str(nested_parquet(tmp_path / "in.parquet"))).load()
    result = validate_sessions(raw, labelled=False)
    assert result.rejects[ID_COLUMN].tolist() == [-2]
    out = tmp_path / f"rejects{suffix}"
    TableDataset(filepath=str(out)).save(result.rejects)
    assert out.stat().st_size > 0
    back = TableDataset(filepath=str(out)).load()
    assert len(back) == 1
    assert json.loads(back["tags"][0]) == [3]
    assert json.loads(back["profile"][0]) == {"a": 2, "b": "y"}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_mixed_and_nested_objects_in_rejects_are_written(
    tmp_path: Path, suffix: str
) -> None:
    odd = [[1, 2], {"a": {1, 2}}, np.array([1.5, 2.5]), (1, "x"), "text", 7, None]
    frame = sessions(len(odd), note=odd, time_spent=-1.0)
    result = validate_sessions(frame, labelled=False)
    assert len(result.rejects) == len(odd)
    out = tmp_path / f"rejects{suffix}"
    TableDataset(filepath=str(out)).save(result.rejects)
    back = TableDataset(filepath=str(out)).load()
    assert len(back) == len(odd)
    assert json.loads(back["note"][2]) == [1.5, 2.5]
    assert back["note"][4] == "text"


# --- identifiers above 2^53 -----------------------------------------------------------

BIG = 2**53 + 1


@pytest.mark.parametrize(
    "ids",
    [
        [str(BIG), str(BIG + 1)],  # CSV text
        np.array([BIG, BIG + 1], dtype=np.int64),
        np.array([BIG, BIG + 1], dtype=object),  # Python ints
        pd.array([BIG, BIG + 1], dtype="Int64"),
        pd.array([BIG, BIG + 1], dtype=pd.ArrowDtype(pa.int64())),
        [Decimal(BIG), Decimal(BIG + 1)],
        [f"{BIG}.0", f" {BIG + 1} "],
    ],
)
def test_ids_above_2_53_are_kept_exactly_and_not_duplicates(ids: Any) -> None:
    result = validate_sessions(sessions(2, customer_id=ids), labelled=False)
    assert result.rejects.empty
    assert result.valid[ID_COLUMN].tolist() == [BIG, BIG + 1]
    assert result.valid[ID_COLUMN].dtype == np.int64


def test_a_gap_in_a_nullable_id_column_does_not_round_the_others() -> None:
    ids = pd.array([BIG, None, BIG + 1], dtype="Int64")
    result = validate_sessions(sessions(3, customer_id=ids), labelled=False)
    assert result.valid[ID_COLUMN].tolist() == [BIG, BIG + 1]
    assert result.rejects["reject_reason"].tolist() == ["customer_id is missing"]


def test_a_large_duplicated_id_is_shown_exactly() -> None:
    found = reasons(sessions(3, customer_id=[str(BIG), str(BIG), str(BIG + 1)]))
    assert found == [f"customer_id {BIG} is duplicated (2 rows in the input)"] * 2


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (str(2**63), f"customer_id must be at most {2**63 - 1}; got {2**63}"),
        (2**64, f"customer_id must be at most {2**63 - 1}; got {2**64}"),
        ("1e30", f"customer_id must be at most {2**63 - 1}; got 1e30"),
        (f"{BIG}.5", f"customer_id must be a whole number; got {BIG}.5"),
    ],
)
def test_an_id_beyond_int64_or_with_a_fraction_is_rejected_as_given(
    value: Any, reason: str
) -> None:
    column = np.array([value, 5], dtype=object)
    assert reasons(sessions(2, customer_id=column)) == [reason]


@pytest.mark.parametrize("name", [ID_COLUMN, PAGES_VIEWED, TIME_SPENT])
@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (" -9007199254740993 ", "-9007199254740993"),  # not -9007199254740992.0
        ("-2.5e300", "-2.5e300"),
        (-(2**70), str(-(2**70))),
        ("-1e2", "-1e2"),
    ],
)
def test_a_negative_beyond_the_exact_range_is_one_reject_shown_as_given(
    name: str, value: Any, shown: str
) -> None:
    column = np.array([value, 5], dtype=object)
    result = validate_sessions(sessions(2, **{name: column}), labelled=False)
    assert result.rejects["reject_rule"].tolist() == [f"{name}:negative"]
    assert result.rejects["reject_reason"].tolist() == [
        f"{name} must be >= 0; got {shown}"
    ]


def test_a_fraction_beyond_the_exact_range_breaks_both_rules() -> None:
    column = np.array([f"{BIG}.5", 5], dtype=object)
    result = validate_sessions(sessions(2, **{PAGES_VIEWED: column}), labelled=False)
    assert result.rejects["reject_rule"].tolist() == [
        f"{PAGES_VIEWED}:not_whole;{PAGES_VIEWED}:too_large"
    ]
    assert result.rejects["reject_reason"].tolist() == [
        f"{PAGES_VIEWED} must be a whole number; got {BIG}.5; "
        f"{PAGES_VIEWED} must be at most {2**53 - 1}; got {BIG}.5"
    ]


def test_without_a_minimum_a_large_negative_is_too_large_below(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No column of the spec lacks a minimum today; the rule is worded for one.
    unbounded = contract._MINIMUMS.astype(np.float64)
    unbounded[contract.NUMBER_COLUMNS.index(PAGES_VIEWED)] = -np.inf
    monkeypatch.setattr(contract, "_MINIMUMS", unbounded)
    column = np.array(["-1e20", "-3", 5], dtype=object)
    result = validate_sessions(sessions(3, **{PAGES_VIEWED: column}), labelled=False)
    assert result.rejects["reject_reason"].tolist() == [
        f"{PAGES_VIEWED} must be at least -{2**53 - 1}; got -1e20"
    ]
    assert result.valid[PAGES_VIEWED].tolist() == [-3, 5]


def test_a_csv_file_keeps_large_ids_exactly(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    sessions(3, customer_id=[str(BIG), str(BIG + 1), str(2**63 - 1)]).assign(
        time_spent=[1.0, -1.0, 2.0]
    ).to_csv(path, index=False)
    raw = TableDataset(filepath=str(path)).load()
    result = validate_sessions(raw, labelled=False)
    assert result.valid[ID_COLUMN].tolist() == [BIG, 2**63 - 1]
    assert result.rejects[ID_COLUMN].tolist() == [str(BIG + 1)]
    out = tmp_path / "valid.csv"
    TableDataset(filepath=str(out)).save(result.valid)
    assert out.read_text().splitlines()[1].startswith(f"{BIG},")


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=20, unique=True),
    st.sampled_from(["int", "text", "object"]),
)
def test_every_int64_id_survives_exactly(ids: list[int], form: str) -> None:
    column = {
        "int": np.array(ids, dtype=np.int64),
        "text": [f" {i} " for i in ids],
        "object": np.array(ids, dtype=object),
    }[form]
    result = validate_sessions(sessions(len(ids), customer_id=column), labelled=False)
    assert result.rejects.empty
    assert result.valid[ID_COLUMN].tolist() == ids


# --- headers --------------------------------------------------------------------------


def test_colliding_headers_are_refused_naming_both() -> None:
    frame = sessions(1).assign(Time_Spent=5.0)
    with pytest.raises(SessionsFileError, match="'time_spent' and 'Time_Spent'"):
        validate_sessions(frame, labelled=False, source="x.csv")
    spaced = sessions(1).rename(columns={TIME_SPENT: f" {TIME_SPENT}"})
    with pytest.raises(SessionsFileError, match=r"appears 2 times|are the same"):
        validate_sessions(spaced.assign(time_spent=1.0), labelled=False)


def test_a_header_read_as_a_renamed_repeat_is_refused() -> None:
    """pandas and pyarrow read a repeated header as ``time_spent.1``."""
    frame = sessions(1).assign(**{f"{TIME_SPENT}.1": 5.0})
    with pytest.raises(
        SessionsFileError,
        match=r"'time_spent' appears more than once in x.csv .*'time_spent\.1'",
    ):
        validate_sessions(frame, labelled=False, source="x.csv")
    # another column's ".1" is just another column, carried in the rejects
    other = sessions(1).assign(**{"note": 1, "note.1": 2})
    assert validate_sessions(other, labelled=False).rejects.empty


def test_a_repeated_header_in_a_csv_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "repeat.csv"
    header = ",".join([*SESSION_COLUMNS, PAGES_VIEWED.upper()])
    path.write_text(f"{header}\n1,2.0,3,4.0,Mobile,New,9\n")
    raw = TableDataset(filepath=str(path)).load()
    with pytest.raises(SessionsFileError, match="pages_viewed"):
        validate_sessions(raw, labelled=False, source=str(path))


headers = st.sampled_from(SESSION_COLUMNS).flatmap(
    lambda name: st.tuples(
        st.just(name),
        st.text(" \t", max_size=2),
        st.lists(st.booleans(), min_size=len(name), max_size=len(name)),
    ).map(
        lambda p: (
            p[1]
            + "".join(c.upper() if u else c for c, u in zip(p[0], p[2], strict=True))
            + p[1]
        )
    )
)


@settings(max_examples=100, deadline=None)
@given(st.lists(headers, min_size=1, max_size=8))
def test_names_collide_exactly_when_they_normalise_alike(names: list[str]) -> None:
    normalised = [normalise_name(name) for name in names]
    if len(set(normalised)) == len(normalised):
        assert normalised_names(names, source="f") == normalised
    else:
        with pytest.raises(SessionsFileError, match="keep one of them"):
            normalised_names(names, source="f")


# --- anything in any column: rows in = kept + rejected, rejects writable -------------

cells = any_value()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries({name: cells for name in (*SESSION_COLUMNS, "extra")}),
        min_size=1,
        max_size=8,
    )
)
def test_any_values_give_kept_plus_rejected_and_writable_rejects(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, Any]]
) -> None:
    frame = pd.DataFrame(rows)
    result = validate_sessions(frame, labelled=False)
    assert len(result.valid) + len(result.rejects) == len(rows)
    assert result.valid[ID_COLUMN].dtype == np.int64
    folder = tmp_path_factory.mktemp("rejects")
    for suffix in (".csv", ".parquet"):
        out = folder / f"rejects{suffix}"
        TableDataset(filepath=str(out)).save(result.rejects)
        assert len(TableDataset(filepath=str(out)).load()) == len(result.rejects)
