"""The registry gate, as a node: both models scored on the new run's test part.

The decision is made before the reports are rendered, so the model card can say
it; the alias itself is set once the whole run has succeeded (``tracking.py``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from customer_purchase_prediction.business import BusinessParams
from customer_purchase_prediction.columns import LABEL_COLUMN
from customer_purchase_prediction.evaluation import classification_metrics
from customer_purchase_prediction.model import PurchaseModel
from customer_purchase_prediction.registry import RegistryParams, gate_decision


def test_score(
    model: PurchaseModel,
    sessions: pd.DataFrame,
    metric: str,
    business: BusinessParams,
) -> float:
    """``metric`` of ``model`` on labelled ``sessions``, at the model's threshold."""
    y = sessions[LABEL_COLUMN].to_numpy().astype("int64")
    proba = model.predict_proba(sessions)
    return classification_metrics(y, proba, model.threshold, business)[metric]


def compare_with_champion(
    purchase_model: PurchaseModel,
    champion_model: PurchaseModel | None,
    test_sessions: pd.DataFrame,
    params: RegistryParams,
    business: BusinessParams,
) -> dict[str, Any]:
    """Champion or challenger: the gate's decision, with both scores and the gap."""
    metric = str(purchase_model.metadata["selection_metric"])
    new_score = test_score(purchase_model, test_sessions, metric, business)
    if champion_model is None:
        return gate_decision(metric, new_score, None, None, params)
    artifact = champion_model.artifact or {}
    label = artifact.get("registry_version") or champion_model.version or "current"
    return gate_decision(
        metric,
        new_score,
        test_score(champion_model, test_sessions, metric, business),
        str(label),
        params,
    )
