"""Tests for the synthetic session generator and its CLI."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from customer_purchase_prediction.synthetic import (
    COLUMNS,
    CUSTOMER_TYPES,
    DEVICES,
    FEATURE_COLUMNS,
    SHIFTS,
    generate_sessions,
)
from customer_purchase_prediction.synthetic_cli import main

RAW = Path(__file__).resolve().parents[1] / "data" / "01_raw"
NUMERIC = ("time_spent", "pages_viewed", "basket_value")
LABELS = {"device_type": DEVICES, "customer_type": CUSTOMER_TYPES}


@pytest.fixture(scope="module")
def clean() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Five thousand labelled sessions without messy values."""
    return generate_sessions(5_000, 11, messy_fraction=0)


@pytest.fixture(scope="module")
def messy() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two thousand labelled sessions with the default messy fraction."""
    return generate_sessions(2_000, 11)


def _as_number(column: pd.Series) -> pd.Series:
    """Return the column as floats, NaN where a cell is missing or not a number."""
    return pd.to_numeric(column, errors="coerce").astype(float)


def _is_text(column: pd.Series) -> pd.Series:
    """Return where a cell is present but not a number."""
    return column.notna() & _as_number(column).isna()


def test_same_seed_gives_identical_frames() -> None:
    first = generate_sessions(300, 5)
    second = generate_sessions(300, 5)
    pd.testing.assert_frame_equal(first[0], second[0])
    pd.testing.assert_frame_equal(first[1], second[1])


def test_different_seed_gives_different_frames() -> None:
    first, _ = generate_sessions(300, 5)
    second, _ = generate_sessions(300, 6)
    assert not first.equals(second)


def test_labelled_columns_in_contract_order() -> None:
    sessions, truth = generate_sessions(50, 1)
    assert list(sessions.columns) == list(COLUMNS)
    assert list(truth.columns) == ["customer_id", "true_probability"]


def test_unlabelled_has_no_purchase_and_same_sessions() -> None:
    _, truth = generate_sessions(200, 1)
    unlabelled, unlabelled_truth = generate_sessions(200, 1, labelled=False)
    assert list(unlabelled.columns) == list(COLUMNS[:-1])
    pd.testing.assert_frame_equal(truth, unlabelled_truth)
    clean_labelled, _ = generate_sessions(200, 1, messy_fraction=0)
    clean_unlabelled, _ = generate_sessions(200, 1, labelled=False, messy_fraction=0)
    pd.testing.assert_frame_equal(
        clean_labelled.drop(columns="purchase"), clean_unlabelled
    )


def test_base_rate_in_band(clean: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    sessions, truth = clean
    assert 0.26 <= sessions["purchase"].mean() <= 0.34
    assert 0.27 <= truth["true_probability"].mean() <= 0.33


def test_missing_share_per_feature_in_band(
    clean: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    sessions, _ = clean
    shares = sessions[list(FEATURE_COLUMNS)].isna().mean()
    assert shares.between(0.015, 0.045).all(), shares.to_dict()
    assert sessions["customer_id"].notna().all()
    assert sessions["purchase"].notna().all()


def test_basket_value_is_zero_inflated(
    clean: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    basket = clean[0]["basket_value"].dropna()
    assert 0.48 <= (basket == 0).mean() <= 0.62
    positive = basket[basket > 0]
    assert positive.mean() > positive.median()  # right-skewed


def test_realistic_marginals(clean: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    sessions, _ = clean
    devices = sessions["device_type"].value_counts(normalize=True)
    assert devices["Mobile"] > devices["Desktop"] > devices["Tablet"]
    assert 0.33 <= (sessions["customer_type"] == "Returning").mean() <= 0.45
    by_device = sessions.groupby("device_type")["time_spent"].median()
    assert by_device["Desktop"] > by_device["Mobile"]
    both = sessions[["time_spent", "pages_viewed"]].dropna().astype(float)
    assert both.corr().iloc[0, 1] > 0.5
    assert (sessions["time_spent"].dropna() >= 0).all()


def test_no_messy_values_when_fraction_is_zero(
    clean: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    sessions, truth = clean
    for name in NUMERIC:
        assert pd.api.types.is_numeric_dtype(sessions[name]), name
        assert (sessions[name].dropna() >= 0).all(), name
    for name, allowed in LABELS.items():
        assert sessions[name].dropna().isin(allowed).all(), name
    assert sessions["customer_id"].is_unique
    assert sessions["customer_id"].equals(truth["customer_id"])
    assert sessions["customer_id"].iloc[0] == 100001
    assert set(sessions["purchase"]) <= {0, 1}


def test_messy_values_present(messy: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    sessions, _ = messy
    assert (_as_number(sessions["time_spent"]) < 0).any()
    assert (_as_number(sessions["basket_value"]) < 0).any()
    assert any(_is_text(sessions[name]).any() for name in NUMERIC)
    assert (sessions["device_type"] == "SmartTV").any()
    assert sessions["customer_id"].duplicated().any()
    assert (sessions["pages_viewed"].astype(str).str.endswith(".5")).any()
    assert (~sessions["purchase"].isin([0, 1])).any()


@pytest.fixture(scope="module")
def mess_only() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same sessions with and without messy values, and no missing cells."""
    with_mess, _ = generate_sessions(2_000, 11, missing_fraction=0)
    without, _ = generate_sessions(2_000, 11, missing_fraction=0, messy_fraction=0)
    return with_mess, without


