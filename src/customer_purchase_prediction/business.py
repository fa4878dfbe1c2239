"""The business assumptions training, reporting and inference share (``business:``).

What one contact costs and what one conversion is worth decide the profit of
contacting a customer: ``probability x conversion_value - contact_cost``. They are
declared once, in ``conf/base/parameters_business.yml``; the profit selection
metric, the business-impact report, the contact list and realised-profit
monitoring all read them from here.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class BusinessParams(BaseModel):
    """What contacting a customer costs and what a conversion is worth."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contact_cost: float = Field(
        5.0, ge=0, description="Cost of contacting one customer (offer, message)."
    )
    conversion_value: float = Field(
        25.0,
        gt=0,
        description="Value of one purchase attributed to the campaign (margin).",
    )
    currency: str = Field("$", min_length=1, max_length=5)

    @property
    def break_even_probability(self) -> float:
        """Purchase probability above which contacting a customer pays off."""
        return self.contact_cost / self.conversion_value

    def expected_profit(self, probability: np.ndarray) -> np.ndarray:
        """Expected profit of contacting each customer with these probabilities."""
        return np.asarray(probability) * self.conversion_value - self.contact_cost

    def realised_profit(self, contacted: np.ndarray, purchased: np.ndarray) -> float:
        """Profit of contacting ``contacted`` customers, given who bought (0/1)."""
        contacted = np.asarray(contacted, dtype=bool)
        buyers = int(np.asarray(purchased)[contacted].sum())
        return buyers * self.conversion_value - int(contacted.sum()) * self.contact_cost
