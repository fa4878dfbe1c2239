"""Nodes of the feature_engineering pipeline."""

from __future__ import annotations

import logging

import pandas as pd

from customer_purchase_prediction.contract import ID_COLUMN, LABEL_COLUMN
from customer_purchase_prediction.features import SessionFeatures
from customer_purchase_prediction.params import FeatureParams

logger = logging.getLogger(__name__)


def fit_feature_transformer(
    train_sessions: pd.DataFrame, params: FeatureParams
) -> SessionFeatures:
    """Fit the feature transformer on the training part only."""
    transformer = SessionFeatures(cap_quantile=params.cap_quantile)
    transformer.fit(train_sessions)
    logger.info(
        "Feature transformer fitted on %d training rows: %d model features",
        len(train_sessions),
        len(transformer.get_feature_names_out()),
    )
    return transformer


def build_feature_table(
    feature_transformer: SessionFeatures,
    train_sessions: pd.DataFrame,
    validation_sessions: pd.DataFrame,
    test_sessions: pd.DataFrame,
) -> pd.DataFrame:
    """Engineered features of every split, readable, for inspection."""
    parts = {
        "train": train_sessions,
        "validation": validation_sessions,
        "test": test_sessions,
    }
    return pd.concat(
        [
            feature_transformer.engineer(part).assign(
                **{ID_COLUMN: part[ID_COLUMN], LABEL_COLUMN: part[LABEL_COLUMN]},
                split=name,
            )
            for name, part in parts.items()
        ],
        ignore_index=True,
    )