def test_harmless_labels_are_valid_after_normalising(
    mess_only: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    sessions, clean_sessions = mess_only
    for name, allowed in LABELS.items():
        raw = sessions[name]
        odd = raw[~raw.isin(allowed) & (raw != "SmartTV")]
        assert len(odd) > 0, name
        normalised = odd.str.strip().str.capitalize()
        # A restyled label still names the clean session's value.
        assert normalised.equals(clean_sessions.loc[odd.index, name]), name


def test_messy_rows_are_half_harmless(
    mess_only: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    sessions, clean_sessions = mess_only
    differs = sessions.astype(str) != clean_sessions.astype(str)
    assert differs.any(axis=1).sum() == round(0.03 * 2_000)
    labels = list(LABELS)
    normalised = sessions[labels].apply(lambda c: c.str.strip().str.capitalize())
    harmless = (
        differs[labels].any(axis=1)
        & ~differs.drop(columns=labels).any(axis=1)
        & normalised.eq(clean_sessions[labels]).all(axis=1)
    )
    assert harmless.sum() == 30


def test_truth_ignores_mess_and_is_a_probability(
    clean: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    _, messy_truth = generate_sessions(5_000, 11, messy_fraction=0.2)
    pd.testing.assert_frame_equal(clean[1], messy_truth)
    probability = messy_truth["true_probability"]
    assert ((probability > 0) & (probability < 1)).all()
    assert messy_truth["customer_id"].is_unique


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"rows": 0, "seed": 1}, "rows"),
        ({"rows": 10, "seed": 1, "messy_fraction": 1.5}, "messy_fraction"),
        ({"rows": 10, "seed": 1, "missing_fraction": -0.1}, "missing_fraction"),
    ],
)
def test_invalid_arguments_name_the_argument(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        generate_sessions(**kwargs)


def test_cli_writes_sessions_and_truth(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out, truth_out = tmp_path / "sub" / "s.csv", tmp_path / "truth.csv"
    argv = ["--rows", "120", "--seed", "3", "--out", str(out)]
    with caplog.at_level(logging.INFO):
        code = main([*argv, "--true-probabilities", str(truth_out)])
    assert code == 0
    written = pd.read_csv(out)
    assert list(written.columns) == list(COLUMNS)
    assert len(written) == 120
    truth = pd.read_csv(truth_out)
    assert list(truth.columns) == ["customer_id", "true_probability"]
    assert len(truth) == 120
    assert str(out) in caplog.text


def test_cli_unlabelled_parquet(tmp_path: Path) -> None:
    out = tmp_path / "s.parquet"
    assert main(["--rows", "80", "--seed", "3", "--unlabelled", "--out", str(out)]) == 0
    written = pd.read_parquet(out)
    assert list(written.columns) == list(COLUMNS[:-1])
    assert len(written) == 80


@pytest.mark.parametrize(
    ("name", "argv"),
    [
        ("customer_sessions.csv", ["--rows", "1000", "--seed", "42"]),
        ("new_sessions.csv", ["--rows", "200", "--seed", "7", "--unlabelled"]),
    ],
)
def test_committed_raw_data_is_reproducible(
    tmp_path: Path, name: str, argv: list[str]
) -> None:
    out = tmp_path / name
    main([*argv, "--out", str(out)])
    assert out.read_bytes() == (RAW / name).read_bytes()


def test_committed_training_data_base_rate() -> None:
    labels = pd.read_csv(RAW / "customer_sessions.csv", dtype=str)["purchase"]
    valid = labels[labels.isin(["0", "1"])].astype(int)
    assert 0.28 <= valid.mean() <= 0.32
    assert np.isclose(len(valid), 1_000, atol=5)


# ---------------------------------------------------------------- shifted sessions
@pytest.mark.parametrize("shift", SHIFTS)
def test_a_shift_changes_only_what_it_names(shift: str) -> None:
    plain, plain_truth = generate_sessions(3000, 4, messy_fraction=0)
    shifted, shifted_truth = generate_sessions(3000, 4, messy_fraction=0, shift=shift)
    changed = {
        name
        for name in COLUMNS
        if not plain[name].astype(str).equals(shifted[name].astype(str))
    }
    expected = {
        "longer_sessions": {"time_spent", "purchase"},
        "more_mobile": {"device_type", "purchase"},
        "new_device_label": {"device_type"},
        "purchase_rule": {"purchase"},
    }[shift]
    assert changed == expected
    if shift == "longer_sessions":
        ratio = _as_number(shifted["time_spent"]) / _as_number(plain["time_spent"])
        assert ratio.dropna().between(1.0, 2.01).all()
        assert ratio.median() == pytest.approx(2.0, abs=0.01)
    if shift == "more_mobile":
        assert (shifted["device_type"] == "Mobile").mean() == pytest.approx(
            0.85, abs=0.03
        )
    if shift == "new_device_label":
        assert (shifted["device_type"] == "SmartTV").mean() == pytest.approx(
            0.2, abs=0.03
        )
    if shift == "purchase_rule":
        assert not np.allclose(
            plain_truth["true_probability"], shifted_truth["true_probability"]
        )


def test_an_unknown_shift_is_named() -> None:
    with pytest.raises(ValueError, match="shift must be one of longer_sessions"):
        generate_sessions(10, 1, shift="shorter")


def test_cli_writes_shifted_sessions_and_their_outcomes(tmp_path: Path) -> None:
    out, outcomes = tmp_path / "s.csv", tmp_path / "o.csv"
    argv = ["--rows", "300", "--seed", "7", "--unlabelled", "--out", str(out)]
    assert main([*argv, "--shift", "more_mobile", "--outcomes", str(outcomes)]) == 0
    sessions, written = pd.read_csv(out, dtype=str), pd.read_csv(outcomes, dtype=str)
    assert list(written.columns) == ["customer_id", "purchase"]
    assert written["customer_id"].equals(sessions["customer_id"])
    labelled, _ = generate_sessions(300, 7, shift="more_mobile")
    assert written["purchase"].equals(labelled["purchase"].astype(str))
    plain = tmp_path / "plain.csv"
    main(["--rows", "300", "--seed", "7", "--unlabelled", "--out", str(plain)])
    assert plain.read_bytes() != out.read_bytes()
