"""The contact list: the customers worth contacting, best expected profit first.

A scored customer is worth contacting when the expected profit of a contact,
``probability x conversion_value - contact_cost`` (``business.BusinessParams``),
is above zero. The list holds those customers, best expected profit first (ties
by ``customer_id``), cut to ``targeting.max_contacts`` customers and to as many
as ``targeting.budget`` pays contacts for, whichever is fewer. Each row carries
the customer's probability, expected profit, decile among the scored batch (1:
the most likely tenth), up to three reasons (``explain.py``) and the session's
input columns, so a marketer can act on it without a join. The inference
pipeline writes it (``contact_list``), and ``PurchasePredictor.contact_list``
gives the same rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.columns import FEATURE_COLUMNS, ID_COLUMN
from customer_purchase_prediction.explain import REASON_COLUMNS, explain
from customer_purchase_prediction.model import PurchaseModel

PROBABILITY = "purchase_probability"
EXPECTED_PROFIT = "expected_profit"
DECILE = "decile"
CONTACT_COLUMNS: tuple[str, ...] = (
    ID_COLUMN,
    PROBABILITY,
    EXPECTED_PROFIT,
    DECILE,
    *REASON_COLUMNS,
    *FEATURE_COLUMNS,
)
DECILES = 10


class TargetingParams(BaseModel):
    """How many customers the contact list may hold (``targeting:``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_contacts: int | None = Field(
        None,
        ge=1,
        strict=True,
        description="The most customers to list (a whole number >= 1); null: "
        "every customer worth contacting.",
    )
    budget: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="The most the listed contacts may cost together "
        "(business.contact_cost each); null: no budget.",
    )

    def limit(self, business: BusinessParams) -> int | None:
        """The most customers the list may hold, or None for no limit."""
        limits = [] if self.max_contacts is None else [self.max_contacts]
        if self.budget is not None and business.contact_cost > 0:
            # A budget of exactly n contacts pays for n (not n - 1 by rounding).
            affordable = self.budget / business.contact_cost + 1e-9
            # A contact cost so small that the budget buys more contacts than
            # any list can hold (the quotient overflows to inf) is no limit.
            if math.isfinite(affordable):
                limits.append(math.floor(affordable))
        return min(limits) if limits else None


def deciles(probability: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Each row's decile among the rows: 1 for the most likely tenth, ..., 10.

    Rows are ranked by probability, highest first, ties by ``customer_id``
    (the ranked predictions' order); rank ``r`` of ``n`` is in decile
    ``1 + floor(10 r / n)``.
    """
    order = np.lexsort((ids, -probability))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return 1 + (rank * DECILES) // max(len(order), 1)


def contact_rows(
    scored: pd.DataFrame, business: BusinessParams, targeting: TargetingParams
) -> np.ndarray:
    """Positions of the scored rows to list, in the list's order."""
    probability = scored[PROBABILITY].to_numpy(dtype=float)
    profit = business.expected_profit(probability)
    order = np.lexsort((scored[ID_COLUMN].to_numpy(), -profit))
    worth = order[profit[order] > 0]
    limit = targeting.limit(business)
    return worth if limit is None else worth[:limit]


def contact_list(
    sessions: pd.DataFrame,
    scored: pd.DataFrame,
    model: PurchaseModel,
    business: BusinessParams,
    targeting: TargetingParams,
) -> pd.DataFrame:
    """The contact list of validated ``sessions`` and their ``scored`` rows.

    Args:
        sessions: Validated sessions, in the order ``scored`` was scored.
        scored: Their predictions (``PurchaseModel.score``), row for row; when
            they already carry ``reason_1..reason_3`` those are used.
        model: The model that scored them (for the reasons).
        business: The contact cost and the value of a conversion.
        targeting: The list's limits.
    """
    chosen = contact_rows(scored, business, targeting)
    picked = scored.iloc[chosen].reset_index(drop=True)
    probability = picked[PROBABILITY].to_numpy(dtype=float)
    if set(REASON_COLUMNS) <= set(scored.columns):
        reasons = picked[list(REASON_COLUMNS)]
    else:
        rows = sessions.iloc[chosen].reset_index(drop=True)
        reasons = explain(model, rows, probability=probability).frame()
    inputs = sessions.iloc[chosen].reset_index(drop=True)
    every = deciles(
        scored[PROBABILITY].to_numpy(dtype=float), scored[ID_COLUMN].to_numpy()
    )
    listed = pd.DataFrame(
        {
            ID_COLUMN: picked[ID_COLUMN].to_numpy(),
            PROBABILITY: probability,
            EXPECTED_PROFIT: business.expected_profit(probability),
            DECILE: every[chosen],
        }
    )
    return pd.concat(
        [listed, reasons, inputs[list(FEATURE_COLUMNS)]], axis=1
    ).reset_index(drop=True)


def contact_summary(
    contacts: pd.DataFrame, business: BusinessParams, targeting: TargetingParams
) -> dict[str, Any]:
    """What the run summary says of the list: how many, conversions, profit."""
    return {
        "listed": len(contacts),
        "expected_conversions": round(float(contacts[PROBABILITY].sum()), 4),
        "expected_profit": round(float(contacts[EXPECTED_PROFIT].sum()), 2),
        "contact_cost": round(len(contacts) * business.contact_cost, 2),
        "currency": business.currency,
        "max_contacts": targeting.max_contacts,
        "budget": targeting.budget,
    }
