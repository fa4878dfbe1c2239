"""Drift: the reference profile, each statistic, statuses on known shifts."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy import stats

from customer_purchase_prediction.columns import FEATURE_COLUMNS, SESSION_COLUMNS
from customer_purchase_prediction.contract import (
    count_reject_columns,
    validate_sessions,
)
from customer_purchase_prediction.drift import (
    NOT_JUDGED,
    MonitoringParams,
    Thresholds,
    build_profile,
    chi_square,
    drift_report,
    fails,
    ks_against_profile,
    number_profile,
    psi,
    summary_of,
    two_proportions,
)
from customer_purchase_prediction.drift_hooks import drift_failure
from customer_purchase_prediction.synthetic import generate_sessions

PARAMS = MonitoringParams()


def _profile(scores: Any = None) -> dict[str, Any]:
    """The profile of 1,000 generated training sessions (as the embedded file)."""
    raw, _ = generate_sessions(1000, 42)
    result = validate_sessions(raw, labelled=True)
    rng = np.random.default_rng(0)
    return build_profile(
        result.valid,
        rng.beta(2, 5, 150) if scores is None else scores,
        rows_in=len(raw),
        rejected=len(result.rejects),
        rejects_by_column=count_reject_columns(result.rejects),
    )


@pytest.fixture(scope="module")
def profile() -> dict[str, Any]:
    return _profile()


def _batch(
    profile: dict[str, Any], rows: int, seed: int, shift: str | None = None
) -> dict[str, Any]:
    raw, _ = generate_sessions(rows, seed, labelled=False, shift=shift)
    result = validate_sessions(raw, labelled=False)
    scores = np.random.default_rng(seed).beta(2, 5, len(result.valid))
    return drift_report(
        result.valid, scores, profile, PARAMS, rows_in=len(raw), rejects=result.rejects
    )


def test_the_profile_is_small_plain_and_covers_every_input_column(
    profile: dict[str, Any],
) -> None:
    text = json.dumps(profile)  # plain types only: skops needs no new trusted type
    assert len(text) < 20_000
    assert set(profile["columns"]) == set(FEATURE_COLUMNS)
    assert profile["columns"]["time_spent"]["kind"] == "number"
    assert profile["columns"]["device_type"]["levels"] == [
        "Mobile",
        "Desktop",
        "Tablet",
        "Unknown",
    ]
    assert sum(profile["columns"]["device_type"]["frequencies"]) == pytest.approx(1)
    assert sum(profile["score"]["frequencies"]) == pytest.approx(1)
    assert 0 < profile["reject_rate"]["batch"] < 0.05


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(min_value=1000, max_value=100_000))
def test_fresh_sessions_from_the_training_process_raise_no_alert(seed: int) -> None:
    report = _batch(_PROFILE, 400, seed)
    assert report["status"] != "alert", report["reason"]
    assert report["alerting"] == []


_PROFILE = _profile()


@pytest.mark.parametrize(
    ("shift", "column"),
    [
        ("longer_sessions", "time_spent"),
        ("more_mobile", "device_type"),
        ("new_device_label", "device_type"),
    ],
)
@pytest.mark.parametrize("rows", [300, 5000])
def test_a_shifted_column_alerts_and_the_others_do_not(
    profile: dict[str, Any], shift: str, column: str, rows: int
) -> None:
    report = _batch(profile, rows, 9, shift)
    assert report["status"] == "alert"
    assert report["columns"][column]["status"] == "alert"
    others = [c for c in FEATURE_COLUMNS if c != column]
    assert all(report["columns"][c]["status"] != "alert" for c in others)
    assert column in report["alerting"]
    assert column in report["reason"]
    assert report["columns"][column]["reasons"][0]  # said in words


def test_longer_sessions_are_said_in_words(profile: dict[str, Any]) -> None:
    reason = _batch(profile, 2000, 9, "longer_sessions")["columns"]["time_spent"][
        "reasons"
    ][0]
    assert reason.startswith("values moved: PSI ")
    assert ">= 0.25" in reason
    assert "minutes" in reason  # the column's unit, from the column spec


def test_a_new_device_label_shows_as_the_column_s_reject_rate(
    profile: dict[str, Any],
) -> None:
    report = _batch(profile, 2000, 9, "new_device_label")
    part = report["columns"]["device_type"]["reject_rate"]
    assert part["status"] == "alert"
    assert part["batch"] == pytest.approx(0.2, abs=0.03)
    assert report["reject_rate"]["status"] == "alert"


def test_a_training_row_breaking_two_rules_of_a_column_is_one_reject_of_it() -> None:
    # pages_viewed -1.5 is both not_whole and negative: one rejected row of
    # pages_viewed in the training profile, as in a batch's report.
    raw, _ = generate_sessions(200, 5)
    raw["pages_viewed"] = raw["pages_viewed"].astype("object")
    raw.loc[:49, "pages_viewed"] = -1.5
    result = validate_sessions(raw, labelled=True)
    broken = result.rejects["reject_rule"].str.count("pages_viewed:") >= 2
    assert broken.sum() == 50
    profile = build_profile(
        result.valid,
        np.full(10, 0.5),
        rows_in=len(raw),
        rejected=len(result.rejects),
        rejects_by_column=count_reject_columns(result.rejects),
    )
    rejected_here = result.rejects["reject_rule"].str.contains("pages_viewed:").sum()
    assert profile["reject_rate"]["columns"]["pages_viewed"] == pytest.approx(
        rejected_here / len(raw)
    )
    assert (
        profile["reject_rate"]["columns"]["pages_viewed"]
        <= (profile["reject_rate"]["batch"])
    )


def test_reject_columns_count_each_row_once_per_column() -> None:
    rejects = pd.DataFrame(
        {
            "reject_rule": [
                "pages_viewed:not_whole;pages_viewed:negative",
                "pages_viewed:negative;time_spent:missing",
                "customer_id:duplicated",
            ]
        },
        index=[7, 7, 3],  # a rejects frame's index need not be unique
    )
    assert count_reject_columns(rejects) == {
        "pages_viewed": 2,
        "time_spent": 1,
        "customer_id": 1,
    }
    assert count_reject_columns(rejects.iloc[:0]) == {}


def test_a_changed_purchase_rule_leaves_the_inputs_as_they_were(
    profile: dict[str, Any],
) -> None:
    # The rule relates inputs to the label; the inputs, and so the scores, keep
    # their distribution: it shows in realised performance (test_monitoring).
    report = _batch(profile, 2000, 9, "purchase_rule")
    assert all(report["columns"][c]["status"] == "ok" for c in FEATURE_COLUMNS)


def test_the_score_s_psi_moves_with_the_scores(trained_model: Any) -> None:
    raw, _ = generate_sessions(2000, 5, labelled=False)
    fresh = validate_sessions(raw, labelled=False).valid
    shifted_raw, _ = generate_sessions(2000, 5, labelled=False, shift="longer_sessions")
    shifted = validate_sessions(shifted_raw, labelled=False).valid
    reference = _profile(trained_model.predict_proba(fresh.iloc[:600]))

    def score_part(sessions: pd.DataFrame) -> dict[str, Any]:
        scores = trained_model.predict_proba(sessions)
        report = drift_report(sessions, scores, reference, PARAMS, rows_in=2000)
        return report["score"]

    still = score_part(fresh.iloc[600:])
    moved = score_part(shifted)
    assert still["psi"] < 0.1
    assert still["status"] == "ok"
    assert moved["psi"] >= max(0.1, 3 * still["psi"])
    assert moved["status"] in ("warn", "alert")


def test_a_small_batch_is_too_small_to_judge(profile: dict[str, Any]) -> None:
    report = _batch(profile, 60, 3, "longer_sessions")
    assert report["status"] == NOT_JUDGED
    assert report["reason"].startswith("too small to judge")
    assert "monitoring.min_rows" in report["reason"]
    assert not fails(report, "warn")


def test_a_model_without_a_profile_says_so() -> None:
    raw, _ = generate_sessions(300, 3, labelled=False)
    valid = validate_sessions(raw, labelled=False).valid
    report = drift_report(valid, np.zeros(len(valid)), None, PARAMS, rows_in=300)
    assert report["status"] == NOT_JUDGED
    assert report["reason"].startswith("no reference profile")


@settings(max_examples=40, deadline=None)
@given(
    shares=st.lists(st.floats(0.001, 1.0), min_size=2, max_size=12),
    other=st.lists(st.floats(0.001, 1.0), min_size=12, max_size=12),
)
def test_psi_is_zero_on_itself_and_positive_otherwise(
    shares: list[float], other: list[float]
) -> None:
    first = np.asarray(shares) / sum(shares)
    second = np.asarray(other[: len(shares)]) / sum(other[: len(shares)])
    assert psi(first, first) == pytest.approx(0.0, abs=1e-12)
    assert psi(first, second) >= -1e-12
    assert psi(first, second) == pytest.approx(psi(second, first))


def test_ks_against_the_profile_is_scipy_s_two_sample_test() -> None:
    rng = np.random.default_rng(1)
    reference, batch = rng.lognormal(2, 0.6, 5000), rng.lognormal(2.1, 0.6, 3000)
    statistic, p_value = ks_against_profile(number_profile(reference), np.sort(batch))
    exact = stats.ks_2samp(reference, batch, method="asymp")
    # The profile keeps 99 quantiles, so the statistic is read at those points.
    assert statistic == pytest.approx(exact.statistic, abs=0.01)
    assert p_value < 1e-6 and exact.pvalue < 1e-6


def test_chi_square_is_scipy_s_contingency_test() -> None:
    reference, batch = np.array([500, 300, 200, 0]), np.array([90, 60, 40, 10])
    statistic, p_value = chi_square(reference, batch)
    expected = stats.chi2_contingency(
        np.array([[500, 300, 200, 0], [90, 60, 40, 10]])[:, :4], correction=False
    )
    assert statistic == pytest.approx(expected.statistic)
    assert p_value == pytest.approx(expected.pvalue)


def test_two_proportions_is_the_pooled_z_test() -> None:
    p_value = two_proportions(30, 1000, 60, 1000)
    pooled = 90 / 2000
    z = 0.03 / np.sqrt(pooled * (1 - pooled) * (2 / 1000))
    assert p_value == pytest.approx(2 * stats.norm.sf(z))
    assert two_proportions(0, 100, 0, 50) == 1.0


def test_a_large_psi_that_may_be_chance_is_not_an_alert() -> None:
    # Ten values against a profile: a large PSI, but no test would call it real.
    profile = _profile()
    raw, _ = generate_sessions(400, 2, labelled=False)
    valid = validate_sessions(raw, labelled=False).valid.iloc[:10]
    report = drift_report(
        valid,
        np.full(10, 0.3),
        profile,
        MonitoringParams(min_rows=5),
        rows_in=10,
    )
    parts = [*report["columns"].values(), report["score"]]
    # PSI reached a threshold somewhere, yet nothing is flagged: p says chance.
    assert any(part["psi"] >= PARAMS.psi.warn for part in parts)
    assert all(
        part["status"] == "ok"
        for part in parts
        if part["psi"] >= PARAMS.psi.warn and part["p_value"] >= PARAMS.p_value
    )
    assert report["status"] in ("ok", "warn", "alert")


def test_thresholds_must_be_ordered_and_keys_known() -> None:
    with pytest.raises(ValidationError, match="warn must be < alert"):
        Thresholds(warn=0.3, alert=0.2)
    with pytest.raises(ValidationError, match="extra"):
        MonitoringParams.model_validate({"psi_alert": 0.3})
    with pytest.raises(ValidationError):
        MonitoringParams.model_validate({"fail_on": "sometimes"})


def test_fail_on_names_the_alerting_columns(profile: dict[str, Any]) -> None:
    report = _batch(profile, 2000, 9, "longer_sessions")
    assert fails(report, "alert") and fails(report, "warn")
    assert not fails(report, None)
    message = drift_failure(report, "alert")
    assert message is not None
    assert "time_spent" in message
    assert "monitoring.fail_on" in message
    assert drift_failure(_batch(profile, 400, 11), "alert") is None
    assert summary_of(report)["alerting"] == report["alerting"]


def test_the_report_is_plain_json(profile: dict[str, Any]) -> None:
    report = _batch(profile, 500, 4, "more_mobile")
    assert json.loads(json.dumps(report))["status"] == "alert"
    assert set(report["columns"]) == set(SESSION_COLUMNS) - {SESSION_COLUMNS[0]}
