"""The contact list explains only the customers it lists, after its limits."""

from __future__ import annotations

from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from customer_purchase_prediction import explain as explain_module
from customer_purchase_prediction import targeting
from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.columns import ID_COLUMN
from customer_purchase_prediction.contract import validate_sessions
from customer_purchase_prediction.explain import InferenceParams
from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.pipelines.inference.nodes import (
    build_contact_list,
    explain_predictions,
)
from customer_purchase_prediction.synthetic import generate_sessions
from customer_purchase_prediction.targeting import TargetingParams

# Break-even 0.04: nearly every customer is worth contacting.
BUSINESS = BusinessParams(contact_cost=1.0, conversion_value=25.0)


@pytest.fixture(scope="module")
def sessions() -> pd.DataFrame:
    raw, _ = generate_sessions(400, seed=23, labelled=False, messy_fraction=0.0)
    return validate_sessions(raw, labelled=False).valid


@pytest.fixture
def explained_rows(monkeypatch: pytest.MonkeyPatch) -> list[pd.Series]:
    """The customer ids of every call of the contact list's ``explain``."""
    calls: list[pd.Series] = []
    real = explain_module.explain

    def spy(model: PurchaseModel, rows: pd.DataFrame, **options: Any) -> Any:
        calls.append(rows[ID_COLUMN].reset_index(drop=True))
        return real(model, rows, **options)

    monkeypatch.setattr(targeting, "explain", spy)
    return calls


@pytest.mark.parametrize(
    "limits",
    [{"max_contacts": 7}, {"budget": 12.0}, {"max_contacts": 30, "budget": 9.0}],
)
def test_without_explain_the_list_explains_only_its_listed_customers(
    trained_model: PurchaseModel,
    sessions: pd.DataFrame,
    explained_rows: list[pd.Series],
    limits: dict[str, Any],
) -> None:
    scored = explain_predictions(
        trained_model.score(sessions),
        sessions,
        trained_model,
        InferenceParams(explain=False),
    )
    worth = (BUSINESS.expected_profit(scored["purchase_probability"]) > 0).sum()
    contacts, summary = build_contact_list(
        sessions, scored, trained_model, BUSINESS, TargetingParams(**limits)
    )
    assert worth > 100  # most customers are worth contacting ...
    (explained,) = explained_rows  # ... but one call explains the listed ones only
    assert len(explained) == len(contacts) == summary["listed"] < worth
    pd.testing.assert_series_equal(
        explained, contacts[ID_COLUMN].reset_index(drop=True), check_names=False
    )
    assert contacts["reason_1"].notna().all()


def test_with_explain_the_list_takes_the_predictions_reasons(
    trained_model: PurchaseModel,
    sessions: pd.DataFrame,
    explained_rows: list[pd.Series],
) -> None:
    scored = explain_predictions(
        trained_model.score(sessions),
        sessions,
        trained_model,
        InferenceParams(explain=True),
    )
    contacts, _ = build_contact_list(
        sessions, scored, trained_model, BUSINESS, TargetingParams(max_contacts=5)
    )
    assert not explained_rows  # no second explanation of anyone
    by_id = scored.set_index(ID_COLUMN).loc[contacts[ID_COLUMN]]
    assert (contacts["reason_1"].to_numpy() == by_id["reason_1"].to_numpy()).all()


@pytest.mark.parametrize(
    "limits",
    [{"max_contacts": 40}, {"budget": 25.0}, {"max_contacts": None}],
)
def test_on_partitions_each_listed_customer_is_explained_once(
    trained_model: PurchaseModel,
    sessions: pd.DataFrame,
    explained_rows: list[pd.Series],
    limits: dict[str, Any],
) -> None:
    """--env=dask: partitions and merges only select; one explain, of the list."""
    scored = trained_model.score(sessions)
    targeting_params = TargetingParams(**limits)
    expected, expected_summary = build_contact_list(
        sessions, scored, trained_model, BUSINESS, targeting_params
    )
    explained_rows.clear()
    parts = {"npartitions": 5, "sort": False}
    # One process, so the spy sees every call; the frames' own string dtype.
    with dask.config.set(
        {"scheduler": "synchronous", "dataframe.convert-string": False}
    ):
        contacts, summary = build_contact_list(
            dd.from_pandas(sessions, **parts),
            dd.from_pandas(scored, **parts),
            trained_model,
            BUSINESS,
            targeting_params,
        )
    assert len(contacts) > 0
    (explained,) = explained_rows  # one call, after the merges ...
    pd.testing.assert_series_equal(  # ... of the listed customers only
        explained, contacts[ID_COLUMN].reset_index(drop=True), check_names=False
    )
    # The pandas path's list: rows, order, probabilities' bits, reasons, deciles.
    pd.testing.assert_frame_equal(contacts, expected, check_exact=True)
    assert np.array_equal(
        contacts["purchase_probability"].to_numpy().view(np.int64),
        expected["purchase_probability"].to_numpy().view(np.int64),
    )
    assert summary == expected_summary
