"""Nodes of the feature_engineering pipeline: split, fit the transformer, tabulate."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from customer_purchase_prediction.columns import ID_COLUMN, LABEL_COLUMN
from customer_purchase_prediction.features import SessionFeatures
from customer_purchase_prediction.params import FeatureParams, ModellingParams
from customer_purchase_prediction.pipelines.feature_engineering.checks import (
    check_training_sessions,
    split_positions,
)
from customer_purchase_prediction.scale_out import on_partitions

logger = logging.getLogger(__name__)


@on_partitions
def check_training_data(
    sessions: pd.DataFrame,
    data_quality_report: Mapping[str, Any],
    params: ModellingParams,
) -> pd.DataFrame:
    """The sessions, once checked to be enough to split, cross-validate and fit.

    Raises:
        TrainingDataError: what the data lacks and what the parameters require.
    """
    check_training_sessions(sessions, data_quality_report, params)
    return sessions


def split_sessions(
    sessions: pd.DataFrame, params: ModellingParams
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Stratified train/validation/test split with ``modelling.split``'s fractions."""
    parts = split_positions(sessions[LABEL_COLUMN].to_numpy(), params.split)
    train, validation, test = (sessions.iloc[part] for part in parts)
    logger.info(
        "Split: %d train, %d validation, %d test",
        len(train),
        len(validation),
        len(test),
    )
    return train, validation, test


@on_partitions  # a Dask frame: partitioned.fit_feature_transformer (--env=dask)
def fit_feature_transformer(
    train_sessions: pd.DataFrame,
    params: FeatureParams,
    training_rows: Any = None,
) -> SessionFeatures:
    """Fit the feature transformer on the training part only.

    ``training_rows`` is ``None`` but in the ``dask`` environment, where it is
    every training row of the partitions (the statistics are learned over
    them); the pandas path fits on ``train_sessions`` alone.
    """
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
