"""The contact list: who is worth contacting, best expected profit first, within limits."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from customer_purchase_prediction import PurchasePredictor
from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.columns import FEATURE_COLUMNS, ID_COLUMN
from customer_purchase_prediction.contract import validate_sessions
from customer_purchase_prediction.errors import TargetingError
from customer_purchase_prediction.explain import REASON_COLUMNS, explain
from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.synthetic import generate_sessions
from customer_purchase_prediction.targeting import (
    CONTACT_COLUMNS,
    TargetingParams,
    contact_list,
    contact_rows,
    contact_summary,
    deciles,
)

BUSINESS = BusinessParams(contact_cost=5.0, conversion_value=25.0)  # break-even 0.2


def scored(probabilities: list[float], ids: list[int] | None = None) -> pd.DataFrame:
    ids = ids if ids is not None else list(range(1, len(probabilities) + 1))
    return pd.DataFrame({ID_COLUMN: ids, "purchase_probability": probabilities})


@pytest.fixture(scope="module")
def sessions() -> pd.DataFrame:
    raw, _ = generate_sessions(400, seed=21, labelled=False, messy_fraction=0.0)
    return validate_sessions(raw, labelled=False).valid


def test_only_customers_with_a_positive_expected_profit_are_listed_best_first() -> None:
    rows = contact_rows(scored([0.1, 0.9, 0.2, 0.5, 0.21]), BUSINESS, TargetingParams())
    # 0.2 x 25 - 5 = 0 is no profit; 0.1 is a loss.
    assert rows.tolist() == [1, 3, 4]


def test_ties_in_profit_go_to_the_lower_customer_id() -> None:
    rows = contact_rows(
        scored([0.5, 0.5, 0.5], ids=[30, 10, 20]), BUSINESS, TargetingParams()
    )
    assert rows.tolist() == [1, 2, 0]


def test_max_contacts_and_budget_each_cut_the_list_and_both_take_the_fewer() -> None:
    frame = scored([0.9, 0.8, 0.7, 0.6, 0.5])
    assert len(contact_rows(frame, BUSINESS, TargetingParams(max_contacts=2))) == 2
    # 15.00 pays for exactly three contacts at 5.00 each.
    assert len(contact_rows(frame, BUSINESS, TargetingParams(budget=15.0))) == 3
    assert len(contact_rows(frame, BUSINESS, TargetingParams(budget=14.99))) == 2
    both = TargetingParams(max_contacts=4, budget=10.0)
    assert contact_rows(frame, BUSINESS, both).tolist() == [0, 1]
    # A budget of 0 contacts nobody; a free contact is limited by max_contacts only.
    assert len(contact_rows(frame, BUSINESS, TargetingParams(budget=0.0))) == 0
    free = BusinessParams(contact_cost=0.0, conversion_value=25.0)
    assert len(contact_rows(frame, free, TargetingParams(budget=1.0))) == 5


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"max_contacts": 0}, "max_contacts"),
        ({"max_contacts": 2.5}, "max_contacts"),
        ({"max_contacts": True}, "max_contacts"),
        ({"budget": -1.0}, "budget"),
        ({"budget": float("inf")}, "budget"),
        ({"max_contact": 3}, "max_contact"),
    ],
)
def test_bad_targeting_values_are_refused_naming_the_key(
    values: dict[str, object], key: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        TargetingParams.model_validate(values)
    assert caught.value.errors()[0]["loc"] == (key,)


def test_deciles_rank_the_whole_batch_most_likely_first() -> None:
    probability = np.linspace(1.0, 0.0, 20)
    assert deciles(probability, np.arange(20)).tolist() == [
        d for d in range(1, 11) for _ in range(2)
    ]
    # Ties by customer_id, as the ranked predictions order them.
    assert deciles(np.array([0.5, 0.5]), np.array([9, 3])).tolist() == [6, 1]


def test_the_list_has_its_columns_reasons_and_the_input_values(
    trained_model: PurchaseModel, sessions: pd.DataFrame
) -> None:
    scores = trained_model.score(sessions)
    contacts = contact_list(
        sessions, scores, trained_model, BUSINESS, TargetingParams(max_contacts=25)
    )
    assert tuple(contacts.columns) == CONTACT_COLUMNS
    assert len(contacts) == 25
    assert contacts["expected_profit"].is_monotonic_decreasing
    assert (contacts["expected_profit"] > 0).all()
    np.testing.assert_array_equal(
        contacts["expected_profit"],
        contacts["purchase_probability"] * 25.0 - 5.0,
    )
    by_id = sessions.set_index(ID_COLUMN)
    listed = by_id.loc[contacts[ID_COLUMN]]
    for name in FEATURE_COLUMNS:
        pd.testing.assert_series_equal(
            contacts[name].reset_index(drop=True),
            listed[name].reset_index(drop=True),
            check_names=False,
        )
    # The probabilities are the model's own, bit for bit, and so are the reasons.
    expected = scores.set_index(ID_COLUMN)["purchase_probability"]
    assert np.array_equal(
        contacts["purchase_probability"], expected.loc[contacts[ID_COLUMN]]
    )
    rows = sessions.set_index(ID_COLUMN).loc[contacts[ID_COLUMN]].reset_index()
    reasons = explain(trained_model, rows).frame()
    pd.testing.assert_frame_equal(contacts[list(REASON_COLUMNS)], reasons)
    assert contacts["reason_1"].notna().all()


def test_the_summary_counts_the_list_its_conversions_and_profit(
    trained_model: PurchaseModel, sessions: pd.DataFrame
) -> None:
    targeting = TargetingParams(budget=100.0)
    contacts = contact_list(
        sessions, trained_model.score(sessions), trained_model, BUSINESS, targeting
    )
    summary = contact_summary(contacts, BUSINESS, targeting)
    assert summary["listed"] == len(contacts) <= 20
    assert summary["expected_conversions"] == round(
        contacts["purchase_probability"].sum(), 4
    )
    assert summary["expected_profit"] == round(contacts["expected_profit"].sum(), 2)
    assert summary["contact_cost"] == 5.0 * len(contacts) <= 100.0
    assert summary["budget"] == 100.0


def test_an_empty_batch_gives_an_empty_list(
    trained_model: PurchaseModel, sessions: pd.DataFrame
) -> None:
    none = sessions.iloc[:0]
    contacts = contact_list(
        none, trained_model.score(none), trained_model, BUSINESS, TargetingParams()
    )
    assert tuple(contacts.columns) == CONTACT_COLUMNS
    assert contacts.empty
    assert contact_summary(contacts, BUSINESS, TargetingParams())["listed"] == 0


def test_the_predictor_gives_the_same_rows(
    trained_model: PurchaseModel, sessions: pd.DataFrame
) -> None:
    predictor = PurchasePredictor(trained_model)
    given_rows = sessions.astype({name: "object" for name in FEATURE_COLUMNS[:3]})
    contacts = predictor.contact_list(given_rows, max_contacts=10, business=BUSINESS)
    expected = contact_list(
        sessions,
        trained_model.score(sessions),
        trained_model,
        BUSINESS,
        TargetingParams(max_contacts=10),
    )
    pd.testing.assert_frame_equal(contacts, expected, check_exact=True)
    records = predictor.contact_list(
        sessions.to_dict(orient="records"), budget=20.0, business=BUSINESS
    )
    assert records[ID_COLUMN].tolist() == expected[ID_COLUMN].tolist()[:4]


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [({"max_contacts": 0}, "max_contacts"), ({"budget": -5}, "budget")],
)
def test_the_predictor_refuses_bad_limits_naming_them(
    trained_model: PurchaseModel,
    sessions: pd.DataFrame,
    kwargs: dict[str, float],
    key: str,
) -> None:
    with pytest.raises(TargetingError, match=f"^{key}: "):
        PurchasePredictor(trained_model).contact_list(sessions, **kwargs)


@settings(max_examples=50, deadline=None)
@given(
    probabilities=st.lists(st.floats(0, 1), max_size=60),
    max_contacts=st.one_of(st.none(), st.integers(1, 80)),
    budget=st.one_of(st.none(), st.floats(0, 400)),
    cost=st.floats(0, 30),
    value=st.floats(0.5, 200),
)
def test_the_list_is_the_best_profitable_customers_within_every_limit(
    probabilities: list[float],
    max_contacts: int | None,
    budget: float | None,
    cost: float,
    value: float,
) -> None:
    business = BusinessParams(contact_cost=cost, conversion_value=value)
    targeting = TargetingParams(max_contacts=max_contacts, budget=budget)
    frame = scored(probabilities)
    rows = contact_rows(frame, business, targeting)
    profit = business.expected_profit(np.asarray(probabilities, dtype=float))
    listed = profit[rows]
    assert (listed > 0).all()
    assert (np.diff(listed) <= 0).all()  # best first
    assert len(set(rows.tolist())) == len(rows)
    positive = int((profit > 0).sum())
    limit = positive
    if max_contacts is not None:
        limit = min(limit, max_contacts)
    if budget is not None and cost > 0 and math.isfinite(budget / cost):
        limit = min(limit, math.floor(budget / cost + 1e-9))
    assert len(rows) == limit
    if len(rows):  # nobody left out is better than somebody listed
        left_out = np.setdiff1d(np.arange(len(profit)), rows)
        assert (profit[left_out] <= listed.min()).all()


def test_a_budget_that_buys_more_contacts_than_a_float_holds_is_no_limit() -> None:
    # 1.0 / 5e-324 overflows to inf: every profitable customer is affordable.
    business = BusinessParams(contact_cost=5e-324, conversion_value=1.0)
    targeting = TargetingParams(budget=1.0)
    assert targeting.limit(business) is None
    rows = contact_rows(scored([0.9, 0.2, 0.5]), business, targeting)
    assert len(rows) == 3
